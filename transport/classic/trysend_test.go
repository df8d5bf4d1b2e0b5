package classic_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"testing"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// pair returns the two ends of an authenticated peer-to-peer connection over a socketpair.
func pair(t *testing.T) (server, client *classic.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		server, err = classic.Accept(context.Background(), conn(fds[0]), classic.AcceptOptions{GUID: "0123456789abcdef0123456789abcdef", UID: uint32(os.Getuid())})
		done <- err
	}()
	client, err = classic.NewConn(context.Background(), conn(fds[1]), classic.Options{NoHello: true, NoUnixFDs: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestTrySendNeverBlocksAndLosesNothing fills the socket of a peer that does not read with
// TrySend until it refuses, then checks that every message it accepted arrives whole and in
// order, the one it wrote only in part included.
func TestTrySendNeverBlocksAndLosesNothing(t *testing.T) {
	server, client := pair(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 700) // ~11 KiB: socket buffers fill fast
	var accepted int
	for accepted = 0; accepted < 10000; accepted++ {
		body, _ := wire.Marshal(wire.NativeOrder, "uay", uint32(accepted), payload)
		ok, err := server.TrySend(&wire.Message{Type: wire.Signal, Path: "/", Interface: "org.kdbusgo.T", Member: "S", Signature: "uay", Body: body}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if accepted == 0 || accepted == 10000 {
		t.Fatalf("TrySend accepted %d messages; want it to fill the socket and then refuse", accepted)
	}
	// The refused message goes out by Send, after the rest of a partly written one.
	body, _ := wire.Marshal(wire.NativeOrder, "uay", uint32(accepted), payload)
	errc := make(chan error, 1)
	go func() {
		errc <- server.Send(&wire.Message{Type: wire.Signal, Path: "/", Interface: "org.kdbusgo.T", Member: "S", Signature: "uay", Body: body}, nil)
	}()
	for i := 0; i <= accepted; i++ {
		r, err := client.Recv()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		v, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
		if err != nil || v[0] != uint32(i) || !bytes.Equal(v[1].([]byte), payload) {
			t.Fatalf("message %d arrived as %v (%v)", i, v[0], err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
