package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Encoder appends D-Bus values to a byte slice. The zero value encodes little-endian into a
// nil slice; Reset chooses the buffer and byte order. Methods never fail individually: the
// first error is kept and reported by Err, and later calls do nothing.
//
// Alignment is relative to where encoding starts, which must be the start of a message body
// (or of any 8-aligned position in a message).
type Encoder struct {
	buf  []byte
	base int // alignment origin: len(buf) at Reset
	big  bool
	err  error
	fds  []int // descriptors the encoded h values refer to, in index order
	// payloads marks the indexes (below 64) of descriptors that are sealed memfd payloads.
	payloads uint64
	done     []func()
}

// NewEncoder returns an encoder that appends to buf in byte order o. Alignment is relative to
// the end of buf's existing bytes, where the encoded data starts.
func NewEncoder(buf []byte, o ByteOrder) *Encoder {
	e := &Encoder{}
	e.Reset(buf, o)
	return e
}

// Reset makes e append to buf in byte order o, aligning relative to len(buf), and clears any
// error.
func (e *Encoder) Reset(buf []byte, o ByteOrder) {
	e.buf, e.base, e.big, e.err = buf, len(buf), o == BigEndian, nil
	e.fds, e.done, e.payloads = e.fds[:0], e.done[:0], 0
}

// FD encodes an h value for descriptor fd: it adds fd to the descriptors that travel with the
// message (FDs) and writes its index among them. A descriptor already among them is not added
// again: its h values share one index, and the message one slot of the bus's per-message
// limit. The encoder does not own fd. Bodies that number their descriptors themselves use
// UnixFD instead; the two do not mix in one message.
func (e *Encoder) FD(fd int) {
	if fd < 0 {
		e.SetErr(fmt.Errorf("dbus: encoding h: %d is not a file descriptor", fd))
		return
	}
	for i, have := range e.fds {
		if have == fd {
			e.Uint32(uint32(i))
			return
		}
	}
	if len(e.fds) >= MaxUnixFDs {
		e.SetErr(fmt.Errorf("dbus: encoding h: a message carries at most %d descriptors", MaxUnixFDs))
		return
	}
	e.Uint32(uint32(len(e.fds)))
	e.fds = append(e.fds, fd)
}

// PayloadFD is FD for a descriptor that is a sealed memfd holding a payload. Transports
// that can have the bus check payloads say which descriptors are (PayloadMask).
func (e *Encoder) PayloadFD(fd int) {
	e.FD(fd)
	if i := slices.Index(e.fds, fd); i >= 0 && i < 64 {
		e.payloads |= 1 << i
	}
}

// PayloadMask returns a bit mask of the descriptors encoded with PayloadFD: bit i set says
// FDs()[i] is a sealed memfd payload. Descriptors past the 64th are not marked.
func (e *Encoder) PayloadMask() uint64 { return e.payloads }

// FDs returns the descriptors the h values encoded with FD refer to, in index order: the
// message's descriptor list.
func (e *Encoder) FDs() []int { return e.fds }

// AfterSend registers f to run once the encoded message is sent (or abandoned), for values
// that hold resources only while the message is on its way, such as a descriptor created to
// carry a payload. The sender calls Sent.
func (e *Encoder) AfterSend(f func()) { e.done = append(e.done, f) }

// Sent runs the functions registered with AfterSend, once.
func (e *Encoder) Sent() {
	for _, f := range e.done {
		f()
	}
	e.done = e.done[:0]
}

// Bytes returns the buffer: the bytes it held at Reset followed by the encoded ones.
func (e *Encoder) Bytes() []byte { return e.buf }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.buf) - e.base }

// Order returns the byte order in use.
func (e *Encoder) Order() ByteOrder {
	if e.big {
		return BigEndian
	}
	return LittleEndian
}

// Err returns the first error met, or nil.
func (e *Encoder) Err() error { return e.err }

// SetErr records err as the encoder's error unless one is already kept. Generated code uses it
// to report values that cannot be encoded.
func (e *Encoder) SetErr(err error) {
	if e.err == nil {
		e.err = err
	}
}

// Pad appends zero bytes up to the next multiple of align (1, 2, 4 or 8).
func (e *Encoder) Pad(align int) {
	if e.err != nil {
		return
	}
	n := len(e.buf) - e.base
	p := (align - n&(align-1)) & (align - 1)
	for ; p > 0; p-- {
		e.buf = append(e.buf, 0)
	}
}

// Byte appends a y.
func (e *Encoder) Byte(v byte) {
	if e.err != nil {
		return
	}
	e.buf = append(e.buf, v)
}

// Bool appends a b.
func (e *Encoder) Bool(v bool) {
	var x uint32
	if v {
		x = 1
	}
	e.Uint32(x)
}

// Int16 appends an n.
func (e *Encoder) Int16(v int16) { e.Uint16(uint16(v)) }

