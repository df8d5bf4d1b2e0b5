package match

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kdbus-go/kdbus/wire"
)

// MaxRuleLength is the longest rule, in bytes, that Parse accepts; it is
// dbus-daemon's limit. The canonical form of the rule, as String writes
// it, must fit too.
const MaxRuleLength = 1024

// ParseError describes why [Parse] rejected a rule. A bus returns its
// message in an org.freedesktop.DBus.Error.MatchRuleInvalid error.
type ParseError struct {
	// Key is the key at fault as the rule wrote it, or "" if the problem
	// is with the rule as a whole.
	Key string
	// Reason says what is wrong.
	Reason string
	// Err is the underlying error, such as a *wire.NameError for an
	// invalid name, or nil.
	Err error
}

// Error implements the error interface.
func (e *ParseError) Error() string {
	if e.Key == "" {
		return "invalid match rule: " + e.Reason
	}
	return fmt.Sprintf("invalid match rule: key %s: %s", truncate(e.Key), e.Reason)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse parses a match rule: comma-separated key=value pairs, with
// whitespace allowed around each key and a comma allowed after the last
// pair. The keys are type, sender, interface, member, path,
// path_namespace, destination, arg0 to arg63, arg0path to arg63path,
// arg0namespace and eavesdrop. Each may appear once, and an argument
// index may be matched by only one of argN, argNpath and arg0namespace,
// so a rule has at most 71 keys; the rule, and its canonical form as
// [Rule.String] writes it, may be at most [MaxRuleLength] bytes long.
//
// Values follow the quoting rules of the D-Bus specification as
// dbus-daemon applies them: a value may be quoted with apostrophes, inside
// which every character stands for itself; outside quotes, \' stands for
// an apostrophe, a backslash before any other character stands for itself
// and keeps that character from ending the value, and an unquoted comma
// ends the value. So type=signal is the same as type='signal', and
//
//	arg0='don'\''t'
//
// matches the string "don't".
//
// Parse checks every value: names and paths must be valid, type must be
// signal, method_call, method_return or error, eavesdrop true or false,
// argument indexes at most [MaxArgIndex], and path and path_namespace
// cannot be combined. Errors are *ParseError values naming the key.
func Parse(s string) (*Rule, error) {
	if len(s) > MaxRuleLength {
		return nil, &ParseError{Reason: fmt.Sprintf("rule is %d bytes long; the limit is %d", len(s), MaxRuleLength)}
	}
	if !utf8.ValidString(s) {
		return nil, &ParseError{Reason: "rule is not valid UTF-8"}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &ParseError{Reason: "rule contains a NUL byte"}
	}
	p := parser{r: &Rule{}}
	for {
		s = strings.TrimLeft(s, space)
		if s == "" {
			break
		}
		if s[0] == ',' {
			return nil, &ParseError{Reason: "empty key=value pair (a comma at the start or two commas in a row)"}
		}
		// The key runs up to '=' or whitespace; whitespace may precede
		// the '='.
		end := strings.IndexAny(s, "="+space)
		if end < 0 {
			return nil, &ParseError{Key: s, Reason: "has no '=' and value"}
		}
		key, rest := s[:end], strings.TrimLeft(s[end:], space)
		if key == "" {
			return nil, &ParseError{Reason: "a pair has an empty key (nothing before '=')"}
		}
		if rest == "" || rest[0] != '=' {
			return nil, &ParseError{Key: key, Reason: "is not followed by '=' and a value"}
		}
		value, rest, ok := cutValue(rest[1:])
		if !ok {
			return nil, &ParseError{Key: key, Reason: "value has an opening apostrophe without a closing one"}
		}
		if err := p.set(key, value); err != nil {
			return nil, err
		}
		s = rest
	}
	if n := len(p.r.String()); n > MaxRuleLength {
		return nil, &ParseError{Reason: fmt.Sprintf("rule is %d bytes long in canonical form, with every value quoted; the limit is %d", n, MaxRuleLength)}
	}
	return p.r, nil
}

// space is the whitespace Parse allows around keys.
const space = " \t\r\n"

// cutValue reads a value from the start of s and returns it along with
// what follows the comma that ends it. ok is false if a quote is left
// open.
func cutValue(s string) (value, rest string, ok bool) {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\'' {
				quoted = false
			} else {
				b.WriteByte(c)
			}
		case c == ',':
			return b.String(), s[i+1:], true
		case c == '\'':
			quoted = true
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
			} else {
				b.WriteByte('\\')
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
				}
			}
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), "", !quoted
}

