package broker_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/types/known/emptypb"
)

// These tests check that lanes keep every guarantee the bus gives when it routes: order,
// policy, monitoring, credentials, name ownership, failure on death, deadlines and flow
// control. Each one checks that a lane was in use (Record.Lane, LanesOpened) where the
// guarantee would otherwise be tested on the bus alone.

// laneWait bounds the wait for an effect that should come at once: it only catches hangs.
const laneWait = 20 * time.Second

// lanePeer is a native connection whose reader hands replies to the calls that wait for them
// and every other message that is not from the bus to its handler.
type lanePeer struct {
	c      *native.Conn
	handle func(p *lanePeer, r *native.Received)

	mu      sync.Mutex
	waiting map[uint32]chan laneReply
}

// laneReply is a reply with its record; the message's body is a copy of its own.
type laneReply struct {
	msg *wire.Message
	rec native.Record
}

// newLanePeer connects to e's native socket. handle runs on the reader, one message at a
// time; nil drops what arrives.
func newLanePeer(t *testing.T, e *broker.Embedded, opts native.Options, handle func(p *lanePeer, r *native.Received)) *lanePeer {
	t.Helper()
	p := &lanePeer{c: dialNative(t, e, opts), handle: handle, waiting: map[uint32]chan laneReply{}}
	go p.read()
	return p
}

func (p *lanePeer) read() {
	for {
		r, err := p.c.Recv()
		if err != nil {
			return
		}
		if t := r.Msg.Type; t == wire.MethodReturn || t == wire.Error {
			p.mu.Lock()
			ch := p.waiting[r.Msg.ReplySerial]
			delete(p.waiting, r.Msg.ReplySerial)
			p.mu.Unlock()
			if ch != nil {
				ch <- laneReply{msg: copyMsg(r.Msg), rec: r.Record}
				closeAll(r.FDs)
				p.c.Release(&r)
				continue
			}
		}
		if p.handle != nil && r.Msg.Sender != "org.freedesktop.DBus" {
			p.handle(p, &r)
		}
		closeAll(r.FDs)
		p.c.Release(&r)
	}
}

func copyMsg(m *wire.Message) *wire.Message {
	c := *m
	c.Body = append([]byte(nil), m.Body...)
	return &c
}

// send sends m and returns a channel that gets its reply.
func (p *lanePeer) send(ctx context.Context, m *wire.Message) (<-chan laneReply, error) {
	m.Serial = p.c.NextSerial()
	ch := make(chan laneReply, 1)
	p.mu.Lock()
	p.waiting[m.Serial] = ch
	p.mu.Unlock()
	if err := p.c.SendCall(ctx, m, nil, native.SendOptions{}); err != nil {
		p.mu.Lock()
		delete(p.waiting, m.Serial)
		p.mu.Unlock()
		return nil, err
	}
	return ch, nil
}

// call sends m and waits for its reply, failing the test if none comes.
func (p *lanePeer) call(t *testing.T, m *wire.Message) laneReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), laneWait)
	defer cancel()
	ch, err := p.send(ctx, m)
	if err != nil {
		t.Fatalf("sending %s: %v", m, err)
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("no reply to %s within %v", m, laneWait)
	}
	panic("unreachable")
}

// busCall calls a method of the bus driver and fails the test on an error reply.
func (p *lanePeer) busCall(t *testing.T, iface, member string, sig wire.Signature, args ...any) *wire.Message {
	t.Helper()
	body, err := wire.Marshal(wire.NativeOrder, sig, args...)
	if err != nil {
		t.Fatal(err)
	}
	r := p.call(t, &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: "org.freedesktop.DBus",
		Path: "/org/freedesktop/DBus", Interface: iface, Member: member, Signature: sig, Body: body})
	if r.msg.Type == wire.Error {
		t.Fatalf("%s.%s: %s", iface, member, r.msg.ErrorName)
	}
	return r.msg
}

