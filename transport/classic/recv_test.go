package classic

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// pipeConn returns a Conn reading from one end of a socketpair, as Accept leaves it, and the
// other end for the test to write raw bytes and descriptors into.
func pipeConn(tb testing.TB, unixFDs bool) (*Conn, *net.UnixConn) {
	tb.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			tb.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	c := &Conn{sock: conn(fds[0]), order: wire.NativeOrder, unixFD: unixFDs,
		oob: make([]byte, unix.CmsgSpace(wire.MaxUnixFDs*4)), done: make(chan struct{})}
	peer := conn(fds[1])
	tb.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

func rawPing(tb testing.TB, serial, fds uint32) []byte {
	tb.Helper()
	m := &wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Serial: serial, Path: "/", Member: "Ping", UnixFDs: fds}
	b, err := m.AppendTo(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func devNull(tb testing.TB, n int) []int {
	tb.Helper()
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fd
	}
	return fds
}

// TestUndeclaredDescriptorsBreakTheConnection checks that descriptors no message declares
// are a protocol error, and that those of the next message arriving with the end of the
// current one are not.
func TestUndeclaredDescriptorsBreakTheConnection(t *testing.T) {
	t.Run("undeclared", func(t *testing.T) {
		c, peer := pipeConn(t, true)
		peer.WriteMsgUnix(rawPing(t, 1, 0), unix.UnixRights(devNull(t, 3)...), nil)
		_, err := c.Recv()
		if !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "no message declares") {
			t.Fatalf("Recv of a message with 3 undeclared descriptors: %v, want a protocol error", err)
		}
	})
	t.Run("more than declared", func(t *testing.T) {
		c, peer := pipeConn(t, true)
		peer.WriteMsgUnix(rawPing(t, 1, 1), unix.UnixRights(devNull(t, 3)...), nil)
		if _, err := c.Recv(); !errors.Is(err, ErrDisconnected) {
			t.Fatalf("Recv of a message declaring 1 descriptor that came with 3: %v, want a protocol error", err)
		}
	})
	t.Run("not negotiated", func(t *testing.T) {
		c, peer := pipeConn(t, false)
		peer.WriteMsgUnix(rawPing(t, 1, 1), unix.UnixRights(devNull(t, 1)...), nil)
		if _, err := c.Recv(); !errors.Is(err, ErrDisconnected) || !strings.Contains(err.Error(), "not negotiated") {
			t.Fatalf("Recv of descriptors on a connection that did not negotiate them: %v, want a protocol error", err)
		}
	})
	t.Run("next message's descriptors with this one's tail", func(t *testing.T) {
		c, peer := pipeConn(t, true)
		first, second := rawPing(t, 1, 0), rawPing(t, 2, 2)
		peer.Write(first[:len(first)-8])
		// The descriptors ride on the skb that starts with the first message's last bytes.
		tail := append(append([]byte(nil), first[len(first)-8:]...), second...)
		if _, _, err := peer.WriteMsgUnix(tail, unix.UnixRights(devNull(t, 2)...), nil); err != nil {
			t.Fatal(err)
		}
		r, err := c.Recv()
		if err != nil || r.Msg.Serial != 1 || len(r.FDs) != 0 {
			t.Fatalf("first message: %v, %d fds, %v", r.Msg, len(r.FDs), err)
		}
		r, err = c.Recv()
		if err != nil || r.Msg.Serial != 2 || len(r.FDs) != 2 {
			t.Fatalf("second message: %v, %d fds, %v", r.Msg, len(r.FDs), err)
		}
		for _, fd := range r.FDs {
			unix.Close(fd)
		}
	})
}

// TestPromisedLengthIsNotAllocated sends the header of a message that announces a 100 MiB
// body and then hangs up: reading it must not allocate anything near the promise.
func TestPromisedLengthIsNotAllocated(t *testing.T) {
	c, peer := pipeConn(t, false)
	hdr := rawPing(t, 1, 0)
	binary.LittleEndian.PutUint32(hdr[4:8], 100<<20)
	peer.Write(hdr)
	peer.CloseWrite()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := c.Recv()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Recv of a header and nothing else: %v, want EOF", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("reading a header that promises 100 MiB allocated %d bytes", alloc)
	}
}

// countingQuota records what a Conn charges.
type countingQuota struct {
	mu               sync.Mutex
	bytes, fds, peak int
	refuse           bool
}

func (q *countingQuota) Reserve(done <-chan struct{}, n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.refuse {
		return errors.New("refused")
	}
	q.bytes += n
	q.peak = max(q.peak, q.bytes)
	return nil
}
func (q *countingQuota) AddFDs(n int) { q.mu.Lock(); q.fds += n; q.mu.Unlock() }
func (q *countingQuota) Release(bytes, fds int) {
	q.mu.Lock()
	q.bytes -= bytes
	q.fds -= fds
	q.mu.Unlock()
}

