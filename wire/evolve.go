package wire

import (
	"fmt"
	"sync"
)

// Schema evolution: a receiver whose codec wants values of one signature can read values that
// a peer built from an older or newer version of the same message, whose signature differs
// only by members appended at the end of the top level or of structs (at any depth, in array
// elements and dict values too). Such signatures are evolutions of each other; an Evolution
// rewrites a body of the one as a body of the other:
//
//   - members present in both are kept, converted recursively where they are themselves
//     evolutions;
//   - trailing members the receiver does not know are skipped;
//   - trailing members the sender did not send get their zero encoding: 0 for numbers and
//     booleans, "" for strings and signatures, "/" for object paths, an empty array, a
//     struct of zero members, and for a variant an empty byte array <ay []> (the null of
//     google.protobuf.Value; an unset oneof is ("", <ay []>), which its decoders accept since
//     the empty name means unset whatever the variant holds).
//
// A file descriptor (h) cannot be made up, so a missing trailing h outside an array makes two
// signatures unrelated. Dict keys must be identical. Variants are kept as they are: their
// contents carry their own signature, which the evolution does not know the wanted form of.
// A kept h keeps its index, so the adapted body refers to the message's descriptors as the
// original did.

// Evolution is a plan that rewrites values of signature Sent as values of signature Want.
// Make one with [Evolve]; it is safe for concurrent use.
type Evolution struct {
	// Sent is the signature of the values read, Want of the values written.
	Sent, Want Signature
	top        evoNode
}

// evoNode rewrites one complete type (or the top level, as a struct without padding).
type evoNode struct {
	kind    evoKind
	want    string     // the wanted type (evoSame: the type of both sides)
	members []*evoNode // evoStruct: the members both sides have
	skip    []string   // evoStruct: the sender's trailing members, skipped
	zero    []string   // evoStruct: the receiver's trailing members, zero-encoded
	elem    *evoNode   // evoArray: the elements
}

type evoKind uint8

const (
	evoSame   evoKind = iota // the same type on both sides: the value is copied
	evoStruct                // a struct, dict entry or the top level, member by member
	evoArray                 // an array (or dict) whose elements are rewritten
)

// EvolutionError says why one signature is not an evolution of another.
type EvolutionError struct {
	Sent, Want Signature
	// Path locates the first difference: "argument 2", "argument 2, member 1, element", …
	Path   string
	Reason string
}

func (e *EvolutionError) Error() string {
	where := ""
	if e.Path != "" {
		where = " at " + e.Path
	}
	return fmt.Sprintf("signature %q is not an evolution of %q%s: %s", e.Sent, e.Want, where, e.Reason)
}

// maxEvolutions bounds the cache of plans: peers choose the signatures they send, so a
// hostile one could otherwise fill memory with plans.
const maxEvolutions = 256

var evolutions struct {
	mu sync.Mutex
	m  map[[2]Signature]evoResult
}

type evoResult struct {
	ev  *Evolution
	err error
}

// Evolve returns the plan that rewrites values of signature sent as values of signature want,
// or an *EvolutionError when the two are not evolutions of each other (see the package's
// rules above), or a *SignatureError when either is invalid. Equal signatures need no plan:
// callers compare them first. Plans, and refusals, are cached; the cache is bounded.
func Evolve(sent, want Signature) (*Evolution, error) {
	key := [2]Signature{sent, want}
	evolutions.mu.Lock()
	r, ok := evolutions.m[key]
	evolutions.mu.Unlock()
	if ok {
		return r.ev, r.err
	}
	r.ev, r.err = plan(sent, want)
	evolutions.mu.Lock()
	if evolutions.m == nil {
		evolutions.m = make(map[[2]Signature]evoResult)
	}
	if len(evolutions.m) >= maxEvolutions {
		for k := range evolutions.m { // an arbitrary entry makes room
			delete(evolutions.m, k)
			break
		}
	}
	evolutions.m[key] = r
	evolutions.mu.Unlock()
	return r.ev, r.err
}