// reply answers the call r with its counter.
func (p *lanePeer) reply(r *native.Received) error {
	body, _ := wire.Marshal(wire.NativeOrder, "u", counter(r.Msg))
	return p.c.Send(&wire.Message{Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: r.Msg.Serial,
		Destination: r.Msg.Sender, Signature: "u", Body: body}, nil)
}

// echo is a handler that answers every call that expects a reply.
func echo(p *lanePeer, r *native.Received) {
	if r.Msg.Type == wire.MethodCall && r.Msg.Flags&wire.FlagNoReplyExpected == 0 {
		p.reply(r)
	}
}

// laneCall is a call with a counter that expects a reply.
func laneCall(dest string, n int) *wire.Message {
	m := oneWay(dest, n, 0)
	m.Flags = 0
	return m
}

// broadcast is a signal with a counter, for whoever subscribes to org.kdbusgo.T.
func broadcast(n int) *wire.Message {
	body, _ := wire.Marshal(wire.NativeOrder, "uay", uint32(n), []byte{})
	return &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/t", Interface: "org.kdbusgo.T", Member: "S", Signature: "uay", Body: body}
}

// untilLane calls dest from p until a reply comes back over a lane.
func untilLane(t *testing.T, p *lanePeer, dest string) {
	t.Helper()
	start := time.Now()
	for n := 1; ; n++ {
		if r := p.call(t, laneCall(dest, n)); r.rec.Lane {
			return
		}
		if time.Since(start) > laneWait {
			t.Fatalf("none of %d calls to %s was answered over a lane", n, dest)
		}
	}
}

// waitUntil polls cond until it holds, failing the test after laneWait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(laneWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v", what, laneWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// orderLog checks that every sender's counters arrive as 1, 2, 3, ...
type orderLog struct {
	t         *testing.T
	mu        sync.Mutex
	last      map[string]uint32
	total     int
	lane, bus int
}

func newOrderLog(t *testing.T) *orderLog { return &orderLog{t: t, last: map[string]uint32{}} }

func (o *orderLog) add(r *native.Received) {
	n := counter(r.Msg)
	o.mu.Lock()
	defer o.mu.Unlock()
	if want := o.last[r.Msg.Sender] + 1; n != want {
		o.t.Errorf("from %s: %s %d (lane %v) arrived where %d was due", r.Msg.Sender, r.Msg.Type, n, r.Record.Lane, want)
	}
	o.last[r.Msg.Sender] = n
	o.total++
	if r.Record.Lane {
		o.lane++
	} else {
		o.bus++
	}
}

func (o *orderLog) seen(sender string) uint32 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last[sender]
}

func (o *orderLog) counts() (total, lane, bus int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total, o.lane, o.bus
}

// A sender's unicasts, which take the lane once it is open, and its broadcasts, which go
// through the bus, reach a receiver that takes both in the order they were sent, with
// several senders at once.
func TestLaneOrderAcrossPaths(t *testing.T) {
	e := startBroker(t, broker.Options{})
	log := newOrderLog(t)
	var laneSignals atomic.Int64
	// A pool large enough for the large messages that go through the bus before a lane opens.
	recv := newLanePeer(t, e, native.Options{PoolSize: 64 << 20}, func(p *lanePeer, r *native.Received) {
		if r.Msg.Type == wire.Signal && r.Record.Lane {
			laneSignals.Add(1)
		}
		log.add(r)
	})
	recv.busCall(t, "org.freedesktop.DBus", "AddMatch", "s", "type='signal',interface='org.kdbusgo.T'")
	const senders, each, window = 4, 2000, 200
	var wg sync.WaitGroup
	for k := range senders {
		// Bus messages inline, in the send area and in memfds of their own.
		s := newLanePeer(t, e, native.Options{InlineMax: []int{-1, 0, 1 << 20, 100}[k]}, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				m := broadcast(i)
				switch {
				case i%500 == 1:
					// Larger than half a lane's ring: over a lane, in a memfd of its own.
					m = oneWay(recv.c.UniqueName(), i, native.DefaultLaneRing/2+1)
				case i%2 == 1:
					m = oneWay(recv.c.UniqueName(), i, 16*(i%8))
				}
				if err := s.c.Send(m, nil); err != nil {
					t.Error(err)
					return
				}
				// Keep well within the receiver's quotas, so that no broadcast is dropped.
				if i%window == 0 {
					deadline := time.Now().Add(laneWait)
					for log.seen(s.c.UniqueName()) < uint32(i-window/2) {
						if time.Now().After(deadline) {
							t.Errorf("%s: the receiver is stuck at %d of %d", s.c.UniqueName(), log.seen(s.c.UniqueName()), i)
							return
						}
						time.Sleep(time.Millisecond)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), laneWait)
			defer cancel()
			if err := s.c.Sync(ctx); err != nil {
				t.Errorf("%s: %v", s.c.UniqueName(), err)
			}
		}()
	}
	wg.Wait()
	waitUntil(t, "every message delivered", func() bool { n, _, _ := log.counts(); return n >= senders*each })
	total, lane, bus := log.counts()
	t.Logf("%d messages: %d over lanes, %d through the bus", total, lane, bus)
	if total != senders*each {
		t.Errorf("%d messages delivered, %d sent", total, senders*each)
	}
	if lane == 0 {
		t.Error("no unicast came over a lane")
	}
	if n := laneSignals.Load(); n != 0 {
		t.Errorf("%d broadcasts came over a lane", n)
	}
}

