// Package match implements D-Bus match rules: the filters that a
// connection registers with the bus (AddMatch) to receive signals and, for
// monitors, other messages.
//
// A rule is written as comma-separated key='value' pairs, such as
//
//	type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0namespace='com.example'
//
// [Parse] reads that form into a [Rule], [Rule.String] writes it back in a
// canonical form, and [Rule.Match] decides whether a message satisfies a
// rule. A message matches a rule when it satisfies every key the rule
// gives; a rule with no keys matches every message.
//
// Matching arguments needs the message body decoded. [ArgsOf] wraps a
// message so that its leading arguments are decoded once, on demand, and
// shared by all the rules a message is checked against.
package match

import (
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// MaxArgIndex is the highest argument index a rule can match (arg63).
const MaxArgIndex = 63

// Rule is a parsed match rule. The zero Rule matches every message.
//
// Each field is one key of the rule; an empty string, a zero Type or a nil
// slice means the rule does not give that key and so does not restrict it.
// Values are kept as the rule gave them: in particular Sender and
// Destination hold whatever name the rule said, unique or well-known, and
// resolving a well-known name to its owner is up to the caller of
// [Rule.MatchOwners].
type Rule struct {
	// Type restricts the message type (key type); 0 matches every type.
	Type wire.MessageType
	// Sender is the bus name the message must come from (key sender).
	Sender string
	// Interface is the interface the message must carry (key interface).
	Interface string
	// Member is the method or signal name the message must carry (key
	// member).
	Member string
	// Path is the exact object path the message must carry (key path).
	Path wire.ObjectPath
	// PathNamespace is an object path the message's path must equal or lie
	// below (key path_namespace). A rule gives at most one of Path and
	// PathNamespace.
	PathNamespace wire.ObjectPath
	// Destination is the bus name the message must be addressed to (key
	// destination).
	Destination string
	// Args are the string arguments the message must carry (keys argN):
	// argument Index must be a string equal to Value. Parse returns them
	// sorted by Index.
	Args []ArgMatch
	// ArgPaths are the path-like arguments the message must carry (keys
	// argNpath): argument Index must be a string or object path that
	// equals Value, or of which Value is a prefix ending in '/', or that
	// is itself a prefix of Value ending in '/'. Parse returns them sorted
	// by Index.
	ArgPaths []ArgMatch
	// Arg0Namespace is a bus name or interface name namespace (key
	// arg0namespace): the first argument must be a string that equals it
	// or starts with it followed by a '.'.
	Arg0Namespace string
	// Eavesdrop reports whether the rule asks for messages that are not
	// addressed to its owner (key eavesdrop). Match does not look at it:
	// which messages a connection may see at all is the bus's decision,
	// made before it asks Match.
	Eavesdrop bool
}

// ArgMatch is a condition on one argument, from an argN or argNpath key.
type ArgMatch struct {
	// Index is the argument's position, 0 to MaxArgIndex.
	Index int
	// Value is the value from the rule.
	Value string
}

// OwnerFunc resolves a well-known bus name to the unique name of the
// connection that is its primary owner, or returns "" if nobody owns it.
// The bus implements it from its name registry; it is called only with
// well-known names.
type OwnerFunc func(wellKnown string) (unique string)

// Match reports whether m satisfies every key of r, comparing the sender
// and destination names literally. This is right when r names unique
// names, or to re-check a message whose header names match the rule
// verbatim; a bus, which must match a rule's well-known names against the
// message's unique sender, uses [Rule.MatchOwners].
//
// args must be ArgsOf(m) or the zero Args; with the zero Args, Match
// decodes m's arguments itself if r looks at any. Passing the same Args to
// many rules decodes the body once.
func (r *Rule) Match(m *wire.Message, args Args) bool {
	return r.MatchOwners(m, args, nil)
}

// MatchOwners is [Rule.Match] with bus names resolved through owner.
//
// A rule's sender matches when it equals the message's sender, or when it
// is a well-known name whose owner, as owner reports it, is the message's
// sender (a unique name, as the bus stamps it on every message it
// routes). Messages the bus sends itself carry the sender
// "org.freedesktop.DBus", which a rule naming that sender matches
// literally.
//
// A rule's destination matches when it equals the message's destination,
// or when both, resolved to unique names (owner for well-known names,
// unique names as they are), name the same connection.
//
// With a nil owner, names are compared literally, as Match does.
func (r *Rule) MatchOwners(m *wire.Message, args Args, owner OwnerFunc) bool {
	switch {
	case r.Type != 0 && m.Type != r.Type,
		r.Interface != "" && m.Interface != r.Interface,
		r.Member != "" && m.Member != r.Member,
		r.Path != "" && m.Path != r.Path,
		r.PathNamespace != "" && !inPathNamespace(m.Path, r.PathNamespace),
		r.Sender != "" && !senderMatches(r.Sender, m.Sender, owner),
		r.Destination != "" && !destinationMatches(r.Destination, m.Destination, owner):
		return false
	}
	if len(r.Args) == 0 && len(r.ArgPaths) == 0 && r.Arg0Namespace == "" {
		return true
	}
	if args.c == nil || args.c.m != m {
		args = ArgsOf(m)
	}
	for _, a := range r.Args {
		if v, t := args.Arg(a.Index); t != wire.TypeString || v != a.Value {
			return false
		}
	}
	for _, a := range r.ArgPaths {
		if v, t := args.Arg(a.Index); t == 0 || !argPathMatches(a.Value, v) {
			return false
		}
	}
	if r.Arg0Namespace != "" {
		if v, t := args.Arg(0); t != wire.TypeString || !inNameNamespace(v, r.Arg0Namespace) {
			return false
		}
	}
	return true
}

func isUnique(name string) bool { return strings.HasPrefix(name, ":") }

// senderMatches reports whether a message from sender satisfies a rule's
// sender key.
func senderMatches(rule, sender string, owner OwnerFunc) bool {
	if rule == sender {
		return true
	}
	if owner == nil || sender == "" || isUnique(rule) {
		return false
	}
	return owner(rule) == sender
}

// destinationMatches reports whether a message to dest satisfies a rule's
// destination key.
func destinationMatches(rule, dest string, owner OwnerFunc) bool {
	if rule == dest {
		return true
	}
	if owner == nil || dest == "" {
		return false
	}
	resolve := func(name string) string {
		if isUnique(name) {
			return name
		}
		return owner(name)
	}
	r := resolve(rule)
	return r != "" && r == resolve(dest)
}

// inPathNamespace reports whether path is ns or lies below it. Every path
// lies in the namespace "/"; a message without a path lies in none.
func inPathNamespace(path, ns wire.ObjectPath) bool {
	if path == "" || !strings.HasPrefix(string(path), string(ns)) {
		return false
	}
	return len(path) == len(ns) || ns == "/" || path[len(ns)] == '/'
}

// inNameNamespace reports whether name is ns or a name below it, such as
// com.example.Foo below com.example.
func inNameNamespace(name, ns string) bool {
	if !strings.HasPrefix(name, ns) {
		return false
	}
	return len(name) == len(ns) || name[len(ns)] == '.'
}

// argPathMatches implements argNpath: the values are equal, or the shorter
// one ends in '/' and is a prefix of the longer.
func argPathMatches(rule, arg string) bool {
	short, long := rule, arg
	if len(short) > len(long) {
		short, long = long, short
	}
	if len(short) == len(long) {
		return short == long
	}
	return strings.HasSuffix(short, "/") && strings.HasPrefix(long, short)
}

// Args is a message's leading arguments as match rules see them: decoded
// on first use, as far as the highest index asked for, and cached. Get one
// with [ArgsOf] and pass it to every rule the message is checked against;
// copies of an Args share its cache. An Args is not safe for concurrent
// use.
type Args struct {
	c *argCache
}

// ArgsOf returns the arguments of m for matching. It decodes nothing until
// an argument is asked for. m must not change while the result is in use.
func ArgsOf(m *wire.Message) Args {
	return Args{c: &argCache{m: m}}
}

// Arg returns argument i if it is a string or an object path: its value
// and its type code, [wire.TypeString] or [wire.TypeObjectPath]. For an
// argument of any other type, an index the message does not have or that
// is beyond MaxArgIndex, or a body that cannot be decoded as far as i, it
// returns "" and 0: such an argument matches no rule.
//
// Arguments before i that are not strings are skipped without being
// checked: the bus validates bodies when it receives them, and a broken
// one can at worst make an argument unavailable.
func (a Args) Arg(i int) (value string, typ byte) {
	if a.c == nil || i < 0 || i > MaxArgIndex {
		return "", 0
	}
	a.c.fill(i)
	if i >= len(a.c.vals) {
		return "", 0
	}
	v := a.c.vals[i]
	return v.s, v.typ
}

// argCache is the shared state of an Args.
type argCache struct {
	m       *wire.Message
	started bool
	d       wire.Decoder
	sig     string // the types of the arguments not yet decoded
	vals    []argValue
}

// argValue is one decoded argument; typ is 0 for types rules cannot
// match.
type argValue struct {
	s   string
	typ byte
}

// fill decodes arguments until argument i is known or no more can be.
func (c *argCache) fill(i int) {
	if !c.started {
		c.started = true
		if wire.ValidateSignature(string(c.m.Signature)) != nil {
			return
		}
		c.sig = string(c.m.Signature)
		c.d.Reset(c.m.Body, c.m.Order)
	}
	for len(c.vals) <= i && c.sig != "" && c.d.Err() == nil {
		n := wire.TypeLen(c.sig)
		t := c.sig[:n]
		c.sig = c.sig[n:]
		var v argValue
		switch t[0] {
		case wire.TypeString:
			v = argValue{string(c.d.StringBytes()), wire.TypeString}
		case wire.TypeObjectPath:
			v = argValue{string(c.d.ObjectPath()), wire.TypeObjectPath}
		default:
			c.d.Skip(t)
		}
		if c.d.Err() != nil {
			return
		}
		c.vals = append(c.vals, v)
	}
}
