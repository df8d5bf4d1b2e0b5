package classic_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

func dial(t *testing.T, d *bustest.Bus) *classic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := classic.Dial(ctx, d.Address, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitReply receives until the reply to serial arrives, skipping other messages.
func waitReply(t *testing.T, c *classic.Conn, serial uint32) classic.Received {
	t.Helper()
	for {
		r, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for the reply to serial %d: %v", serial, err)
		}
		if r.Msg.ReplySerial == serial && (r.Msg.Type == wire.MethodReturn || r.Msg.Type == wire.Error) {
			return r
		}
	}
}

// waitCall receives until a method call arrives, skipping signals.
func waitCall(t *testing.T, c *classic.Conn) classic.Received {
	t.Helper()
	for {
		r, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for a call: %v", err)
		}
		if r.Msg.Type == wire.MethodCall {
			return r
		}
	}
}

func busCall(member string, sig wire.Signature, args ...any) *wire.Message {
	body, err := wire.Marshal(wire.NativeOrder, sig, args...)
	if err != nil {
		panic(err)
	}
	return &wire.Message{
		Type: wire.MethodCall, Destination: classic.BusName, Path: classic.BusPath, Interface: classic.BusInterface,
		Member: member, Signature: sig, Body: body,
	}
}

func requestName(t *testing.T, c *classic.Conn, name string) {
	t.Helper()
	m := busCall("RequestName", "su", name, uint32(0))
	if err := c.Send(m, nil); err != nil {
		t.Fatal(err)
	}
	r := waitReply(t, c, m.Serial)
	if r.Msg.Type == wire.Error {
		t.Fatalf("RequestName(%s): %s", name, r.Msg.ErrorName)
	}
	v, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
	if err != nil || len(v) != 1 || v[0] != uint32(1) {
		t.Fatalf("RequestName(%s) = %v, %v; want primary owner (1)", name, v, err)
	}
}

func TestHello(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		c := dial(t, d)
		if !strings.HasPrefix(c.UniqueName(), ":1.") {
			t.Errorf("unique name %q, want :1.N", c.UniqueName())
		}
		if len(c.GUID()) != 32 {
			t.Errorf("GUID %q is not 32 hex digits", c.GUID())
		}
		if !c.UnixFDs() {
			t.Error("dbus-daemon should agree to descriptor passing")
		}
		// The bus tells every new connection its name with NameAcquired.
		r, err := c.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.Msg.Type != wire.Signal || r.Msg.Member != "NameAcquired" {
			t.Fatalf("first message %v, want the NameAcquired signal", r.Msg)
		}
		v, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
		if err != nil || v[0] != c.UniqueName() {
			t.Fatalf("NameAcquired(%v, %v), want %s", v, err, c.UniqueName())
		}
	})
}

func TestRequestNameAndGetNameOwner(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		c := dial(t, d)
		requestName(t, c, "org.kdbusgo.Test")
		m := busCall("GetNameOwner", "s", "org.kdbusgo.Test")
		if err := c.Send(m, nil); err != nil {
			t.Fatal(err)
		}
		r := waitReply(t, c, m.Serial)
		v, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
		if err != nil || v[0] != c.UniqueName() {
			t.Fatalf("GetNameOwner = %v, %v; want %s", v, err, c.UniqueName())
		}
	})
}

// echo serves one call on srv: it replies with the call's own body and signature.
func echo(t *testing.T, srv *classic.Conn) {
	t.Helper()
	r := waitCall(t, srv)
	reply := &wire.Message{
		Type: wire.MethodReturn, ReplySerial: r.Msg.Serial, Destination: r.Msg.Sender,
		Signature: r.Msg.Signature, Body: r.Msg.Body,
	}
	if err := srv.Send(reply, nil); err != nil {
		t.Error(err)
	}
}

func TestCallBetweenConnections(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv, cli := dial(t, d), dial(t, d)
		requestName(t, srv, "org.kdbusgo.Echo")
		done := make(chan struct{})
		go func() { defer close(done); echo(t, srv) }()

		body, _ := wire.Marshal(wire.NativeOrder, "sa{sv}", "hello", map[string]wire.Variant{"n": {Sig: "i", Value: int32(42)}})
		call := &wire.Message{
			Type: wire.MethodCall, Destination: "org.kdbusgo.Echo", Path: "/org/kdbusgo/Echo",
			Interface: "org.kdbusgo.Echo", Member: "Echo", Signature: "sa{sv}", Body: body,
		}
		if err := cli.Send(call, nil); err != nil {
			t.Fatal(err)
		}
		r := waitReply(t, cli, call.Serial)
		<-done
		if r.Msg.Type != wire.MethodReturn || r.Msg.Sender != srv.UniqueName() {
			t.Fatalf("reply %v, want a method_return from %s", r.Msg, srv.UniqueName())
		}
		if !bytes.Equal(r.Msg.Body, body) || r.Msg.Signature != "sa{sv}" {
			t.Fatalf("echoed body differs: %x vs %x", r.Msg.Body, body)
		}
	})
}

