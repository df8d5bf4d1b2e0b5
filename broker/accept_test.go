package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/sasl"
	"golang.org/x/sys/unix"
)

// acceptPath returns the socket path of a one-entry unix: address.
func acceptPath(t *testing.T, addr string) string {
	t.Helper()
	list, err := address.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	return list[0].Params["path"]
}

// acceptDials reports whether a client gets through authentication and Hello within d.
func acceptDials(addr string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// acceptWait polls cond until it holds; limit only catches a hang.
func acceptWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("%s: still not true after a minute", what)
		}
	}
}

// With max_incomplete_connections handshakes open, the bus accepts nothing more, as
// dbus-daemon does: the next caller waits in the backlog until one of them ends.
func TestIncompleteConnectionsWaitForRoom(t *testing.T) {
	e := startBroker(t, broker.Options{Limits: broker.Limits{MaxIncompleteConnections: 2}})
	path := acceptPath(t, e.ClassicAddress)
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// Nothing but the bus's own limit can keep this client out, however long it is given.
	if acceptDials(e.ClassicAddress, 300*time.Millisecond) {
		t.Fatal("a client got in while max_incomplete_connections handshakes were open")
	}
	idle[0].Close()
	acceptWait(t, "a client connects once a handshake ends", func() bool { return acceptDials(e.ClassicAddress, 5*time.Second) })
}

// A client that authenticates and then never says Hello still holds an incomplete
// connection, and auth_timeout ends it, as in dbus-daemon: otherwise max_incomplete_connections
// and auth_timeout would bound nothing for a client that stops one step later.
func TestSilentAfterAuthenticationStaysIncomplete(t *testing.T) {
	e := startBroker(t, broker.Options{Limits: broker.Limits{MaxIncompleteConnections: 1, AuthTimeout: 2 * time.Second}})
	silent := rawConn(t, e.ClassicAddress)
	if _, err := sasl.Client(silent, sasl.ClientConfig{}); err != nil {
		t.Fatal(err)
	}
	if acceptDials(e.ClassicAddress, 300*time.Millisecond) {
		t.Fatal("a client got in while an authenticated connection that never said Hello was open")
	}
	// auth_timeout passes: the bus hangs up on the silent client, and the next one gets in.
	silent.SetReadDeadline(time.Now().Add(time.Minute))
	if n, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the bus kept a connection that never said Hello: read %d bytes, %v", n, err)
	}
	acceptWait(t, "a client connects once the silent one is gone", func() bool { return acceptDials(e.ClassicAddress, 5*time.Second) })
}

// acceptLog records the messages a broker logs.
type acceptLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *acceptLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *acceptLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *acceptLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *acceptLog) WithGroup(string) slog.Handler      { return l }

func (l *acceptLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// When the process runs out of descriptors, accept fails with EMFILE; the bus must wait and
// accept again once descriptors come back, and keep serving its clients meanwhile, instead of
// giving up its listener.
func TestAcceptSurvivesEMFILE(t *testing.T) {
	log := &acceptLog{}
	e := startBroker(t, broker.Options{Logger: slog.New(log)})
	client := dial(t, e.ClassicAddress)
	path := acceptPath(t, e.ClassicAddress)

	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	var held []int
	release := func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		held = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
	}
	defer release()
	lowered := orig
	lowered.Cur = min(orig.Cur, 1024)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	// Take every free descriptor, then trade four of them for sockets that connect: the bus
	// finds them waiting and has no descriptor left to accept them with.
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			if !errors.Is(err, unix.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, fd)
	}
	for _, fd := range held[len(held)-4:] {
		unix.Close(fd)
	}
	held = held[:len(held)-4]
	var socks []int
	for range 4 {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, fd)
		held = append(held, fd)
	}
	for _, fd := range socks {
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
	}
	acceptWait(t, "the bus meets EMFILE in accept", func() bool { return log.has("cannot accept connections") })
	release()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.GetNameOwner(ctx, "org.freedesktop.DBus"); err != nil {
		t.Fatalf("a connected client after EMFILE: %v", err)
	}
	acceptWait(t, "a new client connects once descriptors are back", func() bool { return acceptDials(e.ClassicAddress, 5*time.Second) })
}
