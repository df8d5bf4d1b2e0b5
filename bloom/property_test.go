package bloom

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// gen makes random signals and rules for property tests.
type gen struct{ r *rand.Rand }

func (g gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g gen) name() string {
	return g.pick("a", "b", "org", "example", "freedesktop", "Foo", "bar_1", "x9", "Device", "unit")
}

func (g gen) objectPath() wire.ObjectPath {
	n := g.r.IntN(5)
	if n == 0 {
		return "/"
	}
	var b strings.Builder
	for range n {
		b.WriteString("/" + g.name())
	}
	return wire.ObjectPath(b.String())
}

func (g gen) dotted() string {
	parts := make([]string, 2+g.r.IntN(3))
	for i := range parts {
		parts[i] = g.name()
	}
	return strings.Join(parts, ".")
}

// str returns a string rich in the separators prefixes split at.
func (g gen) str() string {
	switch g.r.IntN(6) {
	case 0:
		return ""
	case 1:
		return g.dotted()
	case 2:
		return string(g.objectPath())
	case 3:
		return string(g.objectPath()) + "/"
	}
	var b strings.Builder
	for range g.r.IntN(12) {
		b.WriteString(g.pick("a", "b", ".", "/", "é", "x", ":", "1", "ü/", ".."))
	}
	return b.String()
}

func (g gen) signature() wire.Signature {
	return wire.Signature(g.pick("", "s", "as", "(ii)", "a{sv}", "g", "ag", "u"))
}

// arg returns a random argument: its type and a value wire.Marshal takes.
func (g gen) arg() (string, any) {
	switch g.r.IntN(16) {
	case 0, 1, 2, 3:
		return "s", g.str()
	case 4, 5:
		return "o", g.objectPath()
	case 6:
		return "g", g.signature()
	case 7:
		n := g.r.IntN(4)
		v := make([]string, n)
		for i := range v {
			v[i] = g.str()
		}
		return "as", v
	case 8:
		n := g.r.IntN(3)
		v := make([]wire.ObjectPath, n)
		for i := range v {
			v[i] = g.objectPath()
		}
		return "ao", v
	case 9:
		return "ag", []wire.Signature{g.signature(), g.signature()}
	case 10:
		return "u", g.r.Uint32()
	case 11:
		return "t", g.r.Uint64()
	case 12:
		return "a{sv}", map[string]wire.Variant{g.str(): {Sig: "s", Value: g.str()}, "n": {Sig: "t", Value: uint64(1)}}
	case 13:
		return "(sy)", wire.Struct{g.str(), byte(7)}
	case 14:
		return "v", wire.Variant{Sig: "as", Value: []string{g.str()}}
	default:
		return "at", []uint64{1, 2}
	}
}

// signal returns a random valid signal.
func (g gen) signal(t testing.TB) *wire.Message {
	var sig strings.Builder
	var args []any
	n := g.r.IntN(8)
	if g.r.IntN(20) == 0 {
		n = 60 + g.r.IntN(10) // beyond arg63
	}
	for range n {
		typ, v := g.arg()
		sig.WriteString(typ)
		args = append(args, v)
	}
	o := wire.LittleEndian
	if g.r.IntN(2) == 0 {
		o = wire.BigEndian
	}
	body, err := wire.Marshal(o, wire.Signature(sig.String()), args...)
	if err != nil {
		t.Fatalf("marshal %q: %v", sig.String(), err)
	}
	return &wire.Message{
		Order: o, Type: wire.Signal, Serial: 1, Sender: ":1." + strconv.Itoa(g.r.IntN(100)),
		Path: g.objectPath(), Interface: g.dotted(), Member: g.name(),
		Signature: wire.Signature(sig.String()), Body: body,
	}
}

