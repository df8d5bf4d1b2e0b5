package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

func dialNative(t testing.TB, e *broker.Embedded, opts native.Options) *native.Conn {
	t.Helper()
	list, err := address.Parse(e.NativeAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := native.Dial(ctx, list[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// drain reads c until it closes, passing every message that is not from the bus to f and
// releasing it afterwards.
func drain(c *native.Conn, f func(r *native.Received)) {
	for {
		r, err := c.Recv()
		if err != nil {
			return
		}
		if r.Msg.Sender != "org.freedesktop.DBus" {
			f(&r)
		}
		c.Release(&r)
	}
}

func oneWay(dest string, n int, payload int) *wire.Message {
	body, _ := wire.Marshal(wire.NativeOrder, "uay", uint32(n), make([]byte, payload))
	return &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected,
		Destination: dest, Path: "/t", Interface: "org.kdbusgo.T", Member: "M", Signature: "uay", Body: body,
	}
}

func counter(m *wire.Message) uint32 {
	vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		panic(err)
	}
	return vals[0].(uint32)
}

// Messages from one sender arrive in the order sent, whatever else is going on; sequence
// numbers grow with it.
func TestNativeOrderPerSender(t *testing.T) {
	e := startBroker(t, broker.Options{})
	recv := dialNative(t, e, native.Options{})
	const senders, each = 4, 300
	type last struct {
		n            uint32
		seq, sendSeq uint64
	}
	var mu sync.Mutex
	seen := map[string]*last{}
	total := 0
	done := make(chan struct{})
	go drain(recv, func(r *native.Received) {
		mu.Lock()
		defer mu.Unlock()
		l := seen[r.Msg.Sender]
		if l == nil {
			l = &last{}
			seen[r.Msg.Sender] = l
		}
		n := counter(r.Msg)
		// Over a lane a message has no bus sequence number; a native sender's own count
		// orders its messages whichever way they went.
		if n != l.n+1 || r.Record.SendSeq != 0 && r.Record.SendSeq <= l.sendSeq || !r.Record.Lane && r.Record.Seqnum <= l.seq {
			t.Errorf("from %s: message %d (seqnum %d, lane %v) after %d (seqnum %d)", r.Msg.Sender, n, r.Record.Seqnum, r.Record.Lane, l.n, l.seq)
		}
		l.n, l.sendSeq = n, r.Record.SendSeq
		if !r.Record.Lane {
			l.seq = r.Record.Seqnum
		}
		if total++; total == senders*each+each {
			close(done)
		}
	})
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialNative(t, e, native.Options{InlineMax: []int{-1, 0, 1 << 20, 100}[s]})
			go drain(c, func(*native.Received) {})
			for i := 1; i <= each; i++ {
				for {
					// A receiver that falls behind refuses more than its quota: back off.
					err := c.SendAcked(context.Background(), oneWay(recv.UniqueName(), i, 64*(i%40)), nil)
					var se *native.SendError
					if errors.As(err, &se) && se.Name == "org.freedesktop.DBus.Error.LimitsExceeded" {
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		}()
	}
	// A classic sender joins in. Its one-way messages have no way back to report a full
	// queue, so it sends in bursts the receiver's quota holds.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := dial(t, e.ClassicAddress)
		for i := 1; i <= each; i++ {
			if err := c.Send(oneWay(recv.UniqueName(), i, 100), nil); err != nil {
				t.Error(err)
				return
			}
			for i%50 == 0 {
				mu.Lock()
				l := seen[c.UniqueName()]
				caught := l != nil && l.n == uint32(i)
				mu.Unlock()
				if caught {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("received %d of %d messages", total, senders*each+each)
	}
}

// A flooding sender fills at most its share of a receiver's pool; others still get through,
// and every one-way message is either delivered or reported failed to its sender.
func TestNativeFloodAndNoLostUnicast(t *testing.T) {
	e := startBroker(t, broker.Options{})
	recv := dialNative(t, e, native.Options{PoolSize: 1 << 20})
	// The pool's quotas are what is tested: the flooder goes through the bus (a lane bounds
	// a flooder with its ring instead, TestLaneFlowControl).
	flooder := dialNative(t, e, native.Options{NoLanes: true})
	go drain(flooder, func(*native.Received) {})
	const size = 16 << 10
	accepted, failed := 0, 0
	var lastErr error
	// After its first refusal the flooder is held back while the receiver makes no room
	// (a tenth of a second per send); two refusals show the quota holds.
	for i := 0; i < 200 && failed < 2; i++ {
		err := flooder.SendAcked(context.Background(), oneWay(recv.UniqueName(), i, size), nil)
		var se *native.SendError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Name == "org.freedesktop.DBus.Error.LimitsExceeded":
			failed++
			lastErr = err
		default:
			t.Fatal(err)
		}
	}
	share := (1<<20 - 64) / 2 / 3
	if accepted*size > share || failed == 0 {
		t.Fatalf("the flooder placed %d messages of %d bytes (%d failed), its share is %d bytes", accepted, size, failed, share)
	}
	t.Logf("flooder: %d accepted, %d refused: %v", accepted, failed, lastErr)
	// Someone else still gets through, and the receiver can still make calls and get replies.
	other := dialNative(t, e, native.Options{})
	go drain(other, func(*native.Received) {})
	if err := other.SendAcked(context.Background(), oneWay(recv.UniqueName(), 0, size), nil); err != nil {
		t.Fatalf("a second sender was shut out: %v", err)
	}

	// Unacknowledged sends: count what arrives and what Sync reports failed.
	var mu sync.Mutex
	got := 0
	go drain(recv, func(r *native.Received) {
		time.Sleep(50 * time.Microsecond) // a slow reader
		mu.Lock()
		got++
		mu.Unlock()
	})
	const sent = 3000
	for i := 0; i < sent; i++ {
		if err := flooder.Send(oneWay(recv.UniqueName(), i, 4096), nil); err != nil {
			t.Fatal(err)
		}
	}
	err := flooder.Sync(context.Background())
	nfail := 0
	if err != nil {
		var j interface{ Unwrap() []error }
		if !errors.As(err, &j) {
			t.Fatalf("Sync: %v", err)
		}
		nfail = len(j.Unwrap())
	}
	want := sent - nfail + accepted + 1
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := got
		mu.Unlock()
		if n == want {
			break
		}
		if n > want || time.Now().After(deadline) {
			t.Fatalf("%d sent, %d reported failed, %d delivered: want %d delivered", sent, nfail, n-accepted-1, want-accepted-1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d sent: %d delivered, %d reported failed", sent, sent-nfail, nfail)
}

// The bus, not the sender, says who sent a message and with which credentials.
func TestNativeCredentialsCannotBeForged(t *testing.T) {
	e := startBroker(t, broker.Options{})
	recv := dialNative(t, e, native.Options{})
	sender := dialNative(t, e, native.Options{})
	go drain(sender, func(*native.Received) {})
	got := make(chan native.Received, 1)
	go drain(recv, func(r *native.Received) {
		rr := *r
		got <- rr
	})
	m := oneWay(recv.UniqueName(), 1, 8)
	m.Sender = "org.freedesktop.DBus"
	if err := sender.SendAcked(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Msg.Sender != sender.UniqueName() || r.Record.Sender != sender.ID() {
		t.Fatalf("sender %q (id %d), want %q (id %d)", r.Msg.Sender, r.Record.Sender, sender.UniqueName(), sender.ID())
	}
	if !r.Record.HasCreds || r.Record.UID != uint32(os.Getuid()) || r.Record.PID != uint32(os.Getpid()) {
		t.Fatalf("credentials %+v, want uid %d pid %d", r.Record, os.Getuid(), os.Getpid())
	}
}

// A subscriber whose pool is full loses broadcasts and is told how many.
func TestNativeDroppedBroadcastsAreCounted(t *testing.T) {
	e := startBroker(t, broker.Options{})
	sub := dial(t, e.NativeAddress)
	rule, _ := match.Parse("type='signal',interface='org.kdbusgo.T'")
	s, err := sub.Subscribe(context.Background(), rule, 10000)
	if err != nil {
		t.Fatal(err)
	}
	// A burst larger than the subscriber's quota for one sender: some are dropped.
	sender := dial(t, e.NativeAddress)
	const sent = 2000
	small, _ := wire.Marshal(wire.NativeOrder, "s", "x")
	for i := 0; i < sent; i++ {
		err := sender.Send(&wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/t", Interface: "org.kdbusgo.T", Member: "S", Signature: "s", Body: small}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	timeout := time.After(10 * time.Second)
	for n+int(sub.Stats().Dropped)+int(s.Dropped()) < sent {
		select {
		case <-s.C():
			n++
		case <-timeout:
			t.Fatalf("received %d, dropped %d of %d", n, sub.Stats().Dropped, sent)
		}
	}
	if sub.Stats().Dropped == 0 {
		t.Log("the subscriber kept up; nothing was dropped")
	}
	t.Logf("%d received, %d dropped by the bus", n, sub.Stats().Dropped)
}

// Signals wake only the subscribers whose bloom mask they match, native senders reach classic
// subscribers, and classic senders reach native ones.
func TestNativeBloomWakesOnlyMatchingSubscribers(t *testing.T) {
	e := startBroker(t, broker.Options{})
	ctx := context.Background()
	const subscribers, matching, signals = 60, 6, 50
	type sub struct {
		c *runtime.Conn
		s *runtime.Subscription
	}
	var subs []sub
	for i := range subscribers {
		c := dial(t, e.NativeAddress)
		key := fmt.Sprintf("key%d", i)
		if i < matching {
			key = "hit"
		}
		r, _ := match.Parse(fmt.Sprintf("type='signal',interface='org.kdbusgo.T',member='S',arg0='%s'", key))
		s, err := c.Subscribe(ctx, r, signals*2)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub{c, s})
	}
	classicSub := dial(t, e.ClassicAddress)
	r, _ := match.Parse("type='signal',interface='org.kdbusgo.T',member='S',arg0='hit'")
	cs, err := classicSub.Subscribe(ctx, r, signals*2)
	if err != nil {
		t.Fatal(err)
	}
	before := make([]uint64, subscribers)
	for i, s := range subs {
		before[i] = s.c.Stats().Wakeups
	}
	emit := func(c *runtime.Conn, arg0 string) {
		body, _ := wire.Marshal(wire.NativeOrder, "s", arg0)
		if err := c.Send(&wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/t", Interface: "org.kdbusgo.T", Member: "S", Signature: "s", Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	nativeSender := dial(t, e.NativeAddress)
	classicSender := dial(t, e.ClassicAddress)
	for i := range signals {
		emit([]*runtime.Conn{nativeSender, classicSender}[i%2], "hit")
	}
	for i := 0; i < matching; i++ {
		for range signals {
			select {
			case <-subs[i].s.C():
			case <-time.After(5 * time.Second):
				t.Fatalf("native subscriber %d missed a signal", i)
			}
		}
	}
	for range signals {
		select {
		case <-cs.C():
		case <-time.After(5 * time.Second):
			t.Fatal("the classic subscriber missed a signal")
		}
	}
	woken := 0
	for i := matching; i < subscribers; i++ {
		if subs[i].c.Stats().Wakeups != before[i] {
			woken++
		}
	}
	if woken > 0 {
		t.Fatalf("%d of %d non-matching subscribers woke up", woken, subscribers-matching)
	}
}

// A native caller's deadline travels with its call: when it passes the bus forgets the call
// and answers NoReply at once, and the callee's late reply goes nowhere.
func TestNativeCallDeadline(t *testing.T) {
	e := startBroker(t, broker.Options{})
	callee := dialNative(t, e, native.Options{})
	calls := make(chan *wire.Message, 1)
	go drain(callee, func(r *native.Received) {
		m := *r.Msg
		m.Body = nil
		calls <- &m
	})
	caller := dialNative(t, e, native.Options{})
	replies := make(chan *wire.Message, 4)
	go func() {
		for {
			r, err := caller.Recv()
			if err != nil {
				return
			}
			if r.Msg.Type == wire.Error || r.Msg.Type == wire.MethodReturn {
				m := *r.Msg
				replies <- &m
			}
			caller.Release(&r)
		}
	}()
	m := oneWay(callee.UniqueName(), 1, 8)
	m.Flags = 0
	start := time.Now()
	if err := caller.SendCall(context.Background(), m, nil, native.SendOptions{Deadline: time.Now().Add(100 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	call := <-calls
	select {
	case r := <-replies:
		if r.Type != wire.Error || r.ErrorName != "org.freedesktop.DBus.Error.NoReply" || r.ReplySerial != m.Serial {
			t.Fatalf("got %s, want a NoReply error for serial %d", r, m.Serial)
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
			t.Fatalf("NoReply came after %v for a 100ms deadline", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NoReply after the deadline")
	}
	late := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: call.Serial, Destination: call.Sender}
	if err := callee.SendAcked(context.Background(), late, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-replies:
		t.Fatalf("the late reply was delivered: %s", r)
	case <-time.After(200 * time.Millisecond):
	}
}

// The bus itself refuses a descriptor marked as a memfd payload unless it is sealed.
func TestNativeBusRefusesUnsealedPayloads(t *testing.T) {
	e := startBroker(t, broker.Options{})
	callee := dialNative(t, e, native.Options{})
	got := make(chan string, 4)
	go drain(callee, func(r *native.Received) {
		closeAll(r.FDs)
		got <- r.Msg.Member
	})
	caller := dialNative(t, e, native.Options{})
	go drain(caller, func(r *native.Received) {})
	unsealed, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(unsealed)
	unix.Ftruncate(unsealed, 4096)
	sealed, err := memfd.Create("sealed", make([]byte, 4096))
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	send := func(member string, fd int) error {
		body, _ := wire.Marshal(wire.NativeOrder, "h", wire.UnixFD(0))
		m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected,
			Destination: callee.UniqueName(), Path: "/t", Interface: "org.kdbusgo.T", Member: member, Signature: "h", Body: body}
		return caller.SendAcked(context.Background(), m, []int{fd}, native.SendOptions{Payloads: 1})
	}
	err = send("Unsealed", unsealed)
	var se *native.SendError
	if !errors.As(err, &se) || se.Name != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Fatalf("an unsealed payload: %v", err)
	}
	if err := send("Sealed", sealed.Fd()); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "Sealed" {
		t.Fatalf("the callee got %s", m)
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// A body that fails its check once copied is refused as invalid: the sender hears
// InvalidArgs and why, in the error reply to its call and in the acknowledgement, and is then
// disconnected; nothing blames a full queue.
func TestNativeInvalidBodyIsReportedAsInvalid(t *testing.T) {
	e := startBroker(t, broker.Options{})
	recv := dialNative(t, e, native.Options{})
	go drain(recv, func(*native.Received) {})
	sender := dialNative(t, e, native.Options{InlineMax: -1}) // through the send area, checked after the copy
	replies := make(chan *wire.Message, 1)
	go func() {
		for {
			r, err := sender.Recv()
			if err != nil {
				return
			}
			if r.Msg.Type == wire.Error {
				m := *r.Msg
				m.Body = append([]byte(nil), m.Body...)
				replies <- &m
			}
			sender.Release(&r)
		}
	}()
	body, _ := wire.Marshal(wire.NativeOrder, "s", "hello")
	body[len(body)-1] = 'x' // the string loses its terminating NUL
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: recv.UniqueName(),
		Path: "/t", Interface: "org.kdbusgo.T", Member: "M", Signature: "s", Body: body}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sender.SendAcked(ctx, m, nil)
	var se *native.SendError
	if !errors.As(err, &se) || se.Name != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Fatalf("the acknowledgement of a call with an invalid body: %v", err)
	}
	select {
	case r := <-replies:
		if r.Type != wire.Error || r.ErrorName != "org.freedesktop.DBus.Error.InvalidArgs" || r.ReplySerial != m.Serial {
			t.Fatalf("reply %s (error %s), want an InvalidArgs error reply to serial %d", r, r.ErrorName, m.Serial)
		}
		vals, err := wire.Unmarshal(r.Body, r.Order, r.Signature)
		if err != nil || len(vals) != 1 {
			t.Fatalf("error reply body: %v", err)
		}
		if text := vals[0].(string); !strings.Contains(text, "invalid message body") {
			t.Fatalf("the error reply says %q, not that the body is invalid", text)
		}
	case <-ctx.Done():
		t.Fatal("no error reply to the call")
	}
}
