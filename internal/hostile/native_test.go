package hostile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// nativeDial connects a raw native client to b's kdbus: entry, closed when the test ends.
func nativeDial(tb testing.TB, b *Bus, opts native.Options) *native.Conn {
	tb.Helper()
	list, err := address.Parse(b.Address)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range list {
		if e.Transport != "kdbus" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := native.Dial(ctx, e, opts)
		cancel()
		if err != nil {
			tb.Fatalf("native dial: %v", err)
		}
		tb.Cleanup(func() { c.Close() })
		return c
	}
	tb.Fatalf("%s has no kdbus: entry", b.Address)
	return nil
}

// nativeDrain reads c until it closes, releasing every message at once.
func nativeDrain(c *native.Conn) {
	for {
		r, err := c.Recv()
		if err != nil {
			return
		}
		c.Release(&r)
	}
}

// nativeSlowDrain reads c until it closes like a client that has work to do for each message:
// it falls behind a sender that pipelines, so that the bus's writes to it fill its socket.
func nativeSlowDrain(c *native.Conn) {
	for {
		r, err := c.Recv()
		if err != nil {
			return
		}
		time.Sleep(20 * time.Microsecond)
		c.Release(&r)
	}
}

func nativeBusCall(member string, args ...any) *wire.Message {
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: "org.freedesktop.DBus",
		Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: member}
	if len(args) > 0 {
		m.Signature = "s"
		m.Body, _ = wire.Marshal(wire.NativeOrder, "s", args...)
	}
	return m
}

func nativeOneWay(dest string, payload int) *wire.Message {
	body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, payload))
	return &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected,
		Destination: dest, Path: "/hostile", Interface: "org.kdbusgo.Hostile", Member: "OneWay", Signature: "ay", Body: body}
}

// A native client that pipelines calls (whose replies fill its pool and make it hand slices
// back) and one-way sends to a name nobody owns (each answered with an error ack), and reads
// more slowly than it sends, keeps both directions of its socket full at once. Neither the bus
// nor the client may stop reading while it waits to write: a Sync afterwards must return
// within its deadline.
func TestNativeCallsAndFailedSendsDoNotWedge(t *testing.T) {
	b := Start(t, bustest.KdbusdNative, dbustest.Config{})
	c := nativeDial(t, b, native.Options{})
	go nativeSlowDrain(c)
	n := Size(3000, 30000)
	var sent atomic.Int64
	sendDone := make(chan error, 1)
	go func() {
		for i := range n {
			m := nativeOneWay("org.kdbusgo.Nobody", 16)
			if i%2 == 0 {
				m = nativeBusCall("GetNameOwner", "org.freedesktop.DBus")
			}
			if err := c.Send(m, nil); err != nil {
				sendDone <- err
				return
			}
			sent.Add(1)
		}
		sendDone <- nil
	}()
	WaitFor(t, "the first sends go out", 30*time.Second, func() bool { return sent.Load() >= 200 })
	// A Sync among the pipelined sends must keep its deadline, whatever the socket's state.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Sync(ctx) }()
	select {
	case err := <-done:
		var se *native.SendError
		if err != nil && !errors.As(err, &se) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Sync: %v", err)
		}
		t.Logf("Sync returned after %v (%d sends out): %.120v", time.Since(start), sent.Load(), err)
	case <-time.After(30 * time.Second):
		t.Fatalf("Sync with a 2 s deadline had not returned 30 s later (%d of %d sends out)", sent.Load(), n)
	}
	select {
	case err := <-sendDone:
		if err != nil {
			t.Fatalf("sending: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d pipelined sends went out within a minute: the connection is wedged", sent.Load(), n)
	}
	b.MustRun()
	// The connection itself still works: a Sync now sees every send routed.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := c.Sync(ctx2); err != nil {
		var se *native.SendError
		if !errors.As(err, &se) {
			t.Fatalf("the connection does not recover: %v", err)
		}
	}
	if st := c.Stats(); st.Undelivered != uint64(n/2) {
		t.Errorf("the bus reported %d failed one-way sends, want %d", st.Undelivered, n/2)
	}
	Report(t, "calls mixed with failed sends", b.Kind, Figures{Rate: Measure(t, b.Address, 200, 5*time.Second), Note: "Sync returned"})
}

// A high-level connection subscribed to a busy signal, sending one-way messages: its reader
// handles a steady stream of signals (and hands their slices back) while its sender fills the
// socket. A call with a deadline must still return by its deadline. dbus-daemon, with classic
// clients, runs the same scenario for comparison.
func TestNativeSubscriberSendingOneWayDoesNotWedge(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) { subscriberSendingOneWay(t, Start(t, kind, dbustest.Config{})) })
	}
}