// ruleFor returns a random rule that m matches.
func (g gen) ruleFor(m *wire.Message) *match.Rule {
	var r match.Rule
	coin := func() bool { return g.r.IntN(2) == 0 }
	if coin() {
		r.Type = m.Type
	}
	if coin() {
		r.Sender = m.Sender
	}
	if coin() {
		r.Interface = m.Interface
	}
	if coin() {
		r.Member = m.Member
	}
	switch g.r.IntN(3) {
	case 0:
		r.Path = m.Path
	case 1:
		// The path itself or one of its ancestors.
		ns := string(m.Path)
		for ns != "/" && coin() {
			ns = ns[:strings.LastIndexByte(ns, '/')]
			if ns == "" {
				ns = "/"
			}
		}
		r.PathNamespace = wire.ObjectPath(ns)
	}
	args := match.ArgsOf(m)
	for i := 0; i <= match.MaxArgIndex; i++ {
		v, typ := args.Arg(i)
		if typ == 0 {
			continue
		}
		if typ == wire.TypeString && g.r.IntN(3) == 0 {
			r.Args = append(r.Args, match.ArgMatch{Index: i, Value: v})
		}
		if g.r.IntN(3) == 0 {
			r.ArgPaths = append(r.ArgPaths, match.ArgMatch{Index: i, Value: g.argPathFor(v)})
		}
		if i == 0 && typ == wire.TypeString && v != "" && coin() {
			// v or a prefix of it that ends before a '.'.
			ns := v
			for strings.Contains(ns, ".") && coin() {
				ns = ns[:strings.LastIndexByte(ns, '.')]
			}
			if ns != "" {
				r.Arg0Namespace = ns
			}
		}
	}
	return &r
}

// argPathFor returns a random argNpath value that the argument v matches.
func (g gen) argPathFor(v string) string {
	switch g.r.IntN(3) {
	case 0:
		// A prefix of v ending in '/'.
		var cuts []int
		for i := range len(v) {
			if v[i] == '/' {
				cuts = append(cuts, i+1)
			}
		}
		if len(cuts) > 0 {
			return v[:cuts[g.r.IntN(len(cuts))]]
		}
	case 1:
		// Something below v, if v ends in '/'.
		if strings.HasSuffix(v, "/") {
			return v + g.str()
		}
	}
	return v
}

var propertyParams = []Params{Default, {8, 1}, {8, 64}, {16, 3}, {24, 2}, {128, 8}, {4096, 32}}

// TestNoFalseNegatives checks the guarantee the bus relies on: a signal's
// filter contains the mask of every rule that matches the signal.
func TestNoFalseNegatives(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	iterations := 20000
	if testing.Short() {
		iterations = 2000
	}
	for i := range iterations {
		m := g.signal(t)
		for _, p := range propertyParams {
			f := ForMessage(p, m)
			for range 4 {
				r := g.ruleFor(m)
				if !r.Match(m, match.Args{}) {
					t.Fatalf("generated rule %s does not match %v", r, m)
				}
				if !f.Contains(ForRule(p, r)) {
					t.Fatalf("iteration %d, %+v: false negative:\nsignal %v\nrule   %s\nfilter %s\nmask   %s",
						i, p, m, r, f, ForRule(p, r))
				}
			}
		}
	}
}

// FuzzForMessage checks that ForMessage reads any body without panicking
// and that, however broken the body, the filter holds the elements of every
// argument that rules can see in it.
func FuzzForMessage(f *testing.F) {
	for _, s := range vectorSignals {
		for _, o := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
			m := s.message(f, o)
			f.Add(byte(o), string(m.Signature), m.Body)
		}
	}
	f.Add(byte('l'), "uso", []byte{7, 0, 0, 0, 1, 0, 0, 0, 'x', 0, 0, 0, 2, 0, 0, 0, '/', 'a', 0})
	f.Add(byte('l'), "atsav", []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'x', 0})
	f.Fuzz(func(t *testing.T, order byte, sig string, body []byte) {
		o := wire.LittleEndian
		if order&1 != 0 {
			o = wire.BigEndian
		}
		m := &wire.Message{Order: o, Type: wire.Signal, Serial: 1, Path: "/a", Interface: "a.b", Member: "M",
			Signature: wire.Signature(sig), Body: body}
		filter := ForMessage(Default, m)
		args := match.ArgsOf(m)
		for i := 0; i <= match.MaxArgIndex; i++ {
			v, typ := args.Arg(i)
			if typ == 0 {
				continue
			}
			for _, r := range []match.Rule{
				{Args: []match.ArgMatch{{Index: i, Value: v}}},
				{ArgPaths: []match.ArgMatch{{Index: i, Value: v}}},
			} {
				if r.Match(m, args) && !filter.Contains(ForRule(Default, &r)) {
					t.Fatalf("false negative for %s on %q %x", &r, sig, body)
				}
			}
		}
	})
}
