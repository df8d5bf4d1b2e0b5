package runtime

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// event is the arguments of the test signal: a string, an object path, a signature and a
// number, so that every kind of argument filter has something to match.
type event struct {
	Name string
	Path string
	Sig  string
	N    int32
}

var sigDesc = ServiceDesc{Interface: "org.kdbusgo.SignalTest", Path: "/org/kdbusgo/SignalTest"}

var eventSignal = SignalType[event]{
	Interface: sigDesc.Interface,
	Name:      "Event",
	Args: kdbusimpl.Codec[event]{
		Sig: "sogi",
		Encode: func(e *wire.Encoder, m *event) {
			e.String(m.Name)
			e.ObjectPath(wire.ObjectPath(m.Path))
			e.Signature(wire.Signature(m.Sig))
			e.Int32(m.N)
		},
		Decode: func(d *wire.Decoder, m *event) {
			m.Name = d.String()
			m.Path = string(d.ObjectPath())
			m.Sig = string(d.Signature())
			m.N = d.Int32()
		},
	},
}

// ping makes a round trip from c to peer: the signals peer sent before it answered have been
// delivered to c's subscriptions when ping returns.
func ping(t *testing.T, c *Conn, peer string) {
	t.Helper()
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: peer, Path: "/", Interface: PeerInterface, Member: "Ping"}
	if _, _, err := c.Call(ctx5s(t), m, nil); err != nil {
		t.Fatalf("Ping %s: %v", peer, err)
	}
}

// drain takes every signal waiting in s without blocking.
func drain[T any](s *Signals[T]) []Signal[T] {
	var out []Signal[T]
	for {
		select {
		case v, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, v)
		default:
			return out
		}
	}
}

func numbers(sigs []Signal[event]) []int32 {
	var out []int32
	for _, s := range sigs {
		out = append(out, s.Args.N)
	}
	return out
}

func TestSignalFiltersDeliverExactlyTheMatchingSignals(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		e1, e2, sub := dial(t, d), dial(t, d), dial(t, d)
		obj := NewObject(sub, &sigDesc)
		subscribe := func(opts ...SubscribeOption) *Signals[event] {
			t.Helper()
			s, err := eventSignal.Subscribe(ctx5s(t), obj, append(opts, Buffer(100))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		all := subscribe()
		byName := subscribe(MatchArg("Event", 0, "alpha"))
		byPath := subscribe(MatchArg("Event", 1, "/a/b"))
		bySig := subscribe(MatchArg("Event", 2, "a{sv}"))
		bySender := subscribe(FromSender(e1.UniqueName()))
		both := subscribe(MatchArg("Event", 0, "alpha"), MatchArg("Event", 1, "/a/b"))
		elsewhere := subscribe(FromPath("/elsewhere"))

		events := []struct {
			from *Conn
			ev   event
		}{
			{e1, event{"alpha", "/a/b", "s", 1}},
			{e2, event{"beta", "/a/b", "a{sv}", 2}},
			{e1, event{"alpha", "/", "a{sv}", 3}},     // "/" passes argNpath=/a/b on the bus
			{e1, event{"alpha", "/a/b/c", "as", 4}},   // a path below /a/b: not equal
			{e2, event{"alphabet", "/a", "a{sv}", 5}}, // prefixes are not equal
			{e2, event{"alpha", "/a/b", "", 6}},
			{e1, event{"gamma", "/x", "(ii)", 7}},
		}
		for _, x := range events {
			if err := eventSignal.Emit(NewEmitter(x.from, &sigDesc), &x.ev); err != nil {
				t.Fatal(err)
			}
		}
		ping(t, sub, e1.UniqueName())
		ping(t, sub, e2.UniqueName())
		for _, c := range []struct {
			name string
			s    *Signals[event]
			want []int32
		}{
			{"unfiltered", all, []int32{1, 2, 3, 4, 5, 6, 7}},
			{"arg0 string", byName, []int32{1, 3, 4, 6}},
			{"arg1 object path", byPath, []int32{1, 2, 6}},
			{"arg2 signature", bySig, []int32{2, 3, 5}},
			{"sender", bySender, []int32{1, 3, 4, 7}},
			{"string and path", both, []int32{1, 6}},
			{"other path", elsewhere, nil},
		} {
			// Each sender's signals arrive in order; two senders' interleave as they race.
			got := drain(c.s)
			last := map[string]int32{}
			for _, g := range got {
				if g.Args.N <= last[g.Sender] {
					t.Errorf("%s: signal %d from %s arrived after %d", c.name, g.Args.N, g.Sender, last[g.Sender])
				}
				last[g.Sender] = g.Args.N
			}
			if n := numbers(got); !slices.Equal(slices.Sorted(slices.Values(n)), c.want) {
				t.Errorf("%s: got signals %v, want %v", c.name, n, c.want)
			}
			for _, g := range got {
				if g.Lost != 0 || g.Path != sigDesc.Path || (g.Sender != e1.UniqueName() && g.Sender != e2.UniqueName()) {
					t.Errorf("%s: signal %d arrived as %+v", c.name, g.Args.N, g)
				}
			}
		}
	})
}