// parser collects the keys of one rule.
type parser struct {
	r    *Rule
	seen map[string]bool // non-argument keys given so far
	args [MaxArgIndex + 1]string
}

// set records one key and value, checking both.
func (p *parser) set(key, value string) error {
	fail := func(reason string, err error) error {
		return &ParseError{Key: key, Reason: reason, Err: err}
	}
	name := func(check func(string) error) error {
		if err := check(value); err != nil {
			return fail(err.Error(), err)
		}
		return nil
	}
	if isArgKey(key) {
		return p.setArg(key, value)
	}
	if p.seen[key] {
		return fail("appears more than once", nil)
	}
	r := p.r
	switch key {
	case "type":
		t, ok := parseType(value)
		if !ok {
			return fail(fmt.Sprintf("unknown message type %q; the types are signal, method_call, method_return and error", truncate(value)), nil)
		}
		r.Type = t
	case "sender":
		if err := name(wire.ValidateBusName); err != nil {
			return err
		}
		r.Sender = value
	case "interface":
		if err := name(wire.ValidateInterfaceName); err != nil {
			return err
		}
		r.Interface = value
	case "member":
		if err := name(wire.ValidateMemberName); err != nil {
			return err
		}
		r.Member = value
	case "path", "path_namespace":
		if err := name(wire.ValidateObjectPath); err != nil {
			return err
		}
		if p.seen["path"] || p.seen["path_namespace"] {
			return fail("cannot be combined with path or path_namespace", nil)
		}
		if key == "path" {
			r.Path = wire.ObjectPath(value)
		} else {
			r.PathNamespace = wire.ObjectPath(value)
		}
	case "destination":
		if err := name(wire.ValidateBusName); err != nil {
			return err
		}
		r.Destination = value
	case "eavesdrop":
		switch value {
		case "true":
			r.Eavesdrop = true
		case "false":
			r.Eavesdrop = false
		default:
			return fail(fmt.Sprintf("value %q is neither true nor false", truncate(value)), nil)
		}
	default:
		return fail("unknown key; the keys are type, sender, interface, member, path, path_namespace, destination, arg0 to arg63, arg0path to arg63path, arg0namespace and eavesdrop", nil)
	}
	if p.seen == nil {
		p.seen = make(map[string]bool)
	}
	p.seen[key] = true
	return nil
}

// isArgKey reports whether key is meant as an argument key: "arg" and a
// digit.
func isArgKey(key string) bool {
	return len(key) > 3 && key[:3] == "arg" && '0' <= key[3] && key[3] <= '9'
}

// setArg records an argN, argNpath or arg0namespace key.
func (p *parser) setArg(key, value string) error {
	fail := func(reason string, err error) error {
		return &ParseError{Key: key, Reason: reason, Err: err}
	}
	digits := key[3:]
	suffix := strings.TrimLeft(digits, "0123456789")
	digits = digits[:len(digits)-len(suffix)]
	index := 0
	for _, c := range digits {
		index = index*10 + int(c-'0')
		if index > MaxArgIndex {
			return fail(fmt.Sprintf("argument index %s is larger than %d", truncate(digits), MaxArgIndex), nil)
		}
	}
	canonical := fmt.Sprintf("arg%d%s", index, suffix)
	if prev := p.args[index]; prev != "" {
		if prev == canonical {
			return fail("appears more than once", nil)
		}
		return fail(fmt.Sprintf("argument %d is already matched by %s", index, prev), nil)
	}
	r := p.r
	switch suffix {
	case "":
		r.Args = append(r.Args, ArgMatch{Index: index, Value: value})
		slices.SortFunc(r.Args, compareArgs)
	case "path":
		r.ArgPaths = append(r.ArgPaths, ArgMatch{Index: index, Value: value})
		slices.SortFunc(r.ArgPaths, compareArgs)
	case "namespace":
		if key != "arg0namespace" {
			return fail("namespace matching is defined only for the first argument, as arg0namespace", nil)
		}
		if err := validateNamespace(value); err != nil {
			return fail(err.Error(), err)
		}
		r.Arg0Namespace = value
	default:
		return fail(fmt.Sprintf("argument keys are argN, argNpath or arg0namespace, not arg%s%s", digits, truncate(suffix)), nil)
	}
	p.args[index] = canonical
	return nil
}

// compareArgs orders argument conditions by index, then value.
func compareArgs(a, b ArgMatch) int {
	return cmp.Or(cmp.Compare(a.Index, b.Index), strings.Compare(a.Value, b.Value))
}

