package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/types/known/emptypb"
)

// These attacks and checks concern lanes on kdbusd's native transport: what peers in other
// processes, a dying peer, a dying bus and busctl's monitor see of the unicasts that lanes
// carry straight between two native peers.

// laneWait bounds the wait for an effect that should come at once: it only catches hangs.
const laneWait = 30 * time.Second

// laneVictim starts the test binary as the service that never answers (runVictim) on the
// bus at addr, and returns it with the lines it prints.
func laneVictim(t *testing.T, addr string) (*exec.Cmd, <-chan string) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), victimEnv+"="+addr)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expectLine(t, lines, "ready")
	return child, lines
}

// expectLine waits for the next line a child prints.
func expectLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case l := <-lines:
		if l != want {
			t.Fatalf("the child said %q, expected %q", l, want)
		}
	case <-time.After(laneWait):
		t.Fatalf("the child did not say %q within %v", want, laneWait)
	}
}

// busStat reads one counter of the bus's Debug.Stats.
func busStat(t *testing.T, c *runtime.Conn, name string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), laneWait)
	defer cancel()
	m, _, err := c.Call(ctx, &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetStats"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range vals[0].([]wire.DictEntry) {
		if ent.Key == name {
			return ent.Value.(wire.Variant).Value.(uint32)
		}
	}
	t.Fatalf("Debug.Stats has no %s", name)
	return 0
}

// peerPing makes a call that any runtime connection answers.
func peerPing(dest string) *wire.Message {
	return &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: dest, Path: "/",
		Interface: runtime.PeerInterface, Member: "Ping"}
}

// openLane pings dest from c until the bus has opened a lane (the bus's only one).
func openLane(t *testing.T, c *runtime.Conn, dest string) {
	t.Helper()
	WaitFor(t, "a lane opened to "+dest, laneWait, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), laneWait)
		defer cancel()
		if _, _, err := c.Call(ctx, peerPing(dest), nil); err != nil {
			t.Fatalf("pinging %s: %v", dest, err)
		}
		return busStat(t, c, "LanesOpened") == 1
	})
}

// The replies a peer in another process sends over a lane carry its process's credentials,
// as the kernel attached them, and its unique name.
func TestLaneCredentialsFromAnotherProcess(t *testing.T) {
	bus := Start(t, bustest.KdbusdNative, dbustest.Config{})
	child, _ := laneVictim(t, bus.Address)
	owner, err := Dial(t, bus.Address).GetNameOwner(context.Background(), victimName)
	if err != nil {
		t.Fatal(err)
	}
	c := nativeDial(t, bus, native.Options{})
	replies := make(chan native.Received, 1)
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			if r.Msg.Type == wire.MethodReturn || r.Msg.Type == wire.Error {
				rr := r
				m := *r.Msg
				rr.Msg = &m
				replies <- rr
			}
			c.Release(&r)
		}
	}()
	start := time.Now()
	for n := 1; ; n++ {
		m := peerPing(victimName)
		ctx, cancel := context.WithTimeout(context.Background(), laneWait)
		err := c.SendCall(ctx, m, nil, native.SendOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var r native.Received
		select {
		case r = <-replies:
		case <-time.After(laneWait):
			t.Fatalf("no reply to Ping %d", n)
		}
		if r.Msg.Type != wire.MethodReturn || r.Msg.ReplySerial != m.Serial {
			t.Fatalf("Ping %d: %s %s to %d, want a return to %d", n, r.Msg.Type, r.Msg.ErrorName, r.Msg.ReplySerial, m.Serial)
		}
		if !r.Record.Lane {
			if time.Since(start) > laneWait {
				t.Fatalf("none of %d replies came over a lane", n)
			}
			continue
		}
		if r.Msg.Sender != owner {
			t.Errorf("the reply's sender is %q, want %q", r.Msg.Sender, owner)
		}
		if !r.Record.HasCreds || r.Record.PID != uint32(child.Process.Pid) || r.Record.UID != uint32(os.Getuid()) || r.Record.GID != uint32(os.Getgid()) {
			t.Errorf("credentials %+v, want uid %d gid %d pid %d (the child's; this process is %d)",
				r.Record, os.Getuid(), os.Getgid(), child.Process.Pid, os.Getpid())
		}
		return
	}
}

