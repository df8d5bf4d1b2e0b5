package bloom

import (
	"strconv"

	"github.com/kdbus-go/kdbus/wire"
)

// maxArgs is how many leading arguments a filter describes: arg0 to arg63,
// as far as match rules reach.
const maxArgs = 64

// ForMessage returns the filter the sender attaches to m. See
// [Filter.AddMessage] for what it holds.
func ForMessage(p Params, m *wire.Message) Filter {
	f := New(p)
	f.AddMessage(m)
	return f
}

// AddMessage adds the elements of m to f, as sd-bus did for the signals it
// sent over kdbus:
//
//   - "message-type:" and the type's name: "signal", "method_call",
//     "method_return" or "error";
//   - "interface:" and "member:" with the message's interface and member,
//     when it has them;
//   - "path:" with its path, and the "path-slash-prefix" forms of the path
//     ([Filter.AddPrefixes] with '/');
//   - for each string, object path or signature argument N: "argN:" with its
//     value, and the "argN-dot-prefix" and "argN-slash-prefix" forms of the
//     value;
//   - for each argument N that is an array of strings, object paths or
//     signatures: "argN-has:" with each element.
//
// The arguments sd-bus adds are the leading ones of those kinds, up to
// arg63: it stopped at the first argument of another kind. Match rules,
// though, select a string or object path argument by its index whatever the
// arguments before it are, so AddMessage goes on past such an argument and
// adds, for each later string or object path up to arg63, "argN:" and the
// "argN-slash-prefix" forms: without them the bus would withhold the signal
// from rules that match it. Filters of messages that have no such arguments
// are exactly sd-bus's.
//
// The body is read in place. A body that does not decode ends the arguments
// where it breaks; the bus rejects such messages anyway.
func (f Filter) AddMessage(m *wire.Message) {
	var buf [256]byte
	b := addPair(f, buf[:0], "message-type", m.Type.String())
	if m.Interface != "" {
		b = addPair(f, b, "interface", m.Interface)
	}
	if m.Member != "" {
		b = addPair(f, b, "member", m.Member)
	}
	if m.Path != "" {
		b = addPair(f, b, "path", m.Path)
		b = compose(b, "path-slash-prefix", m.Path)
		f.addPrefixes(b, len("path-slash-prefix:"), '/')
	}
	f.addArgs(b, m)
}

// compose returns key:value in b, reusing its storage.
func compose[T text](b []byte, key string, value T) []byte {
	b = append(b[:0], key...)
	b = append(b, ':')
	return append(b, value...)
}

// addPair adds the element key:value, composed in b, and returns b for
// reuse.
func addPair[T text](f Filter, b []byte, key string, value T) []byte {
	b = compose(b, key, value)
	addElement(f, b)
	return b
}

// argKey returns "argN" followed by suffix in b, reusing its storage.
func argKey(b []byte, n int, suffix string) []byte {
	b = append(b[:0], "arg"...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, suffix...)
}

// addArgs adds the elements of m's arguments, composing them in b.
func (f Filter) addArgs(b []byte, m *wire.Message) {
	sig := string(m.Signature)
	if sig == "" || wire.ValidateSignature(sig) != nil {
		return
	}
	var d wire.Decoder
	d.Reset(m.Body, m.Order)
	leading := true // whether every argument so far was one sd-bus adds
	for n := 0; n < maxArgs && sig != "" && d.Err() == nil; n++ {
		l := wire.TypeLen(sig)
		t := sig[:l]
		sig = sig[l:]
		switch {
		case t == "s" || t == "o":
			// Object paths are read as the strings they are encoded as;
			// checking them is the bus's business, not the filter's.
			if v := d.StringBytes(); d.Err() == nil {
				b = addStringArg(f, b, n, v, leading)
			}
		case t == "g" && leading:
			if v := d.Signature(); d.Err() == nil {
				b = addStringArg(f, b, n, v, true)
			}
		case leading && (t == "as" || t == "ao" || t == "ag"):
			if v := d.ByteArray(); d.Err() == nil {
				b = addArrayArg(f, b, n, v, t[1], m.Order)
			}
		default:
			leading = false
			d.Skip(t)
		}
	}
}

// addStringArg adds the elements of argument n, a string-like value v. all
// adds every form sd-bus adds; otherwise only those match rules can ask for
// beyond the leading arguments.
func addStringArg[T text](f Filter, b []byte, n int, v T, all bool) []byte {
	b = argKey(b, n, ":")
	b = append(b, v...)
	addElement(f, b)
	if all {
		b = argKey(b, n, "-dot-prefix:")
		k := len(b)
		b = append(b, v...)
		f.addPrefixes(b, k, '.')
	}
	b = argKey(b, n, "-slash-prefix:")
	k := len(b)
	b = append(b, v...)
	f.addPrefixes(b, k, '/')
	return b
}

// addArrayArg adds "argN-has:" elements for the elements of argument n, an
// array whose element type is elem ('s', 'o' or 'g') and whose encoded
// elements are data. data starts at a 4-byte boundary of the body, which is
// all the alignment these elements need, so a decoder over data alone reads
// them right. Elements after one that does not decode are left out.
func addArrayArg(f Filter, b []byte, n int, data []byte, elem byte, o wire.ByteOrder) []byte {
	var d wire.Decoder
	d.Reset(data, o)
	for d.Remaining() > 0 {
		if elem == wire.TypeSignature {
			if v := d.Signature(); d.Err() == nil {
				b = argKey(b, n, "-has:")
				b = append(b, v...)
				addElement(f, b)
			}
		} else if v := d.StringBytes(); d.Err() == nil {
			b = argKey(b, n, "-has:")
			b = append(b, v...)
			addElement(f, b)
		}
		if d.Err() != nil {
			break
		}
	}
	return b
}