// Uint16 appends a q.
func (e *Encoder) Uint16(v uint16) {
	if e.err != nil {
		return
	}
	if (len(e.buf)-e.base)&1 != 0 {
		e.buf = append(e.buf, 0)
	}
	if e.big {
		e.buf = binary.BigEndian.AppendUint16(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint16(e.buf, v)
	}
}

// Int32 appends an i.
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint32 appends a u.
func (e *Encoder) Uint32(v uint32) {
	if e.err != nil {
		return
	}
	e.Pad(4)
	if e.big {
		e.buf = binary.BigEndian.AppendUint32(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, v)
	}
}

// Int64 appends an x.
func (e *Encoder) Int64(v int64) { e.Uint64(uint64(v)) }

// Uint64 appends a t.
func (e *Encoder) Uint64(v uint64) {
	if e.err != nil {
		return
	}
	e.Pad(8)
	if e.big {
		e.buf = binary.BigEndian.AppendUint64(e.buf, v)
	} else {
		e.buf = binary.LittleEndian.AppendUint64(e.buf, v)
	}
}

// Double appends a d.
func (e *Encoder) Double(v float64) { e.Uint64(math.Float64bits(v)) }

// UnixFD appends an h: the index of a file descriptor in the message's descriptor list.
func (e *Encoder) UnixFD(index uint32) { e.Uint32(index) }

// String appends an s. A string that is not valid UTF-8 or holds a NUL byte sets the error.
func (e *Encoder) String(v string) {
	if e.err != nil {
		return
	}
	if !validString(v) {
		e.SetErr(fmt.Errorf("cannot encode string %.40q: D-Bus strings must be valid UTF-8 without NUL bytes", v))
		return
	}
	e.Uint32(uint32(len(v)))
	e.grow(len(v) + 1)
	e.buf = append(e.buf, v...)
	e.buf = append(e.buf, 0)
}

// ObjectPath appends an o. An invalid path sets the error.
func (e *Encoder) ObjectPath(v ObjectPath) {
	if e.err != nil {
		return
	}
	if err := ValidateObjectPath(string(v)); err != nil {
		e.SetErr(err)
		return
	}
	e.Uint32(uint32(len(v)))
	e.buf = append(e.buf, v...)
	e.buf = append(e.buf, 0)
}

// Signature appends a g. An invalid signature sets the error.
func (e *Encoder) Signature(v Signature) {
	if e.err != nil {
		return
	}
	if err := ValidateSignature(string(v)); err != nil {
		e.SetErr(err)
		return
	}
	e.buf = append(e.buf, byte(len(v)))
	e.buf = append(e.buf, v...)
	e.buf = append(e.buf, 0)
}

// ByteArray appends an ay in one copy.
func (e *Encoder) ByteArray(v []byte) {
	if e.err != nil {
		return
	}
	if len(v) > MaxArraySize {
		e.SetErr(fmt.Errorf("cannot encode a byte array of %d bytes: D-Bus arrays hold at most %d bytes", len(v), MaxArraySize))
		return
	}
	e.Uint32(uint32(len(v)))
	e.grow(len(v))
	e.buf = append(e.buf, v...)
}

// ArrayMark remembers where an array started; pass it to EndArray.
type ArrayMark struct {
	lenAt, start int
}

// BeginArray starts an array whose elements have the given alignment (see [Alignment]): it
// writes a length placeholder and the padding before the first element, which the
// specification requires even when the array is empty.
func (e *Encoder) BeginArray(elemAlign int) ArrayMark {
	if e.err != nil {
		return ArrayMark{}
	}
	e.Pad(4)
	at := len(e.buf)
	e.buf = append(e.buf, 0, 0, 0, 0)
	e.Pad(elemAlign)
	return ArrayMark{lenAt: at, start: len(e.buf)}
}

// EndArray writes the length of the array started at m.
func (e *Encoder) EndArray(m ArrayMark) {
	if e.err != nil {
		return
	}
	n := len(e.buf) - m.start
	if n > MaxArraySize {
		e.SetErr(fmt.Errorf("cannot encode an array of %d bytes: D-Bus arrays hold at most %d bytes", n, MaxArraySize))
		return
	}
	if m.lenAt+4 > len(e.buf) {
		e.SetErr(fmt.Errorf("EndArray called with a mark from another encoder or buffer"))
		return
	}
	if e.big {
		binary.BigEndian.PutUint32(e.buf[m.lenAt:], uint32(n))
	} else {
		binary.LittleEndian.PutUint32(e.buf[m.lenAt:], uint32(n))
	}
}

// BeginStruct starts a struct or dict entry: it pads to 8.
func (e *Encoder) BeginStruct() { e.Pad(8) }

// Variant appends the signature of a variant's value; the value follows, encoded by the
// caller. sig must be exactly one complete type.
func (e *Encoder) Variant(sig Signature) {
	if e.err != nil {
		return
	}
	if err := ValidateSingle(string(sig)); err != nil {
		e.SetErr(fmt.Errorf("cannot encode variant: %w", err))
		return
	}
	e.buf = append(e.buf, byte(len(sig)))
	e.buf = append(e.buf, sig...)
	e.buf = append(e.buf, 0)
}

// validString reports whether s is valid UTF-8 without NUL bytes, as D-Bus strings must be.
func validString(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}
