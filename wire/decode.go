package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"
)

// ErrTruncated is wrapped by decoding errors caused by input that ends too early.
var ErrTruncated = errors.New("truncated D-Bus data")

// DecodeError describes bytes that are not a valid encoding of the expected type.
type DecodeError struct {
	Offset int // byte offset in the decoded buffer
	Reason string
	Err    error // an underlying error such as ErrTruncated, or nil
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("invalid D-Bus data at offset %d: %s", e.Offset, e.Reason)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decoder reads D-Bus values in place from a byte slice. Methods never fail individually: the
// first error is kept and reported by Err, and after it every read returns a zero value, so
// callers check Err once after a run of reads. Values that refer to the input
// ([Decoder.ByteArray], [Decoder.StringBytes]) alias it; the input must not change while they
// are in use.
type Decoder struct {
	buf  []byte
	off  int
	big  bool
	err  error
	fds  []int
	held []io.Closer
}

// NewDecoder returns a decoder over buf, a message body (or other data starting at an 8-byte
// aligned position of a message) in byte order o.
func NewDecoder(buf []byte, o ByteOrder) *Decoder {
	d := &Decoder{}
	d.Reset(buf, o)
	return d
}

// Reset makes d read buf from its start in byte order o and clears any error.
func (d *Decoder) Reset(buf []byte, o ByteOrder) {
	*d = Decoder{buf: buf, big: o == BigEndian}
	if !o.Valid() {
		d.err = &DecodeError{Reason: fmt.Sprintf("unknown byte order flag %q (want 'l' or 'B')", byte(o))}
	}
}

// SetFDs gives the decoder the message's descriptors, which h values index (see FD).
func (d *Decoder) SetFDs(fds []int) { d.fds = fds }

// FD reads an h value and returns the descriptor it refers to among those given to SetFDs;
// an index beyond them is a decode error (and FD returns -1). The descriptor stays owned by
// whoever owns the message's descriptors.
func (d *Decoder) FD() int {
	at := d.off
	i := d.Uint32()
	if d.err != nil {
		return -1
	}
	if int(i) >= len(d.fds) {
		d.off = at
		d.fail(nil, "h value %d refers past the message's %d file descriptors", i, len(d.fds))
		return -1
	}
	return d.fds[i]
}

// Hold keeps c for the decoder's caller to close once it is done with the decoded values: a
// resource, such as a mapping, that a decoded value refers to.
func (d *Decoder) Hold(c io.Closer) { d.held = append(d.held, c) }

// Held returns what Hold kept since Reset.
func (d *Decoder) Held() []io.Closer { return d.held }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Order returns the byte order being read.
func (d *Decoder) Order() ByteOrder {
	if d.big {
		return BigEndian
	}
	return LittleEndian
}

// Offset returns the position of the next read.
func (d *Decoder) Offset() int { return d.off }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Done sets an error if any bytes remain unread (a body longer than its signature says) and
// returns the decoder's error.
func (d *Decoder) Done() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail(nil, "%d bytes left after the last value: the data is longer than its signature", len(d.buf)-d.off)
	}
	return d.err
}

// SetErr records err as the decoder's error unless one is already kept. Generated code uses
// it to reject values that decode but break a rule of their own.
func (d *Decoder) SetErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *Decoder) fail(cause error, format string, args ...any) {
	if d.err == nil {
		d.err = &DecodeError{Offset: d.off, Reason: fmt.Sprintf(format, args...), Err: cause}
	}
}

func (d *Decoder) truncated(need int, what string) {
	d.fail(ErrTruncated, "%s needs %d bytes, %d left", what, need, len(d.buf)-d.off)
}

// Pad skips the padding up to the next multiple of align, which must be zero bytes.
func (d *Decoder) Pad(align int) {
	if d.err != nil {
		return
	}
	p := (align - d.off&(align-1)) & (align - 1)
	if p == 0 {
		return
	}
	if d.off+p > len(d.buf) {
		d.truncated(p, "padding")
		return
	}
	for _, c := range d.buf[d.off : d.off+p] {
		if c != 0 {
			d.fail(nil, "padding byte is %#x, padding must be zero", c)
			return
		}
	}
	d.off += p
}

// Byte reads a y.
func (d *Decoder) Byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.truncated(1, "byte")
		return 0
	}
	v := d.buf[d.off]
	d.off++
	return v
}

