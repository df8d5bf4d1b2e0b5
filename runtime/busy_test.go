package runtime

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// socketPair returns the two ends of a connected AF_UNIX stream socket pair.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ends [2]*net.UnixConn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ends[i] = c.(*net.UnixConn)
		t.Cleanup(func() { ends[i].Close() })
	}
	return ends[0], ends[1]
}

// A caller that floods a busy server with calls and never reads the refusals must not stop
// the server's reader: the refusals fill the socket, and a reader that wrote them itself
// would block there and read nothing more, from anyone.
func TestBusyRefusalsDoNotBlockTheReader(t *testing.T) {
	srvSock, cliSock := socketPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	accepted := make(chan *classic.Conn, 1)
	go func() {
		c, err := classic.Accept(ctx, srvSock, classic.AcceptOptions{GUID: "0123456789abcdef0123456789abcdef", UID: uint32(os.Getuid())})
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	flooder, err := classic.NewConn(ctx, cliSock, classic.Options{NoHello: true})
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	tc := <-accepted
	if tc == nil {
		t.FailNow()
	}
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{}, 1)
	srv := NewConn(tc, PeerToPeer(), WithMaxConcurrentCalls(1, 0))
	defer srv.Close()
	if err := srv.Register(&testDesc, &impl{echo: func(context.Context, *echoMsg) (*echoMsg, error) {
		started <- struct{}{}
		<-block
		return &echoMsg{}, nil
	}}); err != nil {
		t.Fatal(err)
	}
	call := func() *wire.Message {
		e := wire.NewEncoder(nil, wire.NativeOrder)
		echoCodec.Encode(e, &echoMsg{Text: "x"})
		return &wire.Message{Type: wire.MethodCall, Path: testDesc.Path, Interface: testIface, Member: "Echo", Signature: "si", Body: e.Bytes()}
	}
	if err := flooder.Send(call(), nil); err != nil {
		t.Fatal(err)
	}
	<-started // the one slot is taken: every further call is refused
	const calls = 20000
	go func() {
		for range calls {
			if flooder.Send(call(), nil) != nil {
				return
			}
		}
	}()
	// Every call is read, although the refusals of most of them were never read.
	for start := time.Now(); srv.Stats().Received < calls+1; time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("the server read %d of %d calls: its reader is stuck behind refusals nobody reads", srv.Stats().Received, calls+1)
		}
	}
	if srv.Stats().Refused == 0 {
		t.Errorf("no refusal was counted although the caller read none of them")
	}
}