func subscriberSendingOneWay(t *testing.T, b *Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	emitter, c := Dial(t, b.Address), Dial(t, b.Address)
	rule, _ := match.Parse("type='signal',interface='org.kdbusgo.Hostile',member='Busy'")
	sub, err := c.Subscribe(ctx, rule, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	halt := func() {
		// Closing both connections ends sends that are stuck, should the test fail.
		stop.Store(true)
		c.Close()
		emitter.Close()
		wg.Wait()
	}
	defer halt()
	wg.Add(2)
	go func() {
		defer wg.Done()
		body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, 200))
		for !stop.Load() {
			m := &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/hostile", Interface: "org.kdbusgo.Hostile", Member: "Busy", Signature: "ay", Body: body}
			if emitter.Send(m, nil) != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if c.Send(nativeOneWay("org.kdbusgo.Nobody", 16), nil) != nil {
				return
			}
		}
	}()
	// Let both streams run until the subscriber has seen a good many signals.
	WaitFor(t, "signals reach the subscriber", 30*time.Second, func() bool { return c.Stats().Received > 2000 })
	var slowest time.Duration
	late := 0
	for i := range Size(5, 20) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := c.ListNames(ctx)
			done <- err
		}()
		select {
		case err := <-done:
			if errors.Is(err, context.DeadlineExceeded) {
				late++
			} else if err != nil {
				t.Fatalf("ListNames %d: %v", i, err)
			}
			slowest = max(slowest, time.Since(start))
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatalf("ListNames %d with a 2 s deadline had not returned 30 s later", i)
		}
		cancel()
	}
	if c.Stats().Received < 2000 {
		t.Fatalf("the subscriber received only %d messages", c.Stats().Received)
	}
	halt()
	b.MustRun()
	Report(t, "busy subscriber sending one-way", b.Kind, Figures{Rate: Measure(t, b.Address, 500, 5*time.Second),
		Note: fmt.Sprintf("slowest ListNames %v, %d past its 2 s deadline", slowest.Round(time.Millisecond), late)})
}

// nativeSocketPath returns the path of b's native socket.
func nativeSocketPath(tb testing.TB, b *Bus) string {
	tb.Helper()
	list, err := address.Parse(b.Address)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range list {
		if p, ok := e.Params["path"]; ok && e.Transport == "kdbus" {
			return p
		}
	}
	tb.Fatalf("%s has no kdbus:path= entry", b.Address)
	return ""
}

// nativeRSS reads a process's resident memory without failing the test, for a sampler
// goroutine.
func nativeRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// nativePeakRSS samples the bus's memory until stop is called, which returns the peak.
func nativePeakRSS(b *Bus) (stop func() int64) {
	var peak atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			peak.Store(max(peak.Load(), nativeRSS(b.Daemon.PID())))
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// A receiver that never reads and a flooder that sends it one-way messages as fast as it can:
// the bus holds at most the receiver's pool (the flooder's share of it), the flooder hears
// that the receiver is full, well-behaved clients keep being served, and the memory comes back
// when the attackers leave. dbus-daemon, with classic clients, queues the flood in its own
// memory up to max_outgoing_bytes.
func TestNativeSlowReceiverFlood(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) { slowReceiverFlood(t, Start(t, kind, dbustest.Config{Extra: SessionLimits})) })
	}
}

