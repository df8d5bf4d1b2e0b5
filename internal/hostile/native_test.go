package hostile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
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
	Report(t, "native-calls+failed-sends", b.Kind, Figures{Rate: Measure(t, b.Address, 200, 5*time.Second), Note: "Sync returned"})
}

// A high-level connection subscribed to a busy signal, sending one-way messages: its reader
// handles a steady stream of signals (and hands their slices back) while its sender fills the
// socket. A call with a deadline must still return by its deadline. dbus-daemon, with classic
// clients, runs the same scenario for comparison.
func TestNativeSubscriberSendingOneWayDoesNotWedge(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative} {
		t.Run(kind, func(t *testing.T) { subscriberSendingOneWay(t, Start(t, kind, dbustest.Config{})) })
	}
}

func subscriberSendingOneWay(t *testing.T, b *Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	emitter, err := runtime.Dial(ctx, b.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer emitter.Close()
	c, err := runtime.Dial(ctx, b.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
	Report(t, "subscriber+oneway", b.Kind, Figures{Rate: Measure(t, b.Address, 500, 5*time.Second),
		Note: fmt.Sprintf("slowest ListNames %v, %d past its 2 s deadline", slowest.Round(time.Millisecond), late)})
}
