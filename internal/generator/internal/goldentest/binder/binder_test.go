package binderpb_test

// Binder habits on a bus, on every kind of bus: file descriptors and callbacks passed as
// arguments, objects exported for a peer, no-reply calls to one object run one at a time in
// order, the caller's uid and pid inside a handler, death notification when a peer's process
// goes away, and waiting for a service to appear.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	binderpb "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/binder"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/types/known/emptypb"
)

// childEnv names the bus address a re-executed test binary connects to as the child peer.
const childEnv = "KDBUS_BINDER_TEST_CHILD"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(child(addr))
	}
	os.Exit(m.Run())
}

// child is a peer in a process of its own: it serves a listener, hands it to the recorder in a
// Start call, prints "ready" and waits to be killed.
func child(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	ref, err := binderpb.ExportListenerServer(conn, &listener{})
	if err != nil {
		fmt.Println("export:", err)
		return 1
	}
	if _, err := binderpb.NewRecorderClient(conn).Start(ctx, &binderpb.StartRequest{Listener: ref}); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	fmt.Println("ready")
	<-ctx.Done()
	return 0
}

// listener records the levels it hears and how many calls ran at once.
type listener struct {
	binderpb.UnimplementedListenerServer
	mu        sync.Mutex
	levels    []float64
	running   atomic.Int32
	maxAtOnce int32
	delay     time.Duration
	got       chan struct{} // receives after each call, when set
}

func (l *listener) OnLevel(ctx context.Context, lv *binderpb.Level) (*emptypb.Empty, error) {
	n := l.running.Add(1)
	defer l.running.Add(-1)
	time.Sleep(l.delay)
	l.mu.Lock()
	l.levels = append(l.levels, lv.GetDb())
	if n > l.maxAtOnce {
		l.maxAtOnce = n
	}
	l.mu.Unlock()
	if l.got != nil {
		l.got <- struct{}{}
	}
	return &emptypb.Empty{}, nil
}

// call is what the recorder saw of one Start call.
type call struct {
	caller   string
	creds    runtime.Credentials
	credsErr error
	listener *runtime.ObjectRef
}

// recorder writes into the files it is handed, reports levels to the listener, and hands out a
// session object.
type recorder struct {
	binderpb.UnimplementedRecorderServer
	conn   *runtime.Conn
	levels int
	calls  chan call
}

func (r *recorder) Start(ctx context.Context, req *binderpb.StartRequest) (*binderpb.StartResponse, error) {
	c := runtime.CallerFrom(ctx)
	creds, err := c.Credentials(ctx)
	if r.calls != nil {
		r.calls <- call{caller: c.Sender, creds: creds, credsErr: err, listener: req.GetListener()}
	}
	for i, fd := range append([]*runtime.UnixFD{req.GetFile()}, req.GetExtra()...) {
		if fd == nil {
			continue
		}
		f := runtime.FileFromFD(fd, "recording")
		_, werr := fmt.Fprintf(f, "recorded %d at rate %d\n", i, req.GetSettings().GetRate())
		f.Close()
		if werr != nil {
			return nil, werr
		}
	}
	if ref := req.GetListener(); ref != nil && r.levels > 0 {
		l := binderpb.NewListenerClient(r.conn, runtime.Target(ref))
		for i := range r.levels {
			if _, err := l.OnLevel(ctx, &binderpb.Level{Db: float64(i)}); err != nil {
				return nil, err
			}
		}
	}
	session, err := binderpb.ExportRecorderServer(r.conn, &recorder{conn: r.conn})
	if err != nil {
		return nil, err
	}
	return &binderpb.StartResponse{Session: session}, nil
}