// validateNamespace checks an arg0namespace value: a bus name, or the
// leading elements of one, which may be a single element.
func validateNamespace(ns string) error {
	if err := wire.ValidateBusName(ns); err == nil {
		return nil
	}
	body := strings.TrimPrefix(ns, ":")
	unique := len(body) < len(ns)
	switch {
	case ns == "" || body == "":
		return &wire.NameError{Kind: "bus name namespace", Name: ns, Reason: "must not be empty"}
	case strings.Contains(body, "."):
		// More than one element, so it must be a valid bus name itself.
		return wire.ValidateBusName(ns)
	case len(ns) > wire.MaxNameLength:
		return &wire.NameError{Kind: "bus name namespace", Name: ns[:32] + "...", Reason: fmt.Sprintf("longer than %d bytes", wire.MaxNameLength)}
	case !unique && '0' <= body[0] && body[0] <= '9':
		return &wire.NameError{Kind: "bus name namespace", Name: ns, Reason: "must not start with a digit"}
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return &wire.NameError{Kind: "bus name namespace", Name: ns, Reason: fmt.Sprintf("byte %q: only [A-Za-z0-9_-] are allowed", c)}
		}
	}
	return nil
}

// parseType returns the message type a type key names.
func parseType(s string) (wire.MessageType, bool) {
	for _, t := range []wire.MessageType{wire.Signal, wire.MethodCall, wire.MethodReturn, wire.Error} {
		if s == t.String() {
			return t, true
		}
	}
	return 0, false
}

// String returns r in canonical form: the keys r gives, in the order type,
// sender, interface, member, path, path_namespace, destination, the
// argument keys by index, and eavesdrop (only if true), each value quoted
// with apostrophes. Rules that are equal have the same canonical form, so
// it can serve as a key for the rule; for a rule Parse returned, Parse
// reads it back to an equal rule.
func (r *Rule) String() string {
	var b strings.Builder
	add := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(key)
		b.WriteString("='")
		// An apostrophe cannot appear inside quotes: close them, add an
		// escaped apostrophe, and reopen them.
		b.WriteString(strings.ReplaceAll(value, "'", `'\''`))
		b.WriteByte('\'')
	}
	if r.Type != 0 {
		add("type", r.Type.String())
	}
	for _, f := range [...]struct{ key, value string }{
		{"sender", r.Sender},
		{"interface", r.Interface},
		{"member", r.Member},
		{"path", string(r.Path)},
		{"path_namespace", string(r.PathNamespace)},
		{"destination", r.Destination},
	} {
		if f.value != "" {
			add(f.key, f.value)
		}
	}
	args, paths := sortedArgs(r.Args), sortedArgs(r.ArgPaths)
	for i := 0; i <= MaxArgIndex; i++ {
		for len(args) > 0 && args[0].Index == i {
			add(fmt.Sprintf("arg%d", i), args[0].Value)
			args = args[1:]
		}
		for len(paths) > 0 && paths[0].Index == i {
			add(fmt.Sprintf("arg%dpath", i), paths[0].Value)
			paths = paths[1:]
		}
		if i == 0 && r.Arg0Namespace != "" {
			add("arg0namespace", r.Arg0Namespace)
		}
	}
	if r.Eavesdrop {
		add("eavesdrop", "true")
	}
	return b.String()
}

// Equal reports whether r and o are the same rule: they give the same keys
// with the same values, whatever the order of their Args and ArgPaths. A
// bus uses it to find the rule RemoveMatch names.
func (r *Rule) Equal(o *Rule) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Type == o.Type &&
		r.Sender == o.Sender &&
		r.Interface == o.Interface &&
		r.Member == o.Member &&
		r.Path == o.Path &&
		r.PathNamespace == o.PathNamespace &&
		r.Destination == o.Destination &&
		r.Arg0Namespace == o.Arg0Namespace &&
		r.Eavesdrop == o.Eavesdrop &&
		slices.Equal(sortedArgs(r.Args), sortedArgs(o.Args)) &&
		slices.Equal(sortedArgs(r.ArgPaths), sortedArgs(o.ArgPaths))
}

// sortedArgs returns a sorted by index, copying it only if it is not
// sorted already.
func sortedArgs(a []ArgMatch) []ArgMatch {
	if slices.IsSortedFunc(a, compareArgs) {
		return a
	}
	a = slices.Clone(a)
	slices.SortFunc(a, compareArgs)
	return a
}

// truncate shortens s for inclusion in an error message.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