// TestQuotaIsChargedAsBytesArrive checks that a message is charged as its bytes arrive, that
// the charge passes to the receiver with the message, and that Close returns what a broken
// message held.
func TestQuotaIsChargedAsBytesArrive(t *testing.T) {
	c, peer := pipeConn(t, true)
	q := &countingQuota{}
	c.SetQuota(q)
	body := make([]byte, 1<<20)
	m := &wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Serial: 1, Path: "/", Member: "Big", Signature: "ay"}
	m.Body, _ = wire.Marshal(wire.LittleEndian, "ay", body)
	m.UnixFDs = 1
	raw, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		n, _, _ := peer.WriteMsgUnix(raw, unix.UnixRights(devNull(t, 1)...), nil)
		peer.Write(raw[n:])
		// Then a header that promises 1 MiB, a few bytes of it, and a hangup.
		hdr := rawPing(t, 2, 0)
		binary.LittleEndian.PutUint32(hdr[4:8], 1<<20)
		peer.Write(append(hdr, 1, 2, 3))
		peer.CloseWrite()
	}()
	r, err := c.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if r.Charged != len(raw) || q.bytes != len(raw) || q.fds != 1 || len(r.FDs) != 1 {
		t.Fatalf("charged %d bytes (quota %d) and %d fds for a %d-byte message with 1 fd", r.Charged, q.bytes, q.fds, len(raw))
	}
	unix.Close(r.FDs[0])
	q.Release(r.Charged, 1)
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv of a message cut short: %v, want EOF", err)
	}
	if q.bytes == 0 || q.bytes > 64<<10 {
		t.Fatalf("a message of which a few bytes arrived holds %d bytes of quota", q.bytes)
	}
	c.Close()
	if q.bytes != 0 || q.fds != 0 {
		t.Fatalf("after Close the quota still holds %d bytes and %d fds", q.bytes, q.fds)
	}
}

// TestHangupBlame checks that a hangup is blamed on max_message_size only after a large
// message, and otherwise said to be the bus going away.
func TestHangupBlame(t *testing.T) {
	small := &DisconnectError{Reason: "the other end closed the connection", Cause: io.EOF, LastSent: 120}
	if s := small.Error(); strings.Contains(s, "max_message_size") || !strings.Contains(s, "went away") {
		t.Errorf("hangup after a small message: %q", s)
	}
	big := &DisconnectError{Reason: "the other end closed the connection", Cause: io.EOF, LastSent: 1 << 20}
	if s := big.Error(); !strings.Contains(s, "max_message_size") {
		t.Errorf("hangup right after a 1 MiB message: %q", s)
	}
	proto := &DisconnectError{Reason: "protocol error", Cause: errors.New("bad header"), LastSent: 1 << 20}
	if s := proto.Error(); strings.Contains(s, "max_message_size") {
		t.Errorf("our own protocol error: %q", s)
	}
}

// FuzzRecv feeds arbitrary bytes, with descriptors attached at a chosen offset, to a
// connection's reader: it must return messages or an error, never panic or hang.
func FuzzRecv(f *testing.F) {
	ping := rawPing(f, 1, 0)
	two := rawPing(f, 2, 1)
	f.Add(ping, uint8(0), uint8(0))
	f.Add(append(append([]byte(nil), ping...), two...), uint8(1), uint8(len(ping)-4))
	f.Add(ping[:10], uint8(0), uint8(0))
	f.Add(two, uint8(3), uint8(0))
	null := devNull(f, 4)
	f.Fuzz(func(t *testing.T, data []byte, nfds, at uint8) {
		c, peer := pipeConn(t, nfds%2 == 0)
		n := int(nfds % 5)
		cut := min(int(at), len(data))
		go func() {
			peer.Write(data[:cut])
			if n > 0 && cut < len(data) {
				k, _, _ := peer.WriteMsgUnix(data[cut:], unix.UnixRights(null[:n]...), nil)
				peer.Write(data[cut+k:])
			} else {
				peer.Write(data[cut:])
			}
			peer.CloseWrite()
		}()
		for range 64 {
			r, err := c.Recv()
			if err != nil {
				return
			}
			if int(r.Msg.UnixFDs) != len(r.FDs) {
				t.Fatalf("message declares %d descriptors, came with %d", r.Msg.UnixFDs, len(r.FDs))
			}
			for _, fd := range r.FDs {
				unix.Close(fd)
			}
		}
	})
}
