package bloom

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// typicalSignal is a systemd unit's PropertiesChanged, as a bus carries
// thousands of.
func typicalSignal(t testing.TB) *wire.Message {
	return vectorSignal{
		"/org/freedesktop/systemd1/unit/dbus_2eservice", "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
		[]any{
			"org.freedesktop.systemd1.Unit",
			map[string]wire.Variant{
				"ActiveState":                   {Sig: "s", Value: "active"},
				"SubState":                      {Sig: "s", Value: "running"},
				"StateChangeTimestamp":          {Sig: "t", Value: uint64(1700000000000000)},
				"ActiveEnterTimestampMonotonic": {Sig: "t", Value: uint64(123456789)},
			},
			[]string{"Conditions", "Asserts"},
		},
	}.message(t, wire.LittleEndian)
}

// nonMatchingRules returns n rules that m does not match, mixed the way
// subscribers on a desktop or system bus write them: most share the
// signal's interface or member and differ in one key.
func nonMatchingRules(t testing.TB, m *wire.Message, n int, r *rand.Rand) []*match.Rule {
	unit := func() string { return "/org/freedesktop/systemd1/unit/u" + strconv.Itoa(r.IntN(1<<20)) + "_2eservice" }
	var rules []*match.Rule
	for len(rules) < n {
		var rule match.Rule
		switch r.IntN(6) {
		case 0: // Another unit's property changes.
			rule = match.Rule{Type: wire.Signal, Interface: m.Interface, Member: m.Member, Path: wire.ObjectPath(unit())}
		case 1: // Another interface's property changes of the same object.
			rule = match.Rule{Type: wire.Signal, Interface: m.Interface, Member: m.Member, Path: m.Path,
				Args: []match.ArgMatch{{Index: 0, Value: "org.example.I" + strconv.Itoa(r.IntN(1<<20))}}}
		case 2: // Another signal of the same interface.
			rule = match.Rule{Type: wire.Signal, Interface: m.Interface, Member: "Member" + strconv.Itoa(r.IntN(1<<20))}
		case 3: // Another object subtree.
			rule = match.Rule{Type: wire.Signal, PathNamespace: wire.ObjectPath("/org/example/n" + strconv.Itoa(r.IntN(1<<20)))}
		case 4: // Another service's signals.
			rule = match.Rule{Type: wire.Signal, Interface: "org.example.S" + strconv.Itoa(r.IntN(1<<20)), Member: "Changed"}
		case 5: // A name watch.
			rule = match.Rule{Type: wire.Signal, Interface: "org.freedesktop.DBus", Member: "NameOwnerChanged",
				Arg0Namespace: "org.example.N" + strconv.Itoa(r.IntN(1<<20))}
		}
		if rule.Match(m, match.Args{}) {
			continue
		}
		rules = append(rules, &rule)
	}
	return rules
}

// falsePositives counts the rules whose masks f contains.
func falsePositives(p Params, f Filter, rules []*match.Rule) int {
	n := 0
	for _, r := range rules {
		if f.Contains(ForRule(p, r)) {
			n++
		}
	}
	return n
}

func ones(f Filter) int {
	n := 0
	for _, w := range f.Words() {
		n += bits.OnesCount64(w)
	}
	return n
}

// TestFalsePositiveRate measures how many of 1000 rules that a typical
// signal does not match the bus would still wake for, with the default
// parameters. The design target is at most 1%.
func TestFalsePositiveRate(t *testing.T) {
	m := typicalSignal(t)
	f := ForMessage(Default, m)
	r := rand.New(rand.NewPCG(3, 4))

	rules := nonMatchingRules(t, m, 1000, r)
	fp := falsePositives(Default, f, rules)
	fill := float64(ones(f)) / float64(8*Default.Size)
	t.Logf("typical signal: %d of %d bits set (%.1f%%); %d false positives in %d non-matching rules (%.2f%%); "+
		"one-element mask estimate %.4f%%",
		ones(f), 8*Default.Size, 100*fill, fp, len(rules), 100*float64(fp)/float64(len(rules)),
		100*math.Pow(fill, float64(Default.Hashes)))
	if rate := float64(fp) / float64(len(rules)); rate > 0.01 {
		t.Errorf("false-positive rate %.2f%% is above 1%%", 100*rate)
	}

	if !testing.Short() {
		// A larger sample, for a rate too small to see in 1000.
		const n = 200000
		fp := falsePositives(Default, f, nonMatchingRules(t, m, n, r))
		t.Logf("%d false positives in %d non-matching rules (%.4f%%)", fp, n, 100*float64(fp)/n)
	}
}

// TestFalsePositiveRateHeavy logs how the rate grows for signals with many
// path-like string arguments, whose prefix forms fill a filter fastest, for
// a few filter sizes. It asserts nothing: it is the data for choosing a
// bus's Size.
func TestFalsePositiveRateHeavy(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement only")
	}
	const n = 20000
	for _, nargs := range []int{1, 4, 8, 16} {
		var sig []byte
		var args []any
		for i := range nargs {
			sig = append(sig, 's')
			args = append(args, "/org/example/service/object/child/c"+strconv.Itoa(i))
		}
		m := vectorSignal{"/org/example/service", "org.example.Service", "Changed", wire.Signature(sig), args}.message(t, wire.LittleEndian)
		for _, p := range []Params{Default, {128, 8}, {256, 8}} {
			f := ForMessage(p, m)
			fp := falsePositives(p, f, nonMatchingRules(t, m, n, rand.New(rand.NewPCG(5, 6))))
			t.Logf("%2d path-like arguments, %4d-byte filter: %4d of %5d bits set, %.2f%% false positives",
				nargs, p.Size, ones(f), 8*p.Size, 100*float64(fp)/n)
		}
	}
}
