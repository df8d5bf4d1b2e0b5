package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/sasl"
	"github.com/kdbus-go/kdbus/wire"
)

func startBroker(t *testing.T, opts broker.Options) *broker.Embedded {
	t.Helper()
	e, err := broker.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func dial(t *testing.T, addr string) *runtime.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn connects and authenticates without saying Hello.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	list, _ := address.Parse(addr)
	_, path, _ := list[0].DialTarget()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// alive checks that the bus still answers a normal client.
func alive(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	if _, err := c.ListNames(context.Background()); err != nil {
		t.Fatalf("the bus stopped answering: %v", err)
	}
}

func TestGarbageAndStallingClients(t *testing.T) {
	e := startBroker(t, broker.Options{})
	// Garbage instead of authentication: the bus hangs up.
	g := rawConn(t, e.ClassicAddress)
	g.Write([]byte("GET / HTTP/1.1\r\nHost: bus\r\n\r\n"))
	g.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	for {
		if _, err := g.Read(buf); err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
				t.Fatalf("the bus did not hang up on garbage: %v", err)
			}
			break
		}
	}
	// A client that stalls in the middle of authentication or of a message blocks only itself.
	s := rawConn(t, e.ClassicAddress)
	s.Write([]byte("\x00AUTH EXTERNAL 30"))
	c := dial(t, e.ClassicAddress)
	hdr, _ := (&wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Serial: 1, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Member: "Hello"}).AppendTo(nil)
	half := classicHalfMessage(t, e.ClassicAddress, hdr[:len(hdr)/2])
	defer half.Close()
	alive(t, e.ClassicAddress)
	if _, err := c.ListNames(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A client whose first message is not Hello is disconnected.
	bad, err := classic.Dial(context.Background(), e.ClassicAddress, classic.Options{NoHello: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Send(&wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Member: "ListNames"}, nil)
	if _, err := bad.Recv(); !errors.Is(err, classic.ErrDisconnected) {
		t.Fatalf("a client that skipped Hello: %v, want disconnected", err)
	}
	alive(t, e.ClassicAddress)
}

// classicHalfMessage authenticates and then sends part of a message and nothing more.
func classicHalfMessage(t *testing.T, addr string, part []byte) net.Conn {
	t.Helper()
	c := rawConn(t, addr)
	if _, err := sasl.Client(c, sasl.ClientConfig{}); err != nil {
		t.Fatal(err)
	}
	c.Write(part)
	return c
}

func TestFloodingSenderIsThrottled(t *testing.T) {
	e := startBroker(t, broker.Options{Limits: broker.Limits{MaxOutgoingBytes: 64 << 10}})
	// A connection that says Hello, owns a name and then never reads.
	lazy, err := classic.Dial(context.Background(), e.ClassicAddress, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	body, _ := wire.Marshal(wire.NativeOrder, "su", "org.kdbusgo.Lazy", uint32(0))
	lazy.Send(&wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "RequestName", Signature: "su", Body: body}, nil)
	time.Sleep(50 * time.Millisecond)

	flooder := dial(t, e.ClassicAddress)
	payload, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, 16<<10))
	var limited error
	for i := 0; i < 200 && limited == nil; i++ {
		_, _, err := flooder.Call(ctxTimeout(t, 50*time.Millisecond), &wire.Message{
			Type: wire.MethodCall, Destination: "org.kdbusgo.Lazy", Path: "/", Member: "Eat", Signature: "ay", Body: payload,
		}, nil)
		var re *runtime.Error
		if errors.As(err, &re) && re.Name == runtime.ErrorLimitsExceeded {
			limited = err
		}
	}
	if limited == nil {
		t.Fatal("flooding a connection that never reads never hit the bus's queue limit")
	}
	alive(t, e.ClassicAddress)
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPerConnectionLimits(t *testing.T) {
	e := startBroker(t, broker.Options{Limits: broker.Limits{MaxNamesPerConnection: 2, MaxMatchRulesPerConnection: 2}})
	c := dial(t, e.ClassicAddress)
	for i := range 2 {
		if _, err := c.RequestName(context.Background(), fmt.Sprintf("org.kdbusgo.N%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.RequestName(context.Background(), "org.kdbusgo.N2", 0)
	var re *runtime.Error
	if !errors.As(err, &re) || re.Name != runtime.ErrorLimitsExceeded {
		t.Fatalf("a third name: %v, want LimitsExceeded", err)
	}
	for i := range 3 {
		_, err := c.Subscribe(context.Background(), &match.Rule{Type: wire.Signal, Member: fmt.Sprintf("S%d", i)}, 1)
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 && (err == nil || !strings.Contains(err.Error(), "LimitsExceeded")) {
			t.Fatalf("a third match rule: %v, want LimitsExceeded", err)
		}
	}
}

func TestDebugStats(t *testing.T) {
	e := startBroker(t, broker.Options{})
	c := dial(t, e.ClassicAddress)
	m, _, err := c.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetStats"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, ent := range v[0].([]wire.DictEntry) {
		got[ent.Key.(string)] = ent.Value.(wire.Variant).Value
	}
	if got["ActiveConnections"] != uint32(1) {
		t.Fatalf("GetStats: %v", got)
	}
}

func TestCredentialsCarryAPidfd(t *testing.T) {
	e := startBroker(t, broker.Options{})
	c := dial(t, e.ClassicAddress)
	body, _ := wire.Marshal(wire.NativeOrder, "s", c.UniqueName())
	m, fds, err := c.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "GetConnectionCredentials", Signature: "s", Body: body}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, ent := range v[0].([]wire.DictEntry) {
		got[ent.Key.(string)] = ent.Value.(wire.Variant).Value
	}
	if got["UnixUserID"] != uint32(os.Getuid()) || got["ProcessID"] != uint32(os.Getpid()) {
		t.Fatalf("credentials %v, want uid %d pid %d", got, os.Getuid(), os.Getpid())
	}
	idx, ok := got["ProcessFD"].(wire.UnixFD)
	if !ok {
		t.Skip("this kernel gives no pidfd for sockets (SO_PEERPIDFD needs Linux 6.5)")
	}
	if int(idx) >= len(fds) {
		t.Fatalf("ProcessFD index %d, but %d descriptors came", idx, len(fds))
	}
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fds[idx]))
	if err != nil || !strings.Contains(string(info), fmt.Sprintf("Pid:\t%d\n", os.Getpid())) {
		t.Fatalf("ProcessFD is not a pidfd of this process: %q %v", info, err)
	}
}

