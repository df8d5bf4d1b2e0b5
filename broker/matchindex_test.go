package broker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// recorder is a classic transport that keeps what the bus writes to it, so that routing can
// be tested without sockets.
type recorder struct {
	mu   sync.Mutex
	msgs []*wire.Message
}

func (t *recorder) Recv() (classic.Received, error) {
	return classic.Received{}, errors.New("recorder: nothing to read")
}
func (t *recorder) Send(m *wire.Message, _ []int) error { t.add(m); return nil }
func (t *recorder) TrySend(m *wire.Message, _ []int) (bool, error) {
	t.add(m)
	return true, nil
}
func (t *recorder) Flush() error { return nil }
func (t *recorder) Close() error { return nil }

func (t *recorder) add(m *wire.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.msgs) < 64 {
		t.msgs = append(t.msgs, m)
	}
}

// take returns and forgets what was written.
func (t *recorder) take() []*wire.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.msgs
	t.msgs = nil
	return out
}

// testPeer connects a recorder as uid and says Hello.
func testPeer(tb testing.TB, b *Broker, uid uint32) (*peer, *recorder) {
	tb.Helper()
	t := &recorder{}
	p, err := b.addPeer(t, creds{uid: uid, gid: uid, pid: 1, pidfd: -1}, true)
	if err != nil {
		tb.Fatal(err)
	}
	b.route(p, busCall("Hello", ""), nil, &origin{stable: true})
	if p.unique == "" {
		tb.Fatal("Hello gave no unique name")
	}
	t.take()
	return p, t
}

// busCall is a call to the bus driver.
func busCall(member string, sig wire.Signature, args ...any) *wire.Message {
	body, err := wire.Marshal(wire.NativeOrder, sig, args...)
	if err != nil {
		panic(err)
	}
	return &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodCall, Serial: 1, Destination: busName,
		Path: busPath, Interface: ifaceBus, Member: member, Signature: sig, Body: body,
	}
}

// driverAnswer routes a call to the driver from p and returns its reply.
func driverAnswer(tb testing.TB, b *Broker, p *peer, rec *recorder, m *wire.Message) *wire.Message {
	tb.Helper()
	b.route(p, m, nil, &origin{stable: true})
	for _, r := range rec.take() {
		if (r.Type == wire.MethodReturn || r.Type == wire.Error) && r.ReplySerial == m.Serial {
			return r
		}
	}
	tb.Fatalf("no reply to %s", m.Member)
	return nil
}

// scanBroadcast is what routing did before the index: every rule of every connection, the
// reference the index must agree with. It returns the unique names a broadcast from from
// reaches.
func (b *Broker) scanBroadcast(from *peer, m *wire.Message) []string {
	var out []string
	args := match.ArgsOf(m)
	for q := range b.all {
		if q.unique == "" || q.monitor != nil || q.gone {
			continue
		}
		if slices.ContainsFunc(q.matches, func(e *matchEntry) bool { return e.rule.MatchOwners(m, args, b.ownerOf) }) {
			out = append(out, q.unique)
		}
	}
	slices.Sort(out)
	return out
}

// scanObservers is the reference for the eavesdroppers of a message to dest.
func (b *Broker) scanObservers(from, dest *peer, m *wire.Message) []string {
	var out []string
	args := match.ArgsOf(m)
	for q := range b.all {
		if q == dest || q == from || q.monitor != nil || q.unique == "" {
			continue
		}
		if slices.ContainsFunc(q.matches, func(e *matchEntry) bool { return e.rule.Eavesdrop && e.rule.MatchOwners(m, args, b.ownerOf) }) {
			out = append(out, q.unique)
		}
	}
	slices.Sort(out)
	return out
}

// indexBroadcast and indexObservers ask the index the same questions.
func (b *Broker) indexBroadcast(from *peer, m *wire.Message) []string {
	var out []string
	args := match.ArgsOf(m)
	stamp := b.nextFanOut()
	f := func(e *matchEntry) bool {
		q := e.own.p
		if e.own.stamp != stamp && q.unique != "" && q.monitor == nil && !q.gone && e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			out = append(out, q.unique)
		}
		return true
	}
	b.candidates(&b.match.subs, from, m, f)
	b.candidates(&b.match.eavesdrop, from, m, f)
	slices.Sort(out)
	return out
}

func (b *Broker) indexObservers(from, dest *peer, m *wire.Message) []string {
	var out []string
	args := match.ArgsOf(m)
	stamp := b.nextFanOut()
	b.candidates(&b.match.eavesdrop, from, m, func(e *matchEntry) bool {
		q := e.own.p
		if e.own.stamp != stamp && q != dest && q != from && q.monitor == nil && q.unique != "" && e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			out = append(out, q.unique)
		}
		return true
	})
	slices.Sort(out)
	return out
}

