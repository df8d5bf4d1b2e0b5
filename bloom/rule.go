package bloom

import (
	"strings"

	"github.com/kdbus-go/kdbus/match"
)

// ForRule returns the mask of a subscription with rule r. See
// [Filter.AddRule] for what it holds.
func ForRule(p Params, r *match.Rule) Filter {
	f := New(p)
	f.AddRule(r)
	return f
}

// AddRule adds to f the elements that the filter of every message r
// matches contains, as sd-bus did for the matches it installed on kdbus:
//
//   - type: "message-type:" and the type's name;
//   - interface, member and path: "interface:", "member:" and "path:" with
//     the value;
//   - path_namespace: "path-slash-prefix:" with the namespace;
//   - argN: "argN:" with the value;
//   - arg0namespace: "arg0-dot-prefix:" with the namespace.
//
// sd-bus left argNpath out of the mask. AddRule adds what every argument
// such a rule matches has in common: when the value holds a '/', the
// argument starts with the value up to and including its first '/', so
// "argN-slash-prefix:" with that prefix; otherwise the argument equals the
// value, so "argN:" with it.
//
// sender, destination and eavesdrop are not in filters (the bus matches
// senders by connection), so they add nothing; a rule that gives no other
// key leaves f empty, and an empty mask matches every signal.
func (f Filter) AddRule(r *match.Rule) {
	var buf [256]byte
	b := buf[:0]
	if r.Type != 0 {
		b = addPair(f, b, "message-type", r.Type.String())
	}
	if r.Interface != "" {
		b = addPair(f, b, "interface", r.Interface)
	}
	if r.Member != "" {
		b = addPair(f, b, "member", r.Member)
	}
	if r.Path != "" {
		b = addPair(f, b, "path", r.Path)
	}
	if r.PathNamespace != "" {
		b = addPair(f, b, "path-slash-prefix", r.PathNamespace)
	}
	for _, a := range r.Args {
		b = argKey(b, a.Index, ":")
		b = append(b, a.Value...)
		addElement(f, b)
	}
	for _, a := range r.ArgPaths {
		if i := strings.IndexByte(a.Value, '/'); i >= 0 {
			b = argKey(b, a.Index, "-slash-prefix:")
			b = append(b, a.Value[:i+1]...)
		} else {
			b = argKey(b, a.Index, ":")
			b = append(b, a.Value...)
		}
		addElement(f, b)
	}
	if r.Arg0Namespace != "" {
		addPair(f, b, "arg0-dot-prefix", r.Arg0Namespace)
	}
}