// plan builds the Evolution from sent to want without the cache.
func plan(sent, want Signature) (*Evolution, error) {
	for _, s := range []Signature{sent, want} {
		if err := ValidateSignature(string(s)); err != nil {
			return nil, err
		}
	}
	ev := &Evolution{Sent: sent, Want: want}
	fail := func(path, reason string) error {
		return &EvolutionError{Sent: sent, Want: want, Path: path, Reason: reason}
	}
	var planStruct func(n *evoNode, sent, want []string, path string, top bool) error
	var planType func(sent, want, path string) (*evoNode, error)
	planType = func(s, w, path string) (*evoNode, error) {
		if s == w {
			return &evoNode{kind: evoSame, want: w}, nil
		}
		switch {
		case s[0] == TypeArray && w[0] == TypeArray:
			elem, err := planType(s[1:], w[1:], path+", element")
			if err != nil {
				return nil, err
			}
			return &evoNode{kind: evoArray, want: w, elem: elem}, nil
		case s[0] == '(' && w[0] == '(':
			n := &evoNode{kind: evoStruct, want: w}
			return n, planStruct(n, splitValid(s[1:len(s)-1]), splitValid(w[1:len(w)-1]), path, false)
		case s[0] == '{' && w[0] == '{':
			if s[1] != w[1] {
				return nil, fail(path, fmt.Sprintf("dict key type %q cannot become %q", s[1:2], w[1:2]))
			}
			value, err := planType(s[2:len(s)-1], w[2:len(w)-1], path+", value")
			if err != nil {
				return nil, err
			}
			return &evoNode{kind: evoStruct, want: w, members: []*evoNode{{kind: evoSame, want: w[1:2]}, value}}, nil
		}
		return nil, fail(path, fmt.Sprintf("type %q cannot become %q", s, w))
	}
	planStruct = func(n *evoNode, s, w []string, path string, top bool) error {
		name := func(i int) string {
			if top {
				return fmt.Sprintf("argument %d", i)
			}
			if path == "" {
				return fmt.Sprintf("member %d", i)
			}
			return fmt.Sprintf("%s, member %d", path, i)
		}
		common := min(len(s), len(w))
		for i := 0; i < common; i++ {
			m, err := planType(s[i], w[i], name(i))
			if err != nil {
				return err
			}
			n.members = append(n.members, m)
		}
		n.skip = s[common:]
		n.zero = w[common:]
		for i, z := range n.zero {
			if !zeroable(z) {
				return fail(name(common+i), fmt.Sprintf("the receiver expects %q, which holds a file descriptor that cannot be made up when the sender leaves it out", z))
			}
		}
		return nil
	}
	ev.top.kind = evoStruct
	ev.top.want = string(want)
	if err := planStruct(&ev.top, splitValid(string(sent)), splitValid(string(want)), "", true); err != nil {
		return nil, err
	}
	return ev, nil
}

