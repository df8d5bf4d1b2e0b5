package kdbusimpl

import (
	"fmt"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// kdbus.v1.ObjectRef travels as (so), the bus name and path of an object a peer serves;
// kdbus.v1.UnixFD travels as h, a descriptor the bus passes along.

// EncodeObjectRef appends ref as (so). The path must be a valid object path.
func EncodeObjectRef(e *wire.Encoder, ref *kdbusv1.ObjectRef) {
	e.BeginStruct()
	encodeRefFields(e, ref)
}

// DecodeObjectRef reads an ObjectRef encoded by EncodeObjectRef.
func DecodeObjectRef(d *wire.Decoder) *kdbusv1.ObjectRef {
	d.BeginStruct()
	ref := new(kdbusv1.ObjectRef)
	decodeRefFields(d, ref)
	return ref
}

// encodeRefFields appends the bus name and path of ref: s and o.
func encodeRefFields(e *wire.Encoder, ref *kdbusv1.ObjectRef) {
	e.String(ref.GetBusName())
	if err := wire.ValidateObjectPath(ref.GetPath()); err != nil {
		e.SetErr(fmt.Errorf("kdbus.v1.ObjectRef %q: %w; take references from Conn.Export", ref.GetPath(), err))
		return
	}
	e.ObjectPath(wire.ObjectPath(ref.GetPath()))
}

func decodeRefFields(d *wire.Decoder, ref *kdbusv1.ObjectRef) {
	ref.BusName = d.String()
	ref.Path = string(d.ObjectPath())
}

// EncodeUnixFD appends fd.Fd as h: the descriptor travels with the message. The sender keeps
// its descriptor; it must stay open until the message is sent.
func EncodeUnixFD(e *wire.Encoder, fd *kdbusv1.UnixFD) {
	e.FD(int(fd.GetFd()))
}

// DecodeUnixFD reads an h value into a UnixFD holding a descriptor of the receiver's own, a
// duplicate of the one that came with the message, which the receiver must close (FileFromFD).
func DecodeUnixFD(d *wire.Decoder) *kdbusv1.UnixFD {
	fd := d.FD()
	if fd < 0 {
		return new(kdbusv1.UnixFD)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		d.SetErr(fmt.Errorf("keeping a file descriptor that came with the message: %w", err))
		return new(kdbusv1.UnixFD)
	}
	return &kdbusv1.UnixFD{Fd: int32(dup)}
}

// Codecs of ObjectRef and UnixFD as a whole request or response.
var (
	ObjectRefCodec = Codec[kdbusv1.ObjectRef]{Sig: "so", Encode: encodeRefFields, Decode: decodeRefFields}
	UnixFDCodec    = Codec[kdbusv1.UnixFD]{
		Sig:    "h",
		Encode: func(e *wire.Encoder, fd *kdbusv1.UnixFD) { EncodeUnixFD(e, fd) },
		Decode: func(d *wire.Decoder, fd *kdbusv1.UnixFD) { fd.Fd = DecodeUnixFD(d).Fd },
	}
)