// A connection's first messages to a new peer go through the bus while it asks for a lane;
// the switch to the lane keeps their order: no-reply calls and calls alternate, and the
// receiver sees them as sent.
func TestLaneOrderAcrossTheSwitch(t *testing.T) {
	e := startBroker(t, broker.Options{})
	log := newOrderLog(t)
	recv := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
		log.add(r)
		echo(p, r)
	})
	for range 10 {
		s := newLanePeer(t, e, native.Options{}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), laneWait)
		var replies []<-chan laneReply
		laned := false
		for i := 1; !laned; i += 2 {
			if i > 4000 {
				t.Fatalf("%s: no reply came over a lane in %d messages", s.c.UniqueName(), i)
			}
			if err := s.c.Send(oneWay(recv.c.UniqueName(), i, 8), nil); err != nil {
				t.Fatal(err)
			}
			ch, err := s.send(ctx, laneCall(recv.c.UniqueName(), i+1))
			if err != nil {
				t.Fatal(err)
			}
			replies = append(replies, ch)
			// Look at the replies that came, waiting for the oldest when many are out: the
			// burst ends once one took the lane.
			for len(replies) > 0 {
				var r laneReply
				if len(replies) >= 32 {
					select {
					case r = <-replies[0]:
					case <-ctx.Done():
						t.Fatal("a call got no reply")
					}
				} else {
					select {
					case r = <-replies[0]:
					default:
					}
				}
				if r.msg == nil {
					break
				}
				replies = replies[1:]
				laned = laned || r.rec.Lane
			}
		}
		for _, ch := range replies {
			select {
			case <-ch:
			case <-ctx.Done():
				t.Fatal("a call got no reply")
			}
		}
		cancel()
	}
	total, lane, bus := log.counts()
	t.Logf("%d messages: %d over lanes, %d through the bus", total, lane, bus)
	if lane == 0 || bus == 0 {
		t.Errorf("the messages did not switch from the bus to a lane: %d through the bus, %d over lanes", bus, lane)
	}
}