func slowReceiverFlood(t *testing.T, b *Bus) {
	const size = 4 << 10
	n := Size(20000, 100000)
	before := Measure(t, b.Address, 500, 5*time.Second)
	base := b.RSS()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The receiver connects and never reads again.
	var receiver, flooder interface {
		Send(*wire.Message, []int) error
		UniqueName() string
		Close() error
	}
	var flood *native.Conn
	if b.Native {
		r := nativeDial(t, b, native.Options{})
		flood = nativeDial(t, b, native.Options{})
		go nativeDrain(flood) // the flooder hears its failures
		receiver, flooder = r, flood
	} else {
		r, err := classic.Dial(ctx, b.Address, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := classic.Dial(ctx, b.Address, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := f.Recv(); err != nil {
					return
				}
			}
		}()
		defer f.Close()
		receiver, flooder = r, f
	}
	defer receiver.Close()
	peak := nativePeakRSS(b)
	var sent atomic.Int64
	var stop atomic.Bool
	floodDone := make(chan error, 1)
	go func() {
		for range n {
			if stop.Load() {
				break
			}
			if err := flooder.Send(nativeOneWay(receiver.UniqueName(), size), nil); err != nil {
				floodDone <- err
				return
			}
			sent.Add(1)
		}
		floodDone <- nil
	}()
	// dbus-daemon queues the whole flood; kdbusd refuses what does not fit the receiver's
	// pool and then holds the flooder back until the receiver makes room (refused_test.go).
	WaitFor(t, "the flood is under way", 30*time.Second, func() bool {
		return sent.Load() >= int64(n/4) || flood != nil && flood.Stats().Undelivered > 0
	})
	during := Measure(t, b.Address, 500, 5*time.Second)
	if flood != nil {
		// The receiver leaving ends the hold: what the flooder has still to send is
		// refused at once.
		receiver.Close()
		stop.Store(true)
	}
	select {
	case err := <-floodDone:
		if err != nil {
			t.Fatalf("flooding: %v", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("the flooder sent %d of %d messages in two minutes: the bus stopped taking them", sent.Load(), n)
	}
	refused := ""
	if flood != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := flood.Sync(ctx)
		cancel()
		var se *native.SendError
		if !errors.As(err, &se) || se.Name != "org.freedesktop.DBus.Error.LimitsExceeded" {
			t.Fatalf("the flooder was not told the receiver is full: %v", err)
		}
		undelivered, total := flood.Stats().Undelivered, sent.Load()
		if undelivered == 0 || undelivered > uint64(total) {
			t.Fatalf("%d of %d messages reported undelivered", undelivered, total)
		}
		refused = fmt.Sprintf("%d of %d refused (LimitsExceeded, then NameHasNoOwner once the receiver left); ", undelivered, total)
	}
	b.MustRun()
	top := peak()
	// The pool is the receiver's; the bus keeps none of the flood on its heap.
	if b.Native && top-base > 64<<20 {
		t.Errorf("the bus grew by %.1f MB during the flood, more than the receiver's pool", float64(top-base)/1e6)
	}
	// The attackers leave: the receiver's pool and the flooder's send area go with them.
	receiver.Close()
	flooder.Close()
	rec := WaitFor(t, "the bus's memory comes back once the attackers leave", 60*time.Second, func() bool {
		return b.RSS() < base+(8<<20) || !b.Native
	})
	if !b.Native {
		rec = 0 // dbus-daemon's heap keeps its peak: nothing to wait for
	}
	after := b.RSS()
	Report(t, "flood into non-reader (native)", b.Kind, Figures{RSS: top, Rate: during, Recover: rec,
		Note: fmt.Sprintf("%scalls/s before %.0f; RSS %.1f MB before, %.1f MB after the attackers left", refused, before.CallsPerSec, float64(base)/1e6, float64(after)/1e6)})
}

// Every call pending when the bus dies returns at once with an error that says the bus went
// away, and none blames the size of the message it was sending.
func TestNativeBusDeathFailsPendingCalls(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) { busDeath(t, Start(t, kind, dbustest.Config{})) })
	}
}

func busDeath(t *testing.T, b *Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A server that reads every call and answers none. Its pool is large enough that the
	// largest call fits its sender's share of it (a third of the free half).
	var got atomic.Int64
	var dest string
	if b.Native {
		srv := nativeDial(t, b, native.Options{PoolSize: 64 << 20})
		dest = srv.UniqueName()
		go func() {
			for {
				r, err := srv.Recv()
				if err != nil {
					return
				}
				if r.Msg.Type == wire.MethodCall {
					got.Add(1)
				}
				srv.Release(&r)
			}
		}()
	} else {
		srv, err := classic.Dial(ctx, b.Address, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		dest = srv.UniqueName()
		go func() {
			for {
				r, err := srv.Recv()
				if err != nil {
					return
				}
				if r.Msg.Type == wire.MethodCall {
					got.Add(1)
				}
			}
		}()
	}
	sizes := []int{16, 4 << 10, 256 << 10, 6 << 20} // inline, send area, send area, memfd
	type result struct {
		size int
		err  error
		at   time.Time
	}
	results := make(chan result, len(sizes))
	for _, size := range sizes {
		c, err := runtime.Dial(ctx, b.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, size))
			m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: dest, Path: "/hostile",
				Interface: "org.kdbusgo.Hostile", Member: "Stuck", Signature: "ay", Body: body}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			_, _, err := c.Call(ctx, m, nil)
			results <- result{size, err, time.Now()}
		}()
	}
	WaitFor(t, "every call reaches the server", 30*time.Second, func() bool { return got.Load() >= int64(len(sizes)) })
	killed := time.Now()
	b.Kill()
	var last time.Duration
	for range sizes {
		select {
		case r := <-results:
			last = max(last, r.at.Sub(killed))
			if !errors.Is(r.err, runtime.ErrDisconnected) {
				t.Errorf("a call of %d bytes pending when the bus died returned %v, want a disconnection", r.size, r.err)
				continue
			}
			t.Logf("%d bytes: %v", r.size, r.err)
			if b.Native && strings.Contains(r.err.Error(), "max_message_size") {
				t.Errorf("the bus's death is blamed on the size of a %d-byte call: %v", r.size, r.err)
			}
			if b.Native && !strings.Contains(r.err.Error(), "the bus closed the connection") {
				t.Errorf("a %d-byte call does not say the bus went away: %v", r.size, r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a call pending when the bus died had not returned 30 s later")
		}
	}
	Report(t, "bus death, 4 calls pending", b.Kind, Figures{Recover: last, Note: fmt.Sprintf("%d pending calls failed with a disconnection", len(sizes))})
}