// Calls waiting over a lane for a service whose process dies fail at once with NoReply,
// though their contexts have no deadline.
func TestLanePeerDeath(t *testing.T) {
	bus := Start(t, bustest.KdbusdNative, dbustest.Config{})
	child, lines := laneVictim(t, bus.Address)
	c := Dial(t, bus.Address)
	openLane(t, c, victimName)
	stub := benchv1.NewBenchClient(c, runtime.WithDestination(victimName))
	const calls = 4
	done := make(chan error, calls)
	for range calls {
		go func() {
			_, err := stub.Ping(context.Background(), &benchv1.PingRequest{})
			done <- err
		}()
	}
	for range calls {
		expectLine(t, lines, "called")
	}
	if n := busStat(t, c, "ConnectionsWithMonitors"); n != 0 {
		t.Fatalf("%d monitors watch: the calls did not take the lane", n)
	}
	child.Process.Kill()
	child.Wait()
	for i := range calls {
		select {
		case err := <-done:
			if runtime.CodeOf(err) != runtime.Unavailable {
				t.Errorf("call %d to a service that died: %v (code %v), want NoReply (Unavailable)", i, err, runtime.CodeOf(err))
			}
		case <-time.After(laneWait):
			t.Fatalf("call %d is still waiting %v after its service died", i, laneWait)
		}
	}
}

// lanedBench is the benchmark service; Ping with a payload waits for the caller to give up or
// the bus to go. It counts the calls that came over a lane (the bus numbers every call it
// routes, and none a lane carries) and announces the held ones.
type lanedBench struct {
	*bench.Server
	laned, routed atomic.Int64
	held          chan struct{}
}

func (s *lanedBench) count(ctx context.Context) {
	if runtime.CallerFrom(ctx).Seqnum() == 0 {
		s.laned.Add(1)
	} else {
		s.routed.Add(1)
	}
}

func (s *lanedBench) Ping(ctx context.Context, req *benchv1.PingRequest) (*benchv1.PingReply, error) {
	s.count(ctx)
	if len(req.GetPayload()) > 0 {
		s.held <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &benchv1.PingReply{}, nil
}

func (s *lanedBench) Notify(ctx context.Context, req *benchv1.NotifyRequest) (*emptypb.Empty, error) {
	s.count(ctx)
	return s.Server.Notify(ctx, req)
}

// serveLaned serves a lanedBench on a new connection to addr under victimName.
func serveLaned(t *testing.T, addr string) (*runtime.Conn, *lanedBench) {
	t.Helper()
	c := Dial(t, addr)
	s := &lanedBench{Server: bench.NewServer(), held: make(chan struct{}, 64)}
	if err := benchv1.RegisterBenchServer(c, s); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RequestName(context.Background(), victimName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return c, s
}

// When the bus dies, calls waiting over a lane and calls made afterwards fail with
// ErrDisconnected; none waits, though the lane's socket outlives the bus.
func TestLaneBusDeath(t *testing.T) {
	bus := Start(t, bustest.KdbusdNative, dbustest.Config{})
	_, srv := serveLaned(t, bus.Address)
	c := Dial(t, bus.Address)
	stub := benchv1.NewBenchClient(c, runtime.WithDestination(victimName))
	WaitFor(t, "a call came over a lane", laneWait, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), laneWait)
		defer cancel()
		if _, err := stub.Ping(ctx, &benchv1.PingRequest{}); err != nil {
			t.Fatal(err)
		}
		return srv.laned.Load() > 0
	})
	const calls = 4
	done := make(chan error, calls)
	laned := srv.laned.Load()
	for range calls {
		go func() {
			_, err := stub.Ping(context.Background(), &benchv1.PingRequest{Payload: []byte("hold")})
			done <- err
		}()
	}
	for range calls {
		select {
		case <-srv.held:
		case <-time.After(laneWait):
			t.Fatal("the held calls did not reach the service")
		}
	}
	if got := srv.laned.Load() - laned; got != calls {
		t.Fatalf("%d of %d held calls came over the lane", got, calls)
	}
	bus.Kill()
	for i := range calls {
		select {
		case err := <-done:
			if !errors.Is(err, runtime.ErrDisconnected) {
				t.Errorf("held call %d when the bus died: %v, want ErrDisconnected", i, err)
			}
		case <-time.After(laneWait):
			t.Fatalf("held call %d is still waiting %v after the bus died", i, laneWait)
		}
	}
	next := make(chan error, 1)
	go func() {
		_, err := stub.Ping(context.Background(), &benchv1.PingRequest{})
		next <- err
	}()
	select {
	case err := <-next:
		if !errors.Is(err, runtime.ErrDisconnected) {
			t.Errorf("a call after the bus died: %v, want ErrDisconnected", err)
		}
	case <-time.After(laneWait):
		t.Fatalf("a call made after the bus died is still waiting after %v", laneWait)
	}
}