// Bool reads a b, which must be 0 or 1.
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.off -= 4
		d.fail(nil, "boolean is %d, must be 0 or 1", v)
		return false
	}
	return v == 1
}

// Int16 reads an n.
func (d *Decoder) Int16() int16 { return int16(d.Uint16()) }

// Uint16 reads a q.
func (d *Decoder) Uint16() uint16 {
	d.Pad(2)
	if d.err != nil {
		return 0
	}
	if d.off+2 > len(d.buf) {
		d.truncated(2, "uint16")
		return 0
	}
	b := d.buf[d.off : d.off+2]
	d.off += 2
	if d.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// Int32 reads an i.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint32 reads a u.
func (d *Decoder) Uint32() uint32 {
	d.Pad(4)
	if d.err != nil {
		return 0
	}
	if d.off+4 > len(d.buf) {
		d.truncated(4, "uint32")
		return 0
	}
	b := d.buf[d.off : d.off+4]
	d.off += 4
	if d.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// Int64 reads an x.
func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

// Uint64 reads a t.
func (d *Decoder) Uint64() uint64 {
	d.Pad(8)
	if d.err != nil {
		return 0
	}
	if d.off+8 > len(d.buf) {
		d.truncated(8, "uint64")
		return 0
	}
	b := d.buf[d.off : d.off+8]
	d.off += 8
	if d.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// Double reads a d.
func (d *Decoder) Double() float64 { return math.Float64frombits(d.Uint64()) }

// UnixFD reads an h: an index into the message's file descriptor list. The caller checks it
// against the number of descriptors the message carries.
func (d *Decoder) UnixFD() uint32 { return d.Uint32() }

// StringBytes reads an s in place: the result aliases the input.
func (d *Decoder) StringBytes() []byte {
	start := d.off
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if uint64(d.off)+uint64(n)+1 > uint64(len(d.buf)) {
		d.off = start
		d.truncated(int(n)+1, "string")
		return nil
	}
	s := d.buf[d.off : d.off+int(n)]
	if d.buf[d.off+int(n)] != 0 {
		d.fail(nil, "string of %d bytes is not followed by a NUL terminator", n)
		return nil
	}
	if bytes.IndexByte(s, 0) >= 0 {
		d.fail(nil, "string holds a NUL byte")
		return nil
	}
	if !utf8.Valid(s) {
		d.fail(nil, "string is not valid UTF-8")
		return nil
	}
	d.off += int(n) + 1
	return s
}

// String reads an s.
func (d *Decoder) String() string { return string(d.StringBytes()) }

// ObjectPath reads an o and checks it.
func (d *Decoder) ObjectPath() ObjectPath {
	b := d.objectPathBytes()
	if d.err != nil {
		return ""
	}
	return ObjectPath(b)
}

// objectPathBytes reads an o in place and checks it.
func (d *Decoder) objectPathBytes() []byte {
	start := d.off
	b := d.StringBytes()
	if d.err != nil {
		return nil
	}
	if err := checkInPlace(b, ValidateObjectPath); err != nil {
		d.off = start
		d.fail(err, "%v", err)
		return nil
	}
	return b
}

// checkInPlace runs check on b without copying it. check must not keep its argument unless
// it fails; then it runs again on a copy, so that the error it returns does not alias b.
func checkInPlace(b []byte, check func(string) error) error {
	if check(unsafe.String(unsafe.SliceData(b), len(b))) == nil {
		return nil
	}
	return check(string(b))
}

// signatureBytes reads the bytes of a g without checking them.
func (d *Decoder) signatureBytes() []byte {
	if d.err != nil {
		return nil
	}
	if d.off >= len(d.buf) {
		d.truncated(1, "signature length")
		return nil
	}
	n := int(d.buf[d.off])
	if d.off+1+n+1 > len(d.buf) {
		d.truncated(n+2, "signature")
		return nil
	}
	s := d.buf[d.off+1 : d.off+1+n]
	if d.buf[d.off+1+n] != 0 {
		d.fail(nil, "signature is not followed by a NUL terminator")
		return nil
	}
	d.off += n + 2
	return s
}

// Signature reads a g and checks it.
func (d *Decoder) Signature() Signature {
	b := d.checkedSignatureBytes()
	if d.err != nil {
		return ""
	}
	return Signature(b)
}

// checkedSignatureBytes reads a g in place and checks it.
func (d *Decoder) checkedSignatureBytes() []byte {
	start := d.off
	b := d.signatureBytes()
	if d.err != nil {
		return nil
	}
	if err := checkInPlace(b, ValidateSignature); err != nil {
		d.off = start
		d.fail(err, "%v", err)
		return nil
	}
	return b
}

// ByteArray reads an ay in place: the result aliases the input and costs no allocation.
func (d *Decoder) ByteArray() []byte {
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if n > MaxArraySize {
		d.off -= 4
		d.fail(nil, "array length %d exceeds the D-Bus limit of %d bytes", n, MaxArraySize)
		return nil
	}
	if d.off+int(n) > len(d.buf) {
		d.off -= 4
		d.truncated(int(n)+4, "byte array")
		return nil
	}
	b := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

// BeginArray reads an array's length and the padding before its first element, and returns
// the offset where the array ends. Read elements while [Decoder.More] reports true.
func (d *Decoder) BeginArray(elemAlign int) (end int) {
	n := d.Uint32()
	if d.err != nil {
		return d.off
	}
	if n > MaxArraySize {
		d.off -= 4
		d.fail(nil, "array length %d exceeds the D-Bus limit of %d bytes", n, MaxArraySize)
		return d.off
	}
	d.Pad(elemAlign)
	if d.err != nil {
		return d.off
	}
	if d.off+int(n) > len(d.buf) {
		d.truncated(int(n), "array")
		return d.off
	}
	return d.off + int(n)
}

// More reports whether the array ending at end has more elements. Once it reports false the
// array is finished; if the elements overran the array's declared length, More sets an error.
func (d *Decoder) More(end int) bool {
	if d.err != nil {
		return false
	}
	if d.off < end {
		return true
	}
	if d.off > end {
		d.fail(nil, "array elements run %d bytes past the array's declared length", d.off-end)
	}
	return false
}

// BeginStruct starts a struct or dict entry: it skips the padding to 8.
func (d *Decoder) BeginStruct() { d.Pad(8) }

// Variant reads the signature of a variant's value, which the caller then decodes. The
// signature must be one complete type. Nesting through variants is unbounded at this level:
// callers that follow variants recursively bound the depth themselves, as [Unmarshal] and
// [ValidateBody] do.
func (d *Decoder) Variant() Signature {
	start := d.off
	b := d.signatureBytes()
	if d.err != nil {
		return ""
	}
	s := string(b)
	if err := ValidateSingle(s); err != nil {
		d.off = start
		d.fail(err, "variant signature: %v", err)
		return ""
	}
	return Signature(s)
}

// Skip reads past one value of the complete type sig without building it. Arrays are passed
// over in one step, whatever they hold, so their contents are not checked; variants are
// followed, at most MaxTotalDepth deep. sig must be valid (from a checked signature).
func (d *Decoder) Skip(sig string) { d.skip(sig, 1) }

func (d *Decoder) skip(t string, depth int) {
	if d.err != nil {
		return
	}
	if t == "" {
		d.fail(nil, "no type to skip")
		return
	}
	switch t[0] {
	case TypeByte:
		d.Byte()
	case TypeInt16, TypeUint16:
		d.Uint16()
	case TypeBoolean, TypeInt32, TypeUint32, TypeUnixFD:
		d.Uint32()
	case TypeInt64, TypeUint64, TypeDouble:
		d.Uint64()
	case TypeString, TypeObjectPath:
		d.StringBytes()
	case TypeSignature:
		d.Signature()
	case TypeArray:
		if len(t) < 2 {
			d.fail(nil, "array type %q has no element type", t)
			return
		}
		end := d.BeginArray(Alignment(t[1]))
		if d.err == nil {
			d.off = end
		}
	case '(', '{':
		if depth > MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		d.BeginStruct()
		for fields := t[1 : len(t)-1]; fields != "" && d.err == nil; {
			n := TypeLen(fields)
			d.skip(fields[:n], depth+1)
			fields = fields[n:]
		}
	case TypeVariant:
		if depth > MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		if sig := d.Variant(); d.err == nil {
			d.skip(string(sig), depth+1)
		}
	default:
		d.fail(nil, "unknown type code %q in signature", t[0])
	}
}

// TypeLen returns the length of the complete type at the start of sig, a valid signature.
func TypeLen(sig string) int {
	depth := 0
	for i := 0; i < len(sig); i++ {
		switch sig[i] {
		case TypeArray:
			continue
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		}
		if depth == 0 {
			return i + 1
		}
	}
	return len(sig)
}
