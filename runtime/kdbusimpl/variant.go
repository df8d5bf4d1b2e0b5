package kdbusimpl

import (
	"fmt"
	"slices"
	"strings"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
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
	if err := checkNested(v); err != nil {
		e.SetErr(err)
		return
	}
	e.Variant(wire.Signature(sig))
	d := wire.NewDecoder(v.GetData(), wire.LittleEndian)
	wire.CopyValue(d, e, wire.Signature(sig), depth)
	if err := d.Done(); err != nil {
		e.SetErr(fmt.Errorf("kdbus.v1.Variant of type %q: its data is not a value of that type (build variants with kdbusv1.NewVariant): %w", sig, err))
	}
}

// DecodeVariant reads a variant into a Variant, checking its value as it copies it. A variant
// that holds file descriptors is an error. depth is the depth of the variant.
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
	wire.CopyValue(d, e, sig, depth)
	if d.Err() != nil {
		return
	}
	if err := e.Err(); err != nil {
		d.SetErr(fmt.Errorf("kdbus.v1.Variant of type %q: %w", sig, err))
		return
	}
	v.Sig, v.Data = string(sig), slices.Clip(e.Bytes())
	if err := checkNested(v); err != nil {
		d.SetErr(err)
	}
}

// checkNested refuses file descriptors in the variants a variant holds, whose signatures
// travel inside the value.
func checkNested(v *kdbusv1.Variant) error {
	if strings.IndexByte(v.GetSig(), 'v') < 0 {
		return nil
	}
	_, err := v.Decode()
	return err
}

func checkVariantSig(sig string) error {
	if err := wire.ValidateSingle(sig); err != nil {
		return fmt.Errorf("kdbus.v1.Variant: signature %q: %w", sig, err)
	}
	if strings.IndexByte(sig, 'h') >= 0 {
		return fmt.Errorf("kdbus.v1.Variant: a variant of type %q holds a file descriptor, which a kdbus.v1.Variant cannot carry; use a kdbus.v1.UnixFD field", sig)
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
