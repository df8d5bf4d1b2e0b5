package wire_test

import (
	"encoding/binary"
	"encoding/hex"
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// raw builds D-Bus bytes by hand, independently of Encoder, for tests that need exact or
// malformed input. Alignment is relative to the start of b.
type raw struct {
	b     []byte
	order interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
}

// newRaw returns an empty builder for byte order o.
func newRaw(o wire.ByteOrder) *raw {
	if o == wire.BigEndian {
		return &raw{order: binary.BigEndian}
	}
	return &raw{order: binary.LittleEndian}
}

// pad appends zero bytes up to a multiple of n.
func (r *raw) pad(n int) *raw {
	for len(r.b)%n != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

// bytes appends bs as they are.
func (r *raw) bytes(bs ...byte) *raw {
	r.b = append(r.b, bs...)
	return r
}

// u32 appends a u, aligned to 4.
func (r *raw) u32(v uint32) *raw {
	r.pad(4)
	r.b = r.order.AppendUint32(r.b, v)
	return r
}

// str appends an s or o: length, bytes, NUL.
func (r *raw) str(s string) *raw {
	r.u32(uint32(len(s)))
	r.b = append(append(r.b, s...), 0)
	return r
}

// sig appends a g or a variant's signature: length byte, bytes, NUL.
func (r *raw) sig(s string) *raw {
	r.b = append(append(append(r.b, byte(len(s))), s...), 0)
	return r
}

// field is a header field for rawMessage: its code, its variant signature and a function
// that appends its value.
type field struct {
	code byte
	sig  string
	val  func(*raw)
}

// strField is a header field holding the string s.
func strField(code byte, s string) field {
	return field{code, "s", func(r *raw) { r.str(s) }}
}

// pathField is a PATH header field.
func pathField(p string) field {
	return field{wire.FieldPath, "o", func(r *raw) { r.str(p) }}
}

// u32Field is a header field holding the uint32 v.
func u32Field(code byte, v uint32) field {
	return field{code, "u", func(r *raw) { r.u32(v) }}
}

// sigField is a SIGNATURE header field.
func sigField(s string) field {
	return field{wire.FieldSignature, "g", func(r *raw) { r.sig(s) }}
}

// rawMessage builds a message by hand: fixed header, the given header fields, padding and
// body.
func rawMessage(o wire.ByteOrder, typ wire.MessageType, serial uint32, fields []field, body []byte) []byte {
	r := newRaw(o)
	r.bytes(byte(o), byte(typ), 0, wire.ProtocolVersion)
	r.u32(uint32(len(body)))
	r.u32(serial)
	lenAt := len(r.b)
	r.u32(0)
	for _, f := range fields {
		r.pad(8)
		r.bytes(f.code)
		r.sig(f.sig)
		f.val(r)
	}
	r.order.PutUint32(r.b[lenAt:], uint32(len(r.b)-lenAt-4))
	r.pad(8)
	return append(r.b, body...)
}

// unhex decodes a hex string, ignoring spaces; it panics on bad input, as tables are
// written by hand.
func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// orders are both byte orders, for tests that run in each.
var orders = []wire.ByteOrder{wire.LittleEndian, wire.BigEndian}