// checkIndex fails when the index and a scan of every rule disagree about m, or when the
// index's books do not balance. Caller holds b.mu.
func (b *Broker) checkIndex(tb testing.TB, from, dest *peer, m *wire.Message) {
	tb.Helper()
	if got, want := b.indexBroadcast(from, m), b.scanBroadcast(from, m); !slices.Equal(got, want) {
		tb.Fatalf("broadcast %v from %v: the index selects %v, a scan of every rule %v", m, from, got, want)
	}
	if got, want := b.indexObservers(from, dest, m), b.scanObservers(from, dest, m); !slices.Equal(got, want) {
		tb.Fatalf("unicast %v: the index finds eavesdroppers %v, a scan of every rule %v", m, got, want)
	}
	held, perUID := 0, map[uint32]int{}
	for q := range b.all {
		held += len(q.matches)
		if len(q.matches) > 0 {
			perUID[q.creds.uid] += len(q.matches)
		}
		if len(q.matches) > b.limits.MaxMatchRulesPerConnection {
			tb.Fatalf("%s holds %d rules, over the limit %d", q.unique, len(q.matches), b.limits.MaxMatchRulesPerConnection)
		}
	}
	if n := b.match.subs.n + b.match.eavesdrop.n; n != held {
		tb.Fatalf("the index holds %d rules, the connections %d", n, held)
	}
	for uid, n := range perUID {
		if b.match.perUID[uid] != n || n > b.limits.MaxMatchRulesPerUser {
			tb.Fatalf("uid %d holds %d rules, charged %d, limit %d", uid, n, b.match.perUID[uid], b.limits.MaxMatchRulesPerUser)
		}
	}
	if len(perUID) != len(b.match.perUID) {
		tb.Fatalf("rules charged to %v, held by %v", b.match.perUID, perUID)
	}
}

// The index gives the same answers as a scan of every rule, for random rules and messages,
// while names change owners and connections come and go.
func TestRuleIndexAgreesWithScan(t *testing.T) {
	b := New(Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	names := []string{"org.example.A", "org.example.B", "org.example.C"}
	var peers []*peer
	var recs []*recorder
	for range 6 {
		p, r := testPeer(t, b, b.uid)
		peers, recs = append(peers, p), append(recs, r)
	}
	randomRule := func() string {
		var keys []string
		if rng.IntN(2) == 0 {
			keys = append(keys, "type='"+pick("signal", "method_call")+"'")
		}
		if rng.IntN(2) == 0 {
			keys = append(keys, "sender='"+pick(append(names, peers[rng.IntN(len(peers))].unique, busName)...)+"'")
		}
		if rng.IntN(2) == 0 {
			keys = append(keys, "path='"+pick("/a", "/a/b", "/c")+"'")
		} else if rng.IntN(3) == 0 {
			keys = append(keys, "path_namespace='"+pick("/a", "/")+"'")
		}
		if rng.IntN(2) == 0 {
			keys = append(keys, "interface='"+pick("org.example.I", "org.example.J")+"'")
		}
		if rng.IntN(2) == 0 {
			keys = append(keys, "member='"+pick("M", "N")+"'")
		}
		if rng.IntN(3) == 0 {
			keys = append(keys, "arg0='"+pick("x", "y")+"'")
		}
		if rng.IntN(4) == 0 {
			keys = append(keys, "eavesdrop='true'")
		}
		return strings.Join(keys, ",")
	}
	randomMessage := func(from *peer) *wire.Message {
		body, _ := wire.Marshal(wire.NativeOrder, "s", pick("x", "y"))
		m := &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Serial: 1, Sender: from.unique,
			Path: wire.ObjectPath(pick("/a", "/a/b", "/c", "/a/bc")), Interface: pick("org.example.I", "org.example.J"),
			Member: pick("M", "N"), Signature: "s", Body: body}
		if rng.IntN(3) == 0 {
			m.Type = wire.MethodCall
		}
		return m
	}
	for step := range 4000 {
		i := rng.IntN(len(peers))
		p, rec := peers[i], recs[i]
		switch rng.IntN(10) {
		case 0, 1, 2:
			driverAnswer(t, b, p, rec, busCall("AddMatch", "s", randomRule()))
		case 3:
			if len(p.matches) > 0 {
				text := p.matches[rng.IntN(len(p.matches))].text
				if r := driverAnswer(t, b, p, rec, busCall("RemoveMatch", "s", text)); r.Type == wire.Error {
					t.Fatalf("RemoveMatch of a rule %s holds: %s", p.unique, r.ErrorName)
				}
			}
		case 4, 5:
			driverAnswer(t, b, p, rec, busCall("RequestName", "su", pick(names...), uint32(rng.IntN(8))))
		case 6:
			driverAnswer(t, b, p, rec, busCall("ReleaseName", "s", pick(names...)))
		case 7:
			if step%5 == 0 {
				b.removePeer(p)
				peers[i], recs[i] = testPeer(t, b, b.uid)
			}
		default:
			dest := peers[rng.IntN(len(peers))]
			m := randomMessage(p)
			b.mu.Lock()
			b.checkIndex(t, p, dest, m)
			b.mu.Unlock()
		}
	}
	if b.match.subs.n+b.match.eavesdrop.n == 0 {
		t.Fatal("no rule was ever held: the test exercised nothing")
	}
}