func TestSlowSubscriberIsToldWhatItLost(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		em, sub := dial(t, d), dial(t, d)
		s, err := eventSignal.Subscribe(ctx5s(t), NewObject(sub, &sigDesc), FromSender(em.UniqueName()), Buffer(8))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		emitter := NewEmitter(em, &sigDesc)
		const n = 300
		for i := range n {
			if err := eventSignal.Emit(emitter, &event{"x", "/p", "s", int32(i)}); err != nil {
				t.Fatal(err)
			}
		}
		ping(t, sub, em.UniqueName())
		got := drain(s)
		// A last signal, after the subscriber caught up, carries the losses since the buffer
		// filled.
		if err := eventSignal.Emit(emitter, &event{"x", "/p", "s", n}); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-s.C():
			got = append(got, v)
		case <-time.After(20 * time.Second):
			t.Fatal("the last signal did not arrive")
		}
		var told uint64
		next := int32(0)
		for _, g := range got {
			if want := next + int32(g.Lost); g.Args.N != want {
				t.Fatalf("signal %d arrived saying %d were lost before it, after signal %d", g.Args.N, g.Lost, next-1)
			}
			told += g.Lost
			next = g.Args.N + 1
		}
		bus := sub.Stats().Dropped // a native bus may drop broadcasts too; it counts them
		if next != n+1 || uint64(len(got))+told+bus != n+1 || told != s.Lost() {
			t.Fatalf("received %d, told of %d lost (Lost() = %d, bus dropped %d), of %d", len(got), told, s.Lost(), bus, n+1)
		}
		if told == 0 {
			t.Fatalf("a subscriber with a buffer of 8 lost none of %d signals", n)
		}
	})
}

func TestClosingASubscriptionRemovesItsRule(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		em, sub := dial(t, d), dial(t, d)
		s, err := eventSignal.Subscribe(ctx5s(t), NewObject(sub, &sigDesc), FromSender(""))
		if err != nil {
			t.Fatal(err)
		}
		emitter := NewEmitter(em, &sigDesc)
		if err := eventSignal.Emit(emitter, &event{"x", "/p", "s", 1}); err != nil {
			t.Fatal(err)
		}
		ping(t, sub, em.UniqueName())
		if got := drain(s); len(got) != 1 {
			t.Fatalf("got %d signals before Close, want 1", len(got))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-s.C(); ok {
			t.Fatal("the channel is open after Close")
		}
		before := sub.Stats().Received
		for i := range 10 {
			if err := eventSignal.Emit(emitter, &event{"x", "/p", "s", int32(i)}); err != nil {
				t.Fatal(err)
			}
		}
		ping(t, sub, em.UniqueName())
		// Only the ping's reply arrived: the bus no longer sends the signal.
		if got := sub.Stats().Received - before; got != 1 {
			t.Fatalf("the connection received %d messages after its only rule was removed, want 1 (the reply)", got)
		}
	})
}

func TestSubscribeRejectsFiltersThatCannotMatch(t *testing.T) {
	d := bustest.Start(t, bustest.Embedded, dbustest.Config{})
	c := dial(t, d)
	obj := NewObject(c, &sigDesc)
	for _, opt := range []SubscribeOption{
		MatchArg("Other", 0, "x"),   // made for another signal
		MatchArg("Event", 3, "1"),   // a number
		MatchArg("Event", 4, "x"),   // no such argument
		MatchArg("Event", 1, "a/b"), // not an object path
		MatchArg("Event", 2, "a{"),  // not a signature
		FromSender("not a name!"),
	} {
		if s, err := eventSignal.Subscribe(ctx5s(t), obj, opt); err == nil {
			s.Close()
			t.Errorf("Subscribe with %v succeeded", opt)
		} else if !errors.Is(err, &Error{Name: ErrorInvalidArgs}) {
			t.Errorf("Subscribe: %v, want InvalidArgs", err)
		}
	}
}