// policyOf compiles the <policy> elements of a configuration.
func policyOf(t *testing.T, policy string) *config.Policy {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><listen>unix:path=/nonexistent/bus</listen><policy context="default">`+policy+`</policy></busconfig>`), "lane-test.conf", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Policy
}

// allowAll is the policy every test bus runs with: it looks at no message.
const allowAll = `<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>`

// A policy that looks at the messages two peers exchange keeps them off lanes, so that the
// bus still checks each one; a policy that lets everything through lets them take a lane.
func TestLanePolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		lanes  bool
	}{
		{"deny an interface", allowAll + `<deny send_interface="org.kdbusgo.Denied"/>`, false},
		{"deny receiving an interface", allowAll + `<deny receive_interface="org.kdbusgo.Denied"/>`, false},
		{"allow everything", allowAll, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startBroker(t, broker.Options{Policy: policyOf(t, tc.policy)})
			var laneCalls, denied atomic.Int64
			b := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
				if r.Record.Lane {
					laneCalls.Add(1)
				}
				if r.Msg.Interface == "org.kdbusgo.Denied" {
					denied.Add(1)
				}
				echo(p, r)
			})
			a := newLanePeer(t, e, native.Options{}, nil)
			if tc.lanes {
				untilLane(t, a, b.c.UniqueName())
				if n := eavesdropStat(t, e, "LanesOpened"); n != 1 {
					t.Errorf("LanesOpened = %d, want 1", n)
				}
				return
			}
			for i := 1; i <= 200; i++ {
				if r := a.call(t, laneCall(b.c.UniqueName(), i)); r.rec.Lane || r.msg.Type != wire.MethodReturn {
					t.Fatalf("reply %d: %s %s (lane %v), want a return through the bus", i, r.msg.Type, r.msg.ErrorName, r.rec.Lane)
				}
			}
			for i := range 20 {
				m := laneCall(b.c.UniqueName(), i)
				m.Interface = "org.kdbusgo.Denied"
				if r := a.call(t, m); r.msg.Type != wire.Error || r.msg.ErrorName != "org.freedesktop.DBus.Error.AccessDenied" {
					t.Fatalf("a call the policy denies got %s %s (lane %v), want AccessDenied", r.msg.Type, r.msg.ErrorName, r.rec.Lane)
				}
			}
			if n := laneCalls.Load(); n != 0 {
				t.Errorf("%d calls came over a lane", n)
			}
			if n := denied.Load(); n != 0 {
				t.Errorf("%d calls the policy denies were delivered", n)
			}
			if n := eavesdropStat(t, e, "LanesOpened"); n != 0 {
				t.Errorf("LanesOpened = %d, want 0", n)
			}
		})
	}
}

// observed is a message an observer saw, as far as the tests compare it.
type observed struct {
	typ                 wire.MessageType
	sender, dest        string
	serial, replySerial uint32
}

// observer watches unicasts on a bus and leaves.
type observer struct {
	mu    sync.Mutex
	log   []observed
	leave func()
}

func (o *observer) add(m *wire.Message) {
	o.mu.Lock()
	o.log = append(o.log, observed{m.Type, m.Sender, m.Destination, m.Serial, m.ReplySerial})
	o.mu.Unlock()
}

// between returns what the observer saw pass between a and b.
func (o *observer) between(a, b string) []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []observed
	for _, m := range o.log {
		if m.sender == a && m.dest == b || m.sender == b && m.dest == a {
			out = append(out, m)
		}
	}
	return out
}

// nativeMonitor makes a native connection a monitor.
func nativeMonitor(t *testing.T, e *broker.Embedded) *observer {
	o := &observer{}
	p := newLanePeer(t, e, native.Options{}, func(_ *lanePeer, r *native.Received) { o.add(r.Msg) })
	p.busCall(t, "org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", []string{}, uint32(0))
	o.leave = func() { p.c.Close() }
	return o
}

// classicObserver connects a classic client that makes itself an observer with the call to
// the bus driver that become makes.
func classicObserver(t *testing.T, e *broker.Embedded, become func(c *classic.Conn) *wire.Message) *observer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), laneWait)
	defer cancel()
	c, err := classic.Dial(ctx, e.ClassicAddress, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	o := &observer{leave: func() { c.Close() }}
	answered := make(chan *wire.Message, 1)
	m := become(c)
	m.Serial = c.NextSerial()
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			closeAll(r.FDs)
			if r.Msg.Sender == "org.freedesktop.DBus" && r.Msg.ReplySerial == m.Serial {
				answered <- r.Msg
				continue
			}
			o.add(r.Msg)
		}
	}()
	if err := c.Send(m, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-answered:
		if r.Type != wire.MethodReturn {
			t.Fatalf("%s: %s", m.Member, r.ErrorName)
		}
	case <-time.After(laneWait):
		t.Fatalf("no answer to %s", m.Member)
	}
	return o
}

func driverCall(iface, member string, sig wire.Signature, args ...any) *wire.Message {
	body, _ := wire.Marshal(wire.LittleEndian, sig, args...)
	return &wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Destination: "org.freedesktop.DBus",
		Path: "/org/freedesktop/DBus", Interface: iface, Member: member, Signature: sig, Body: body}
}

// While a monitor or an eavesdropper watches, the calls and replies between two peers that
// share a lane go through the bus, and it sees every one, in order; once it leaves, the lane
// carries them again.
func TestLaneObservers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, e *broker.Embedded) *observer
	}{
		{"native monitor", nativeMonitor},
		{"classic monitor", func(t *testing.T, e *broker.Embedded) *observer {
			return classicObserver(t, e, func(*classic.Conn) *wire.Message {
				return driverCall("org.freedesktop.DBus.Monitoring", "BecomeMonitor", "asu", []string{}, uint32(0))
			})
		}},
		{"eavesdropper", func(t *testing.T, e *broker.Embedded) *observer {
			return classicObserver(t, e, func(*classic.Conn) *wire.Message {
				return driverCall("org.freedesktop.DBus", "AddMatch", "s", "eavesdrop='true',interface='org.kdbusgo.T'")
			})
		}},
		{"eavesdropper on replies", func(t *testing.T, e *broker.Embedded) *observer {
			// Replies carry no interface: this rule selects them and no call.
			return classicObserver(t, e, func(*classic.Conn) *wire.Message {
				return driverCall("org.freedesktop.DBus", "AddMatch", "s", "eavesdrop='true',type='method_return'")
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startBroker(t, broker.Options{})
			var laneCalls atomic.Int64
			b := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
				if r.Record.Lane {
					laneCalls.Add(1)
				}
				echo(p, r)
			})
			a := newLanePeer(t, e, native.Options{}, nil)
			untilLane(t, a, b.c.UniqueName())
			o := tc.start(t, e)
			before := laneCalls.Load()
			const n = 100
			var serials []uint32
			for i := 1; i <= n; i++ {
				m := laneCall(b.c.UniqueName(), i)
				r := a.call(t, m)
				if r.rec.Lane {
					t.Fatalf("reply %d came over the lane while an observer watched", i)
				}
				serials = append(serials, m.Serial)
			}
			if d := laneCalls.Load() - before; d != 0 {
				t.Fatalf("%d calls came over the lane while an observer watched", d)
			}
			calls := tc.name != "eavesdropper on replies"
			replies := tc.name != "eavesdropper"
			want := 0
			if calls {
				want += n
			}
			if replies {
				want += n
			}
			waitUntil(t, "the observer saw every call and reply", func() bool {
				return len(o.between(a.c.UniqueName(), b.c.UniqueName())) >= want
			})
			seen := o.between(a.c.UniqueName(), b.c.UniqueName())
			if len(seen) != want {
				t.Fatalf("the observer saw %d messages between the peers, want %d", len(seen), want)
			}
			for i, s := range serials {
				var call, reply observed
				switch {
				case calls && replies:
					call, reply = seen[2*i], seen[2*i+1]
				case calls:
					call = seen[i]
				default:
					reply = seen[i]
				}
				if calls && (call.typ != wire.MethodCall || call.serial != s || call.sender != a.c.UniqueName()) {
					t.Fatalf("observed message %d: %+v, want call %d from %s", i, call, s, a.c.UniqueName())
				}
				if replies && (reply.typ != wire.MethodReturn || reply.replySerial != s || reply.sender != b.c.UniqueName()) {
					t.Fatalf("observed message %d: %+v, want the reply to %d from %s", i, reply, s, b.c.UniqueName())
				}
			}
			o.leave()
			untilLane(t, a, b.c.UniqueName())
		})
	}
}

// A message that comes over a lane carries its sender's unique name and the credentials the
// kernel attached to it.
func TestLaneCredentials(t *testing.T) {
	e := startBroker(t, broker.Options{})
	got := make(chan native.Received, 1)
	b := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
		if r.Record.Lane {
			rr := *r
			rr.Msg = copyMsg(r.Msg)
			select {
			case got <- rr:
			default:
			}
		}
		echo(p, r)
	})
	a := newLanePeer(t, e, native.Options{}, nil)
	untilLane(t, a, b.c.UniqueName())
	// The sender's header claims to be the bus: the lane says who sent it.
	m := oneWay(b.c.UniqueName(), 1, 8)
	m.Sender = "org.freedesktop.DBus"
	if err := a.c.Send(m, nil); err != nil {
		t.Fatal(err)
	}
	var r native.Received
	select {
	case r = <-got:
	case <-time.After(laneWait):
		t.Fatal("nothing came over the lane")
	}
	if r.Msg.Sender != a.c.UniqueName() || r.Record.Sender != a.c.ID() {
		t.Errorf("sender %q (id %d), want %q (id %d)", r.Msg.Sender, r.Record.Sender, a.c.UniqueName(), a.c.ID())
	}
	if !r.Record.HasCreds || r.Record.UID != uint32(os.Getuid()) || r.Record.GID != uint32(os.Getgid()) || r.Record.PID != uint32(os.Getpid()) {
		t.Errorf("credentials %+v, want uid %d gid %d pid %d", r.Record, os.Getuid(), os.Getgid(), os.Getpid())
	}
}

// A call to a well-known name goes to its owner of the moment: after the name changes hands,
// the next call reaches the new owner, not the lane to the old one.
func TestLaneFollowsNameOwner(t *testing.T) {
	e := startBroker(t, broker.Options{})
	const name = "org.kdbusgo.Lanes.N"
	type arrival struct {
		n    uint32
		lane bool
	}
	server := func() (*lanePeer, chan arrival) {
		ch := make(chan arrival, 16)
		return newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
			select {
			case ch <- arrival{counter(r.Msg), r.Record.Lane}:
			default:
			}
			echo(p, r)
		}), ch
	}
	b, atB := server()
	c, atC := server()
	b.busCall(t, "org.freedesktop.DBus", "RequestName", "su", name, uint32(4)) // DO_NOT_QUEUE
	a := newLanePeer(t, e, native.Options{}, nil)
	untilLane(t, a, name)
	for len(atB) > 0 {
		<-atB
	}
	b.busCall(t, "org.freedesktop.DBus", "ReleaseName", "s", name)
	c.busCall(t, "org.freedesktop.DBus", "RequestName", "su", name, uint32(4))
	for i := 1; i <= 50; i++ {
		r := a.call(t, laneCall(name, 1000+i))
		if r.msg.Type != wire.MethodReturn || r.msg.Sender != c.c.UniqueName() {
			t.Fatalf("call %d to %s after it moved: %s %s from %s, want a return from the new owner %s", i, name, r.msg.Type, r.msg.ErrorName, r.msg.Sender, c.c.UniqueName())
		}
		if got := <-atC; got.n != uint32(1000+i) {
			t.Fatalf("the new owner got call %d, want %d", got.n, 1000+i)
		}
	}
	select {
	case got := <-atB:
		t.Fatalf("the old owner got call %d (lane %v) after it released %s", got.n, got.lane, name)
	default:
	}
}

// callsPending makes n calls from a to b that b receives over their lane and never answers,
// and returns the channels their replies come on.
func callsPending(t *testing.T, a *lanePeer, b string, held *atomic.Int64, n int) []<-chan laneReply {
	t.Helper()
	var out []<-chan laneReply
	for i := range n {
		// No deadline: only the peer's end can end these calls.
		ch, err := a.send(context.Background(), laneCall(b, 1000+i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ch)
	}
	waitUntil(t, "the calls reached the callee over the lane", func() bool { return held.Load() >= int64(n) })
	return out
}

// expectNoReply waits for NoReply errors on every channel.
func expectNoReply(t *testing.T, chs []<-chan laneReply) {
	t.Helper()
	for i, ch := range chs {
		select {
		case r := <-ch:
			if r.msg.Type != wire.Error || r.msg.ErrorName != "org.freedesktop.DBus.Error.NoReply" {
				t.Errorf("call %d: %s %s, want NoReply", i, r.msg.Type, r.msg.ErrorName)
			}
		case <-time.After(laneWait):
			t.Fatalf("call %d is still waiting %v after its callee left", i, laneWait)
		}
	}
}

// Calls waiting over a lane fail with NoReply as soon as the callee closes its connection,
// whichever end made the lane.
func TestLaneCalleeCloses(t *testing.T) {
	for _, dir := range []string{"asker calls", "asked calls"} {
		t.Run(dir, func(t *testing.T) {
			e := startBroker(t, broker.Options{})
			var heldA, heldB atomic.Int64
			// Each end answers the calls with counters below 1000, which open the lane, and
			// holds the others.
			holder := func(held *atomic.Int64) func(p *lanePeer, r *native.Received) {
				return func(p *lanePeer, r *native.Received) {
					if counter(r.Msg) < 1000 {
						echo(p, r)
					} else if r.Record.Lane {
						held.Add(1)
					}
				}
			}
			a := newLanePeer(t, e, native.Options{}, holder(&heldA))
			b := newLanePeer(t, e, native.Options{}, holder(&heldB))
			untilLane(t, a, b.c.UniqueName())
			caller, callee, held := a, b, &heldB
			if dir == "asked calls" {
				caller, callee, held = b, a, &heldA
			}
			pending := callsPending(t, caller, callee.c.UniqueName(), held, 5)
			callee.c.Close()
			expectNoReply(t, pending)
		})
	}
}

// A sender that outruns a lane's receiver waits for room in its ring; once the receiver has
// made no room for a while, the sender's messages go through the bus instead, whose quotas
// hold the receiver's pool to its share: no send wedges, memory stays bounded on both ends,
// and every message is delivered, in order, or reported refused.
func TestLaneFlowControl(t *testing.T) {
	e := startBroker(t, broker.Options{})
	gate := make(chan struct{})
	var delivered, overLane atomic.Int64
	var last atomic.Uint32
	var outOfOrder atomic.Bool
	recv := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
		n := counter(r.Msg)
		if n < 1000 {
			echo(p, r) // the calls that open the lane
			return
		}
		<-gate // the receiver stops reading at the first message of the flood
		if n <= last.Swap(n) {
			outOfOrder.Store(true)
		}
		delivered.Add(1)
		if r.Record.Lane {
			overLane.Add(1)
		}
	})
	sender := newLanePeer(t, e, native.Options{}, nil)
	untilLane(t, sender, recv.c.UniqueName())
	const size = 64 << 10
	// The ring holds DefaultLaneRing/size of them; the receiver's reader may have taken up
	// to 64 more (one round of serviceLane) into its queue before its handler stopped; the
	// rest must meet the full ring.
	sent := native.DefaultLaneRing/size + 64 + 48
	done := make(chan error, 1)
	go func() {
		for i := range sent {
			if err := sender.c.Send(oneWay(recv.c.UniqueName(), 1000+i, size), nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(laneWait):
		t.Fatal("a send to a receiver that does not read never returned")
	}
	close(gate)
	ctx, cancel := context.WithTimeout(context.Background(), laneWait)
	defer cancel()
	sender.c.Sync(ctx) // the refusals, reported in bulk
	undelivered := int64(sender.c.Stats().Undelivered)
	waitUntil(t, "every message delivered or refused", func() bool { return delivered.Load()+undelivered >= int64(sent) })
	if n := delivered.Load(); n+undelivered != int64(sent) || outOfOrder.Load() {
		t.Fatalf("%d delivered and %d refused of %d sent (out of order: %v)", n, undelivered, sent, outOfOrder.Load())
	}
	if overLane.Load() == 0 || overLane.Load() == delivered.Load() && undelivered == 0 {
		t.Fatalf("%d of %d came over the lane, %d refused: the flood should have filled the ring and then met the bus", overLane.Load(), delivered.Load(), undelivered)
	}
	t.Logf("%d messages of %d bytes: %d over the lane, %d through the bus, %d refused by the bus", sent, size, overLane.Load(), delivered.Load()-overLane.Load(), undelivered)
	// The lane carries messages again once the receiver reads.
	before := overLane.Load()
	if err := sender.c.SendCall(ctx, oneWay(recv.c.UniqueName(), 1000+sent, size), nil, native.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the receiver read the last message", func() bool { return delivered.Load()+undelivered > int64(sent) })
	if overLane.Load() == before {
		t.Error("the lane stayed unused after the receiver caught up")
	}
}

// laneBench is the benchmark service whose Ping, given a payload, holds the call until its
// caller gives up; it counts what came over a lane (a call the bus did not number).
type laneBench struct {
	*bench.Server
	laned atomic.Int64
}

func (s *laneBench) Ping(ctx context.Context, req *benchv1.PingRequest) (*benchv1.PingReply, error) {
	if runtime.CallerFrom(ctx).Seqnum() == 0 {
		s.laned.Add(1)
	}
	if len(req.GetPayload()) > 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &benchv1.PingReply{}, nil
}

func (s *laneBench) Notify(ctx context.Context, req *benchv1.NotifyRequest) (*emptypb.Empty, error) {
	if runtime.CallerFrom(ctx).Seqnum() == 0 {
		s.laned.Add(1)
	}
	return s.Server.Notify(ctx, req)
}

// Over a lane, a call's deadline still ends it, a no-reply call with WaitDelivery returns
// once delivered, and Sync returns once every no-reply call sent before it is delivered.
func TestLaneDeadlinesAndDelivery(t *testing.T) {
	e := startBroker(t, broker.Options{})
	srvConn := dial(t, e.Address)
	srv := &laneBench{Server: bench.NewServer()}
	if err := benchv1.RegisterBenchServer(srvConn, srv); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, e.Address)
	if !conn.Native() {
		t.Fatal("the client did not connect natively")
	}
	client := benchv1.NewBenchClient(conn, runtime.WithDestination(srvConn.UniqueName()))
	waitUntil(t, "a call came over a lane", func() bool {
		if _, err := client.Ping(ctxTimeout(t, laneWait), &benchv1.PingRequest{}); err != nil {
			t.Fatal(err)
		}
		return srv.laned.Load() > 0
	})

	laned := srv.laned.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := client.Ping(ctx, &benchv1.PingRequest{Payload: []byte("hold")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call whose handler outlives its 200ms deadline: %v, want the deadline", err)
	}
	// The handler may start late on a loaded machine; it must start, over the lane.
	waitUntil(t, "the held call came over the lane", func() bool { return srv.laned.Load() == laned+1 })

	if _, err := client.Notify(ctxTimeout(t, laneWait), &benchv1.NotifyRequest{Payload: []byte("x")}, runtime.WaitDelivery()); err != nil {
		t.Fatalf("a no-reply call with WaitDelivery: %v", err)
	}
	waitUntil(t, "the no-reply call arrived", func() bool { return srv.Notified.Load() == 1 })
	const n = 2000
	for range n {
		if _, err := client.Notify(ctxTimeout(t, laneWait), &benchv1.NotifyRequest{Payload: make([]byte, 64)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Sync(ctxTimeout(t, laneWait)); err != nil {
		t.Fatalf("Sync after %d no-reply calls: %v", n, err)
	}
	waitUntil(t, "every no-reply call arrived", func() bool { return srv.Notified.Load() >= n+1 })
	if got := srv.Notified.Load(); got != n+1 {
		t.Errorf("%d no-reply calls arrived, %d sent", got, n+1)
	}
	if got := srv.laned.Load() - laned - 1; got != n+1 {
		t.Errorf("%d of %d no-reply calls came over the lane", got, n+1)
	}
}