// A connection that is neither root nor the bus's user cannot eavesdrop, as with dbus-daemon
// 1.14, even where the receive policy would let it see eavesdropped messages; the bus's user
// can.
func TestEavesdroppingNeedsPrivilege(t *testing.T) {
	b := New(Options{})
	other := b.uid + 1000
	if b.uid == 0 {
		other = 1000
	}
	p, rec := testPeer(t, b, other)
	r := driverAnswer(t, b, p, rec, busCall("AddMatch", "s", "eavesdrop='true',type='method_call'"))
	if r.Type != wire.Error || r.ErrorName != errAccessDenied {
		t.Fatalf("uid %d adding an eavesdropping rule got %v %s, want %s", other, r.Type, r.ErrorName, errAccessDenied)
	}
	if r := driverAnswer(t, b, p, rec, busCall("AddMatch", "s", "eavesdrop='false',type='signal'")); r.Type != wire.MethodReturn {
		t.Fatalf("uid %d adding an ordinary rule got %s", other, r.ErrorName)
	}
	q, qrec := testPeer(t, b, b.uid)
	if r := driverAnswer(t, b, q, qrec, busCall("AddMatch", "s", "eavesdrop='true',type='method_call'")); r.Type != wire.MethodReturn {
		t.Fatalf("the bus's own user adding an eavesdropping rule got %s", r.ErrorName)
	}
}

// One user's connections together hold at most max_match_rules_per_user rules, however many
// connections it opens; another user is not affected, and removing rules frees the quota.
func TestMatchRulesPerUser(t *testing.T) {
	b := New(Options{Limits: Limits{MaxMatchRulesPerConnection: 4, MaxMatchRulesPerUser: 10}})
	add := func(p *peer, rec *recorder, i int) *wire.Message {
		return driverAnswer(t, b, p, rec, busCall("AddMatch", "s", fmt.Sprintf("type='signal',member='M%d'", i)))
	}
	accepted := 0
	var last *peer
	var lastRec *recorder
	for range 5 {
		p, rec := testPeer(t, b, b.uid)
		for i := range 4 {
			if r := add(p, rec, i); r.Type == wire.MethodReturn {
				accepted++
			} else if r.ErrorName != errLimitsExceeded {
				t.Fatalf("AddMatch over the limit failed with %s, want %s", r.ErrorName, errLimitsExceeded)
			}
		}
		last, lastRec = p, rec
	}
	if accepted != 10 {
		t.Fatalf("one user's connections got %d rules accepted, want the per-user limit 10", accepted)
	}
	other, orec := testPeer(t, b, b.uid+1)
	if r := add(other, orec, 0); r.Type != wire.MethodReturn {
		t.Fatalf("another user's rule was refused: %s", r.ErrorName)
	}
	first := slices.Collect(func(yield func(*peer) bool) {
		for q := range b.all {
			if q.creds.uid == b.uid && len(q.matches) > 0 && !yield(q) {
				return
			}
		}
	})[0]
	b.removePeer(first)
	if r := add(last, lastRec, 0); r.Type != wire.MethodReturn {
		t.Fatalf("a rule was refused after a connection holding rules left: %s", r.ErrorName)
	}
}

// A unicast nobody observes visits no rule, however many rules idle connections hold.
func TestUnobservedUnicastVisitsNoRule(t *testing.T) {
	b := New(Options{})
	for i := range 50 {
		p, rec := testPeer(t, b, b.uid)
		for j := range 10 {
			driverAnswer(t, b, p, rec, busCall("AddMatch", "s", fmt.Sprintf("type='signal',interface='org.example.Idle%d',member='M%d'", i, j)))
		}
	}
	a, arec := testPeer(t, b, b.uid)
	c, _ := testPeer(t, b, b.uid)
	before := b.match.visited
	for range 100 {
		b.route(a, &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected, Serial: 2,
			Destination: c.unique, Path: "/x", Interface: "org.example.X", Member: "Ping"}, nil, &origin{stable: true})
		driverAnswer(t, b, a, arec, busCall("GetNameOwner", "s", busName))
	}
	if n := b.match.visited - before; n != 0 {
		t.Fatalf("100 unicasts and 100 driver calls visited %d match rules; with 500 idle rules none can select them", n)
	}
}