// TestNativeFiltersKeepSubscribersAsleep checks that on the native transport string argument
// filters reach the bus as bloom masks: signals that do not match never wake the subscriber.
// (Object path filters are argNpath rules, whose masks hold only the path's first element;
// signature filters are checked on arrival.)
func TestNativeFiltersKeepSubscribersAsleep(t *testing.T) {
	d := bustest.Start(t, bustest.KdbusdNative, dbustest.Config{})
	em, sub := dial(t, d), dial(t, d)
	if !sub.Native() {
		t.Fatal("not a native connection")
	}
	s, err := eventSignal.Subscribe(ctx5s(t), NewObject(sub, &sigDesc), MatchArg("Event", 0, "wanted"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	emitter := NewEmitter(em, &sigDesc)
	ping(t, sub, em.UniqueName())
	before := sub.Stats()
	const n = 200
	for i := range n {
		ev := event{"other", "/p/wanted", "s", int32(i)}
		if err := eventSignal.Emit(emitter, &ev); err != nil {
			t.Fatal(err)
		}
	}
	ping(t, sub, em.UniqueName())
	after := sub.Stats()
	// The ping's reply is the one message expected; bloom false positives (well under 1%
	// for these few arguments) would show as more.
	if got := after.Received - before.Received; got > 1+n/100 {
		t.Fatalf("%d non-matching signals delivered %d messages to a filtered subscriber (woke %d times), want only the ping's reply", n, got-1, after.Wakeups-before.Wakeups)
	}
	if got := drain(s); len(got) != 0 {
		t.Fatalf("%d non-matching signals reached the subscription", len(got))
	}
}

// TestWellKnownSenderFollowsTheOwner subscribes to a well-known sender on a connection whose
// other subscription lets every sender's signals in: only the name's owner of the moment gets
// through the first, across a change of owner.
func TestWellKnownSenderFollowsTheOwner(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		const name = "org.kdbusgo.Owner"
		a, b, sub := dial(t, d), dial(t, d), dial(t, d)
		if r, err := a.RequestName(ctx5s(t), name, 0); err != nil || r != NamePrimaryOwner {
			t.Fatalf("RequestName: %v, %v", r, err)
		}
		obj := NewObject(sub, &sigDesc)
		byName, err := eventSignal.Subscribe(ctx5s(t), obj, FromSender(name))
		if err != nil {
			t.Fatal(err)
		}
		defer byName.Close()
		anyone, err := eventSignal.Subscribe(ctx5s(t), obj, FromSender(""))
		if err != nil {
			t.Fatal(err)
		}
		defer anyone.Close()
		emit := func(c *Conn, n int32) {
			if err := eventSignal.Emit(NewEmitter(c, &sigDesc), &event{"x", "/p", "s", n}); err != nil {
				t.Fatal(err)
			}
		}
		emit(a, 1)
		emit(b, 2)
		ping(t, sub, a.UniqueName())
		ping(t, sub, b.UniqueName())
		if _, err := a.ReleaseName(ctx5s(t), name); err != nil {
			t.Fatal(err)
		}
		if r, err := b.RequestName(ctx5s(t), name, 0); err != nil || r != NamePrimaryOwner {
			t.Fatalf("RequestName: %v, %v", r, err)
		}
		emit(a, 3)
		emit(b, 4)
		ping(t, sub, a.UniqueName())
		ping(t, sub, b.UniqueName())
		got := map[string][]int32{}
		for _, s := range drain(byName) {
			got[s.Sender] = append(got[s.Sender], s.Args.N)
		}
		want := map[string][]int32{a.UniqueName(): {1}, b.UniqueName(): {4}}
		if len(got) != 2 || !slices.Equal(got[a.UniqueName()], want[a.UniqueName()]) || !slices.Equal(got[b.UniqueName()], want[b.UniqueName()]) {
			t.Fatalf("the subscription to %s got %v, want %v", name, got, want)
		}
		if n := len(drain(anyone)); n != 4 {
			t.Fatalf("the subscription to every sender got %d signals, want 4", n)
		}
	})
}