// TestPendingRepliesAreForgotten checks the reply bookkeeping: a call the callee never answers
// is pending at the callee until the caller goes away, and then nothing is left of it.
func TestPendingRepliesAreForgotten(t *testing.T) {
	e := startBroker(t, broker.Options{})
	// The callee says Hello and then never reads, so it answers nothing.
	callee, err := classic.Dial(context.Background(), e.ClassicAddress, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer callee.Close()
	observer := dial(t, e.ClassicAddress)
	pending := func() uint32 {
		body, _ := wire.Marshal(wire.NativeOrder, "s", callee.UniqueName())
		m, _, err := observer.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetConnectionStats", Signature: "s", Body: body}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := wire.Unmarshal(m.Body, m.Order, m.Signature)
		for _, ent := range v[0].([]wire.DictEntry) {
			if ent.Key == "PendingReplies" {
				return ent.Value.(wire.Variant).Value.(uint32)
			}
		}
		t.Fatal("no PendingReplies in GetConnectionStats")
		return 0
	}
	caller := dial(t, e.ClassicAddress)
	for range 3 {
		go caller.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: callee.UniqueName(), Path: "/", Member: "Wait"}, nil)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pending() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d replies pending at the callee, want 3", pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
	caller.Close()
	for pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d replies still pending after the caller left", pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