// busctlMessage is a message as busctl monitor prints it.
type busctlMessage struct {
	typ, sender, dest, member string
	cookie, replyCookie       string
}

var busctlField = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

// busctlMessages parses busctl monitor's output.
func busctlMessages(out string) []busctlMessage {
	var msgs []busctlMessage
	for _, block := range strings.Split(out, "‣ ")[1:] {
		head, _, _ := strings.Cut(block, "  MESSAGE")
		f := map[string]string{}
		for _, m := range busctlField.FindAllStringSubmatch(head, -1) {
			f[m[1]] = m[2]
		}
		msgs = append(msgs, busctlMessage{f["Type"], f["Sender"], f["Destination"], f["Member"], f["Cookie"], f["ReplyCookie"]})
	}
	return msgs
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// While busctl monitor watches, the calls and replies between two native peers that shared a
// lane go through the bus and busctl shows each, in order; once it quits, the lane carries
// them again.
func TestLaneBusctlMonitor(t *testing.T) {
	busctl := dbustest.RequireTool(t, "busctl")
	bus := Start(t, bustest.KdbusdNative, dbustest.Config{})
	srvConn, srv := serveLaned(t, bus.Address)
	c := Dial(t, bus.Address)
	stub := benchv1.NewBenchClient(c, runtime.WithDestination(srvConn.UniqueName()))
	ping := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), laneWait)
		defer cancel()
		if _, err := stub.Ping(ctx, &benchv1.PingRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	WaitFor(t, "a call came over a lane", laneWait, func() bool { ping(); return srv.laned.Load() > 0 })

	var stdout, stderr lockedBuffer
	mon := exec.Command(busctl, "--address="+bus.ClassicAddress, "monitor")
	mon.Stdout, mon.Stderr = &stdout, &stderr
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mon.Process.Kill()
		mon.Wait()
	})
	// busctl says it is monitoring once the bus made it a monitor.
	WaitFor(t, "busctl monitoring", laneWait, func() bool { return strings.Contains(stderr.String(), "Monitoring") })
	laned, routed := srv.laned.Load(), srv.routed.Load()
	const n = 50
	for range n {
		ping()
	}
	if got := srv.laned.Load() - laned; got != 0 {
		t.Fatalf("%d of %d calls came over the lane while busctl monitored", got, n)
	}
	if got := srv.routed.Load() - routed; got != n {
		t.Fatalf("%d of %d calls went through the bus while busctl monitored", got, n)
	}
	a, b := c.UniqueName(), srvConn.UniqueName()
	var seen []busctlMessage
	WaitFor(t, "busctl showed every call and reply", laneWait, func() bool {
		seen = nil
		for _, m := range busctlMessages(stdout.String()) {
			if m.sender == a && m.dest == b || m.sender == b && m.dest == a {
				seen = append(seen, m)
			}
		}
		return len(seen) >= 2*n
	})
	if len(seen) != 2*n {
		t.Fatalf("busctl showed %d messages between the peers, want %d", len(seen), 2*n)
	}
	for i := 0; i < len(seen); i += 2 {
		call, reply := seen[i], seen[i+1]
		if call.typ != "method_call" || call.sender != a || call.member != "Ping" ||
			reply.typ != "method_return" || reply.sender != b || reply.replyCookie != call.cookie {
			t.Fatalf("busctl showed %+v then %+v, want a Ping from %s and its reply", call, reply, a)
		}
	}
	mon.Process.Kill()
	mon.Wait()
	laned = srv.laned.Load()
	WaitFor(t, "calls take the lane again once busctl quit", laneWait, func() bool { ping(); return srv.laned.Load() > laned })
	Report(t, "lanes under busctl monitor", bus.Kind, Figures{Note: fmt.Sprintf("%d calls and replies shown in order, none over the lane", n)})
}
