package kdbusimpl

import (
	"fmt"
	"slices"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// kdbus.v1.Variant travels as v: its signature, then its value, re-encoded from Data.

// EncodeVariant appends v as a variant. A nil or empty Variant (no signature) is sent as an
// empty ay, as a null google.protobuf.Value is. depth is the depth of the variant.
func EncodeVariant(e *wire.Encoder, v *kdbusv1.Variant, depth int) {
	if !depthOK(e, depth, "kdbus.v1.Variant") {
		return
	}
	sig := v.GetSig()
	if sig == "" {
		if !depthOK(e, depth+1, "kdbus.v1.Variant") {
			return
		}
		e.Variant("ay")
		e.ByteArray(nil)
		return
	}
	if err := checkVariantSig(sig); err != nil {
		e.SetErr(err)
		return
	}
	e.Variant(wire.Signature(sig))
	d := wire.NewDecoder(v.GetData(), wire.LittleEndian)
	fds := v.GetFds()
	wire.CopyValue(d, e, wire.Signature(sig), depth, func(d *wire.Decoder, e *wire.Encoder) {
		i := d.UnixFD()
		if d.Err() != nil {
			return
		}
		if int(i) >= len(fds) {
			d.SetErr(fmt.Errorf("h value %d refers past the Variant's %d file descriptors", i, len(fds)))
			return
		}
		e.FD(int(fds[i]))
	})
	if err := d.Done(); err != nil {
		e.SetErr(fmt.Errorf("kdbus.v1.Variant of type %q: its data is not a value of that type (build variants with kdbusv1.NewVariant): %w", sig, err))
	}
}

// DecodeVariant reads a variant into a Variant, checking its value as it copies it. The
// Variant gets duplicates of the descriptors its h values refer to, which the receiver owns
// (Variant.Close). depth is the depth of the variant.
func DecodeVariant(d *wire.Decoder, depth int) *kdbusv1.Variant {
	v := new(kdbusv1.Variant)
	decodeVariantInto(d, v, depth)
	return v
}

func decodeVariantInto(d *wire.Decoder, v *kdbusv1.Variant, depth int) {
	if !decodeDepthOK(d, depth, "kdbus.v1.Variant") {
		return
	}
	sig := d.Variant()
	if d.Err() != nil {
		return
	}
	if err := checkVariantSig(string(sig)); err != nil {
		d.SetErr(err)
		return
	}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	var fds []int32
	wire.CopyValue(d, e, sig, depth, func(d *wire.Decoder, e *wire.Encoder) {
		fd := d.FD()
		if d.Err() != nil {
			return
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			d.SetErr(fmt.Errorf("keeping a file descriptor that came with the message: %w", err))
			return
		}
		e.UnixFD(uint32(len(fds)))
		fds = append(fds, int32(dup))
	})
	if err := d.Err(); err == nil {
		if err := e.Err(); err != nil {
			d.SetErr(fmt.Errorf("kdbus.v1.Variant of type %q: %w", sig, err))
		}
	}
	if d.Err() != nil {
		for _, fd := range fds {
			unix.Close(int(fd))
		}
		return
	}
	v.Sig, v.Data, v.Fds = string(sig), slices.Clip(e.Bytes()), fds
}

func checkVariantSig(sig string) error {
	if err := wire.ValidateSingle(sig); err != nil {
		return fmt.Errorf("kdbus.v1.Variant: signature %q: %w", sig, err)
	}
	return nil
}

// VariantCodec is the codec of kdbus.v1.Variant as a whole request or response: one argument
// of type v.
var VariantCodec = Codec[kdbusv1.Variant]{
	Sig:    "v",
	Encode: func(e *wire.Encoder, v *kdbusv1.Variant) { EncodeVariant(e, v, 1) },
	Decode: func(d *wire.Decoder, v *kdbusv1.Variant) { decodeVariantInto(d, v, 1) },
}

// Integers that travel as narrower D-Bus types than their proto field's (the field option
// dbus_type): the value must fit when encoded.

// EncodeByte appends v as y. A value above 255 is an encoding error naming field.
func EncodeByte(e *wire.Encoder, v uint32, field string) {
	if v > 0xff {
		e.SetErr(fmt.Errorf("field %s: value %d does not fit its D-Bus type y (a byte, 0 to 255)", field, v))
		return
	}
	e.Byte(byte(v))
}

// EncodeUint16 appends v as q. A value above 65535 is an encoding error naming field.
func EncodeUint16(e *wire.Encoder, v uint32, field string) {
	if v > 0xffff {
		e.SetErr(fmt.Errorf("field %s: value %d does not fit its D-Bus type q (0 to 65535)", field, v))
		return
	}
	e.Uint16(uint16(v))
}

// EncodeInt16 appends v as n. A value outside -32768..32767 is an encoding error naming field.
func EncodeInt16(e *wire.Encoder, v int32, field string) {
	if v < -0x8000 || v > 0x7fff {
		e.SetErr(fmt.Errorf("field %s: value %d does not fit its D-Bus type n (-32768 to 32767)", field, v))
		return
	}
	e.Int16(int16(v))
}