func TestFDPassing(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv, cli := dial(t, d), dial(t, d)
		requestName(t, srv, "org.kdbusgo.FD")

		f, err := os.Create(filepath.Join(t.TempDir(), "payload"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.WriteString("through the bus")
		body, _ := wire.Marshal(wire.NativeOrder, "h", wire.UnixFD(0))
		m := &wire.Message{
			Type: wire.MethodCall, Destination: "org.kdbusgo.FD", Path: "/", Member: "Take",
			Signature: "h", Body: body, Flags: wire.FlagNoReplyExpected,
		}
		if err := cli.Send(m, []int{int(f.Fd())}); err != nil {
			t.Fatal(err)
		}
		r := waitCall(t, srv)
		if r.Msg.UnixFDs != 1 || len(r.FDs) != 1 {
			t.Fatalf("received %d descriptors (header says %d), want 1", len(r.FDs), r.Msg.UnixFDs)
		}
		fd := r.FDs[0]
		defer unix.Close(fd)
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("received descriptor is not close-on-exec (flags %#x, %v)", flags, err)
		}
		buf := make([]byte, 64)
		n, err := unix.Pread(fd, buf, 0)
		if err != nil || string(buf[:n]) != "through the bus" {
			t.Fatalf("read %q, %v through the passed descriptor", buf[:n], err)
		}
		if err := wire.ValidateBody(r.Msg.Body, r.Msg.Order, r.Msg.Signature, len(r.FDs)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMessageOverBusLimit(t *testing.T) {
	bustest.Each(t, dbustest.Config{MaxMessageSize: 64 << 10}, func(t *testing.T, d *bustest.Bus) {
		srv, cli, other := dial(t, d), dial(t, d), dial(t, d)
		requestName(t, srv, "org.kdbusgo.Limit")

		big := &wire.Message{
			Type: wire.MethodCall, Destination: "org.kdbusgo.Limit", Path: "/", Member: "Big",
			Signature: "ay", Body: mustMarshal("ay", make([]byte, 128<<10)),
		}
		if err := cli.Send(big, nil); err != nil && !errors.Is(err, classic.ErrDisconnected) {
			t.Fatalf("Send: %v", err)
		}
		var err error
		for err == nil {
			_, err = cli.Recv()
		}
		var de *classic.DisconnectError
		if !errors.As(err, &de) || !errors.Is(err, classic.ErrDisconnected) {
			t.Fatalf("after an oversized message: %v, want a classic.DisconnectError", err)
		}
		if de.LastSent < 128<<10 || !strings.Contains(err.Error(), "max_message_size") {
			t.Errorf("error does not explain the size: %v", err)
		}
		if err := cli.Send(busCall("GetId", ""), nil); !errors.Is(err, classic.ErrDisconnected) {
			t.Errorf("Send on a broken connection: %v, want classic.ErrDisconnected", err)
		}

		// The bus and its other peers keep working.
		go echo(t, srv)
		small := &wire.Message{
			Type: wire.MethodCall, Destination: "org.kdbusgo.Limit", Path: "/", Member: "Small",
			Signature: "s", Body: mustMarshal("s", "fits"),
		}
		if err := other.Send(small, nil); err != nil {
			t.Fatal(err)
		}
		if r := waitReply(t, other, small.Serial); r.Msg.Type != wire.MethodReturn {
			t.Fatalf("small call after the big one: %v", r.Msg)
		}
	})
}

func TestMessageOverSpecLimitRefusedLocally(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		c := dial(t, d)
		m := &wire.Message{
			Type: wire.MethodCall, Destination: classic.BusName, Path: classic.BusPath, Member: "Huge",
			Signature: "ay", Body: make([]byte, wire.MaxMessageSize),
		}
		err := c.Send(m, nil)
		if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
			t.Fatalf("Send of a %d-byte body: %v, want a size error", len(m.Body), err)
		}
		// The connection is still usable.
		id := busCall("GetId", "")
		if err := c.Send(id, nil); err != nil {
			t.Fatal(err)
		}
		waitReply(t, c, id.Serial)
	})
}

func TestPeerDisconnectsMidCall(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv, cli := dial(t, d), dial(t, d)
		requestName(t, srv, "org.kdbusgo.Vanish")
		call := &wire.Message{Type: wire.MethodCall, Destination: "org.kdbusgo.Vanish", Path: "/", Member: "Wait"}
		if err := cli.Send(call, nil); err != nil {
			t.Fatal(err)
		}
		waitCall(t, srv)
		srv.Close()
		r := waitReply(t, cli, call.Serial)
		if r.Msg.Type != wire.Error || r.Msg.ErrorName != "org.freedesktop.DBus.Error.NoReply" {
			t.Fatalf("reply %v, want the bus's NoReply error", r.Msg)
		}
	})
}