// splitValid splits a valid signature (or a struct's member list) into its complete types.
func splitValid(s string) []string {
	var out []string
	for s != "" {
		n := TypeLen(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// zeroable reports whether a value of the valid type t can be made up: whether it holds no
// file descriptor outside an array (which can be empty).
func zeroable(t string) bool {
	switch t[0] {
	case TypeUnixFD:
		return false
	case '(':
		for _, f := range splitValid(t[1 : len(t)-1]) {
			if !zeroable(f) {
				return false
			}
		}
	}
	return true
}

// Adapt reads body, values of signature ev.Sent in byte order o, and appends the same values
// as a body of signature ev.Want in the same byte order to dst[:0], which it returns. Errors
// are DecodeErrors about body. h values keep their indexes into the message's descriptors.
func (ev *Evolution) Adapt(dst, body []byte, o ByteOrder) ([]byte, error) {
	var d Decoder
	d.Reset(body, o)
	var e Encoder
	e.Reset(dst[:0], o)
	ev.top.adapt(&d, &e, 0, true)
	if err := d.Done(); err != nil {
		return nil, err
	}
	if err := e.Err(); err != nil {
		return nil, &DecodeError{Offset: d.Offset(), Reason: err.Error(), Err: err}
	}
	return e.Bytes(), nil
}

// AdaptValue reads values of signature ev.Sent at d's position and appends them as values of
// signature ev.Want to dst[:0], in d's byte order, as data of their own that starts at an
// 8-byte boundary: read it with a new Decoder. It is for values that travel inside others, such
// as a property's variant. Errors are set on d.
func (ev *Evolution) AdaptValue(d *Decoder, dst []byte) []byte {
	var e Encoder
	e.Reset(dst[:0], d.Order())
	ev.top.adapt(d, &e, 0, true)
	if err := e.Err(); err != nil {
		d.fail(err, "%v", err)
	}
	if d.err != nil {
		return nil
	}
	return e.Bytes()
}

// adapt rewrites one value of n's sent type from d into e. depth counts the containers
// around it, variants included.
func (n *evoNode) adapt(d *Decoder, e *Encoder, depth int, top bool) {
	if d.err != nil || e.err != nil {
		return
	}
	switch n.kind {
	case evoSame:
		copyValue(d, e, n.want, depth, nil)
	case evoArray:
		if depth >= MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		// Both sides' elements are the same kind of type, so they align alike.
		end := d.BeginArray(Alignment(n.want[1]))
		m := e.BeginArray(Alignment(n.want[1]))
		for d.More(end) && e.err == nil {
			n.elem.adapt(d, e, depth+1, false)
		}
		e.EndArray(m)
	case evoStruct:
		if !top {
			if depth >= MaxTotalDepth {
				d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
				return
			}
			d.BeginStruct()
			e.BeginStruct()
			depth++
		}
		for _, m := range n.members {
			m.adapt(d, e, depth, false)
		}
		for _, s := range n.skip {
			d.skip(s, depth+1)
		}
		for _, z := range n.zero {
			zeroValue(e, z)
		}
	}
}

// copyValue copies one value of type t from d to e, re-encoding it: alignment in the output
// may differ from the input's. fd, when not nil, copies each h value instead of its index.
func copyValue(d *Decoder, e *Encoder, t string, depth int, fd func(d *Decoder, e *Encoder)) {
	if d.err != nil || e.err != nil {
		return
	}
	switch t[0] {
	case TypeByte:
		e.Byte(d.Byte())
	case TypeBoolean:
		e.Bool(d.Bool())
	case TypeInt16, TypeUint16:
		e.Uint16(d.Uint16())
	case TypeUnixFD:
		if fd != nil {
			fd(d, e)
			return
		}
		e.Uint32(d.Uint32())
	case TypeInt32, TypeUint32:
		e.Uint32(d.Uint32())
	case TypeInt64, TypeUint64, TypeDouble:
		e.Uint64(d.Uint64())
	case TypeString:
		appendString(e, d.StringBytes(), d.err)
	case TypeObjectPath:
		appendString(e, d.objectPathBytes(), d.err)
	case TypeSignature:
		if b := d.checkedSignatureBytes(); d.err == nil {
			e.buf = append(e.buf, byte(len(b)))
			e.buf = append(e.buf, b...)
			e.buf = append(e.buf, 0)
		}
	case TypeArray:
		if depth >= MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		if t[1] == TypeByte {
			if b := d.ByteArray(); d.err == nil {
				e.ByteArray(b)
			}
			return
		}
		end := d.BeginArray(Alignment(t[1]))
		m := e.BeginArray(Alignment(t[1]))
		for d.More(end) && e.err == nil {
			copyValue(d, e, t[1:], depth+1, fd)
		}
		e.EndArray(m)
	case '(', '{':
		if depth >= MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		d.BeginStruct()
		e.BeginStruct()
		for fields := t[1 : len(t)-1]; fields != "" && d.err == nil; {
			n := TypeLen(fields)
			copyValue(d, e, fields[:n], depth+1, fd)
			fields = fields[n:]
		}
	case TypeVariant:
		if depth >= MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return
		}
		sig := d.Variant()
		if d.err != nil {
			return
		}
		e.Variant(sig)
		copyValue(d, e, string(sig), depth+1, fd)
	default:
		d.fail(nil, "unknown type code %q in signature", t[0])
	}
}

// appendString appends the s or o value b, read and checked by the decoder, unless the read
// failed.
func appendString(e *Encoder, b []byte, err error) {
	if err != nil {
		return
	}
	e.Uint32(uint32(len(b)))
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, 0)
}

// zeroValue appends the zero value of type t, which holds no h outside an array.
func zeroValue(e *Encoder, t string) {
	switch t[0] {
	case TypeByte:
		e.Byte(0)
	case TypeInt16, TypeUint16:
		e.Uint16(0)
	case TypeBoolean, TypeInt32, TypeUint32:
		e.Uint32(0)
	case TypeInt64, TypeUint64, TypeDouble:
		e.Uint64(0)
	case TypeString:
		e.String("")
	case TypeObjectPath:
		e.ObjectPath("/")
	case TypeSignature:
		e.Signature("")
	case TypeArray:
		e.EndArray(e.BeginArray(Alignment(t[1])))
	case '(':
		e.BeginStruct()
		for _, f := range splitValid(t[1 : len(t)-1]) {
			zeroValue(e, f)
		}
	case TypeVariant:
		e.Variant("ay")
		e.ByteArray(nil)
	default:
		e.SetErr(fmt.Errorf("no zero value of type %q can be made up", t))
	}
}

// String describes the plan, for logs and errors.
func (ev *Evolution) String() string { return fmt.Sprintf("evolution %q -> %q", ev.Sent, ev.Want) }