// serve connects a recorder to bus and names it; it returns the recorder's and a client's
// connections.
func serve(t *testing.T, bus *bustest.Bus, rec *recorder) (srv, cli *runtime.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	if srv, err = runtime.Dial(ctx, bus.Address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if cli, err = runtime.Dial(ctx, bus.Address); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	rec.conn = srv
	if err := binderpb.RegisterRecorderServer(srv, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(ctx, binderpb.Recorder_BusName, 0); err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

// TestFDsAndCallbacks passes file descriptors and a callback object in one call: the server
// writes into the files and calls the callback back, whose no-reply calls arrive in order, one
// at a time; the session object it returns is served at a path of its own until unexported.
func TestFDsAndCallbacks(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const levels = 300
		_, cli := serve(t, bus, &recorder{levels: levels})

		l := &listener{got: make(chan struct{}, levels)}
		ref, err := binderpb.ExportListenerServer(cli, l)
		if err != nil {
			t.Fatal(err)
		}
		if ref.GetBusName() != cli.UniqueName() || !strings.HasPrefix(ref.GetPath(), "/") {
			t.Fatalf("exported reference %v, want the client's unique name %s and a path", ref, cli.UniqueName())
		}
		var readers []*os.File
		req := &binderpb.StartRequest{Listener: ref, Settings: binderpb.NewSettings()}
		for i := range 3 {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			defer r.Close()
			readers = append(readers, r)
			if i == 0 {
				req.File = runtime.FD(w)
			} else {
				req.Extra = append(req.Extra, runtime.FD(w))
			}
		}
		resp, err := binderpb.NewRecorderClient(cli).Start(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		// Our own write ends are still open: read exactly one line from each pipe.
		for i, r := range readers {
			want := fmt.Sprintf("recorded %d at rate 44100\n", i)
			buf := make([]byte, len(want))
			if _, err := io.ReadFull(r, buf); err != nil || string(buf) != want {
				t.Fatalf("pipe %d: read %q, %v; want %q", i, buf, err, want)
			}
		}
		for range levels {
			select {
			case <-l.got:
			case <-ctx.Done():
				t.Fatalf("the callback got %d of %d levels", len(l.levels), levels)
			}
		}
		l.mu.Lock()
		for i, v := range l.levels {
			if v != float64(i) {
				t.Fatalf("level %d arrived as %v: no-reply calls to one object must run in call order", i, v)
			}
		}
		if l.maxAtOnce != 1 {
			t.Errorf("%d no-reply calls to one object ran at once, want 1", l.maxAtOnce)
		}
		l.mu.Unlock()

		// The session is a Recorder of its own, at its own path.
		session := resp.GetSession()
		if session.GetPath() == binderpb.Recorder_ObjectPath || session.GetBusName() == "" {
			t.Fatalf("session reference %v", session)
		}
		sc := binderpb.NewRecorderClient(cli, runtime.Target(session))
		if _, err := sc.Start(ctx, &binderpb.StartRequest{}); err != nil {
			t.Fatalf("calling the session: %v", err)
		}
		// Unexported, the callback is gone.
		cli.Unexport(ref)
		other, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, err = binderpb.NewRecorderClient(other, runtime.Target(ref)).Start(ctx, &binderpb.StartRequest{})
		var rerr *runtime.Error
		if !errors.As(err, &rerr) || rerr.Name != runtime.ErrorUnknownObject {
			t.Fatalf("calling an unexported object: %v, want %s", err, runtime.ErrorUnknownObject)
		}
	})
}

// TestOnewayOrder sends many no-reply calls to one object whose handler is slow: they run one
// at a time in the order sent, and a call that expects a reply is not held up behind them.
func TestOnewayOrder(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv, cli := serve(t, bus, &recorder{})
		const n = 200
		l := &listener{delay: 200 * time.Microsecond, got: make(chan struct{}, n)}
		ref, err := binderpb.ExportListenerServer(srv, l)
		if err != nil {
			t.Fatal(err)
		}
		lc := binderpb.NewListenerClient(cli, runtime.Target(ref))
		for i := range n {
			if _, err := lc.OnLevel(ctx, &binderpb.Level{Db: float64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// A call with a reply, to another object of the same connection, answers while the
		// no-reply calls are still queued.
		if _, err := binderpb.NewRecorderClient(cli).Start(ctx, &binderpb.StartRequest{}); err != nil {
			t.Fatal(err)
		}
		for range n {
			select {
			case <-l.got:
			case <-ctx.Done():
				t.Fatalf("got %d of %d calls", len(l.levels), n)
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, v := range l.levels {
			if v != float64(i) {
				t.Fatalf("call %d ran as number %v", int(v), i)
			}
		}
		if l.maxAtOnce != 1 {
			t.Errorf("%d no-reply calls to one object ran at once, want 1", l.maxAtOnce)
		}
	})
}

// TestDeathAndCallerIdentity runs a peer in a process of its own: the recorder sees the
// process's uid and pid, links to the death of the callback it was handed, and is told when
// the process is killed.
func TestDeathAndCallerIdentity(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		calls := make(chan call, 1)
		srv, _ := serve(t, bus, &recorder{calls: calls})

		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+bus.Address)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		var c call
		select {
		case c = <-calls:
		case <-ctx.Done():
			t.Fatal("the child never called")
		}
		if c.credsErr != nil {
			t.Fatalf("caller credentials: %v", c.credsErr)
		}
		if c.creds.PID != uint32(cmd.Process.Pid) || c.creds.UID != uint32(os.Getuid()) {
			t.Fatalf("caller uid %d pid %d, want uid %d pid %d (the child process)", c.creds.UID, c.creds.PID, os.Getuid(), cmd.Process.Pid)
		}
		if c.listener.GetBusName() != c.caller {
			t.Fatalf("the callback is served by %q, the call came from %q", c.listener.GetBusName(), c.caller)
		}
		line := make([]byte, len("ready\n"))
		if _, err := io.ReadFull(out, line); err != nil || string(line) != "ready\n" {
			t.Fatalf("child said %q, %v", line, err)
		}

		dw, err := srv.WatchDeath(ctx, c.listener.GetBusName())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-dw.Done():
			t.Fatalf("death reported while the child lives: %v", dw.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		select {
		case <-dw.Done():
		case <-ctx.Done():
			t.Fatal("no death notification after the child was killed")
		}
		if !errors.Is(dw.Err(), runtime.ErrPeerGone) {
			t.Fatalf("death watch ended with %v, want ErrPeerGone", dw.Err())
		}
		// Calling the dead callback fails; linking to it again reports it dead at once.
		if _, err := binderpb.NewListenerClient(srv, runtime.Target(c.listener)).OnLevel(ctx, &binderpb.Level{}); err != nil {
			t.Logf("no-reply call to a dead peer: %v", err)
		}
		dw2, err := srv.WatchDeath(ctx, c.listener.GetBusName())
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-dw2.Done():
		default:
			t.Fatal("watching a peer that is gone did not report it dead at once")
		}
		if !errors.Is(dw2.Err(), runtime.ErrPeerGone) {
			t.Fatalf("got %v, want ErrPeerGone", dw2.Err())
		}
	})
}

// TestWaitForName waits for a service that appears later, and gives up at a deadline.
func TestWaitForName(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()

		short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = cli.WaitForName(short, binderpb.Recorder_BusName)
		cancelShort()
		if runtime.CodeOf(err) != runtime.DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiting past a deadline: %v, want DeadlineExceeded", err)
		}

		got := make(chan string, 1)
		go func() {
			owner, err := cli.WaitForName(ctx, binderpb.Recorder_BusName)
			if err != nil {
				owner = err.Error()
			}
			got <- owner
		}()
		time.Sleep(50 * time.Millisecond)
		srv, _ := serve(t, bus, &recorder{})
		if owner := <-got; owner != srv.UniqueName() {
			t.Fatalf("WaitForName returned %q, want the recorder %s", owner, srv.UniqueName())
		}
		// Owned already: at once.
		if owner, err := cli.WaitForName(ctx, binderpb.Recorder_BusName); err != nil || owner != srv.UniqueName() {
			t.Fatalf("WaitForName on an owned name: %q, %v", owner, err)
		}
		names, err := cli.ListNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !containsName(names, binderpb.Recorder_BusName) {
			t.Fatalf("ListNames lacks %s: %v", binderpb.Recorder_BusName, names)
		}
		if _, err := cli.WatchDeath(ctx, "kdbus.test.Nobody"); runtime.CodeOf(err) == runtime.OK {
			t.Fatal("watching the death of an unowned well-known name succeeded")
		}
	})
}

func containsName(names []string, want string) bool {
	for _, n := range names {
		if n == want {
			return true
		}
	}
	return false
}