func TestBusGoesAway(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		c := dial(t, d)
		errc := make(chan error, 1)
		go func() {
			for {
				if _, err := c.Recv(); err != nil {
					errc <- err
					return
				}
			}
		}()
		d.Kill()
		select {
		case err := <-errc:
			if !errors.Is(err, classic.ErrDisconnected) {
				t.Fatalf("Recv after the bus died: %v, want classic.ErrDisconnected", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Recv still blocked 10s after the bus died")
		}
		if err := c.Send(busCall("GetId", ""), nil); !errors.Is(err, classic.ErrDisconnected) {
			t.Fatalf("Send after the bus died: %v, want classic.ErrDisconnected", err)
		}
	})
}

func TestCloseUnblocksRecv(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		c := dial(t, d)
		c.Recv() // NameAcquired
		errc := make(chan error, 1)
		go func() { _, err := c.Recv(); errc <- err }()
		time.Sleep(20 * time.Millisecond)
		c.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, classic.ErrClosed) {
				t.Fatalf("Recv after Close: %v, want classic.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not unblock Recv")
		}
	})
}

// TestSendWhileReceiving sends from many goroutines while another goroutine is blocked in
// Recv on the same connection, and checks every message arrives, in order per goroutine.
func TestSendWhileReceiving(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv, cli := dial(t, d), dial(t, d)
		requestName(t, srv, "org.kdbusgo.Sink")
		go func() {
			for {
				if _, err := cli.Recv(); err != nil {
					return
				}
			}
		}()
		const senders, each = 8, 200
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m := &wire.Message{
						Type: wire.MethodCall, Destination: "org.kdbusgo.Sink", Path: "/", Member: "Put",
						Flags: wire.FlagNoReplyExpected, Signature: "uu", Body: mustMarshal("uu", uint32(g), uint32(i)),
					}
					if err := cli.Send(m, nil); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		next := make([]uint32, senders)
		for n := 0; n < senders*each; n++ {
			r := waitCall(t, srv)
			v, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
			if err != nil {
				t.Fatal(err)
			}
			g, i := v[0].(uint32), v[1].(uint32)
			if i != next[g] {
				t.Fatalf("sender %d: got message %d, want %d", g, i, next[g])
			}
			next[g]++
		}
		wg.Wait()
	})
}

func TestDialTriesEntriesInOrder(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		list := "tcp:host=localhost,port=1;unix:path=" + filepath.Join(t.TempDir(), "missing") + ";" + d.Address
		c, err := classic.Dial(context.Background(), list, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()

		_, err = classic.Dial(context.Background(), "unix:path="+filepath.Join(t.TempDir(), "missing"), classic.Options{})
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("dialing a missing socket: %v", err)
		}
	})
}

func TestDialDeadline(t *testing.T) {
	// A server that accepts and then says nothing.
	path := filepath.Join(t.TempDir(), "silent")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = classic.Dial(ctx, "unix:path="+path, classic.Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("classic.Dial to a silent server: %v, want a deadline error", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("classic.Dial took %v despite a 200ms deadline", time.Since(start))
	}
}

// scriptedServer accepts one connection, completes authentication, writes junk and hangs up.
func scriptedServer(t *testing.T, junk []byte) string {
	path := filepath.Join(t.TempDir(), "scripted")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var got []byte
		for !bytes.Contains(got, []byte("BEGIN\r\n")) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got = append(got, buf[:n]...)
			switch {
			case bytes.Contains(buf[:n], []byte("AUTH")):
				fmt.Fprintf(c, "OK 0123456789abcdef0123456789abcdef\r\n")
			case bytes.Contains(buf[:n], []byte("NEGOTIATE_UNIX_FD")):
				fmt.Fprintf(c, "AGREE_UNIX_FD\r\n")
			}
		}
		c.Write(junk)
	}()
	return "unix:path=" + path
}

func TestGarbageFromPeer(t *testing.T) {
	for name, junk := range map[string][]byte{
		"not a message": []byte("HTTP/1.1 200 OK\r\n\r\nhello there, this is not D-Bus"),
		"bad version":   {'l', 1, 0, 9, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		"truncated":     {'l', 1, 0, 1, 4, 0, 0, 0, 1, 0, 0, 0, 8, 0},
		"bad header":    {'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 1, 'o', 0, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			addr := scriptedServer(t, junk)
			c, err := classic.Dial(context.Background(), addr, classic.Options{NoHello: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Recv()
			if !errors.Is(err, classic.ErrDisconnected) {
				t.Fatalf("Recv of %q: %v, want classic.ErrDisconnected", junk, err)
			}
		})
	}
}

func mustMarshal(sig wire.Signature, v ...any) []byte {
	b, err := wire.Marshal(wire.NativeOrder, sig, v...)
	if err != nil {
		panic(err)
	}
	return b
}
