package hostile

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
	"golang.org/x/sys/unix"
)

// descSessionLimits are session.conf's limits on connections: they leave the descriptor limit
// as the only bound, which is what this attack is about.
const descSessionLimits = `<limit name="max_incomplete_connections">10000</limit>
<limit name="max_completed_connections">100000</limit>
<limit name="max_connections_per_user">100000</limit>
<limit name="auth_timeout">240000</limit>
`

// TestDescriptorExhaustion runs a bus under a low RLIMIT_NOFILE and opens connections to it
// until it stops accepting: bare ones that never speak and half-authenticated ones that never
// send BEGIN (or never send their hello, natively). The bus must stay up, keep serving a
// client that connected before, and take new clients once the attacker leaves.
func TestDescriptorExhaustion(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) { descExhaust(t, kind) })
	}
}

func descExhaust(t *testing.T, kind string) {
	bus := Start(t, kind, dbustest.Config{Extra: descSessionLimits})
	nofile := uint64(Size(256, 4096))
	descSetNofile(t, bus.Daemon.PID(), nofile)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	client, err := runtime.Dial(ctx, bus.Address)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// Bare and half-authenticated connections, on the socket the bus's clients use and, for a
	// bus with a native socket, on the classic one too, well past the descriptor limit.
	bare, half := Size(300, 3000), Size(300, 3000)
	var attacker []int
	defer func() { descCloseAll(attacker) }()
	targets := []descTarget{{path: descSocketPath(t, bus.ClassicAddress), typ: unix.SOCK_STREAM}}
	if bus.Native {
		targets = append(targets, descTarget{path: descSocketPath(t, bus.Address), typ: unix.SOCK_SEQPACKET})
	}
	opened := 0
	for _, tg := range targets {
		for i := range bare + half {
			fd, err := descConnect(tg)
			if err != nil {
				break // the backlog is full: the bus accepts nothing more
			}
			attacker = append(attacker, fd)
			opened++
			if i >= bare && tg.typ == unix.SOCK_STREAM {
				// "AUTH EXTERNAL <uid in hex>" and no BEGIN: the bus must keep it
				// waiting for the rest, as a slow client would.
				uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
				unix.Write(fd, []byte("\x00AUTH EXTERNAL "+uid+"\r\n"))
			}
		}
	}
	fds := bus.FDs()
	bus.MustRun()

	// The client that was there before still gets answers.
	rate := MeasureOn(client, Size(200, 2000), 10*time.Second)
	bus.MustRun()
	if rate.Failed > 0 {
		t.Errorf("%s: %d of the connected client's calls failed during the attack", kind, rate.Failed)
	}
	if n := bus.FDs(); n > int(nofile) {
		t.Errorf("%s holds %d descriptors under a limit of %d", kind, n, nofile)
	}
	fds = max(fds, bus.FDs())

	// Once the attacker leaves, a new client gets in.
	descCloseAll(attacker)
	attacker = nil
	recover := WaitFor(t, "a new client connects after the attack", 90*time.Second, func() bool {
		bus.MustRun()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	bus.MustRun()
	Report(t, "descriptor exhaustion", kind, Figures{FDs: fds, Rate: rate, Recover: recover,
		Note: fmt.Sprintf("RLIMIT_NOFILE %d, %d attacking connections", nofile, opened)})
}

// descTarget is a socket to attack.
type descTarget struct {
	path string
	typ  int
}

// descConnect connects to tg without blocking; it fails once the listener's backlog is full.
func descConnect(tg descTarget) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, tg.typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: tg.path}); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func descCloseAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// descSocketPath returns the path of the first entry of a bus address.
func descSocketPath(tb testing.TB, addr string) string {
	tb.Helper()
	list, err := address.Parse(addr)
	if err != nil {
		tb.Fatal(err)
	}
	p := list[0].Params["path"]
	if p == "" {
		tb.Fatalf("address %q has no socket path", addr)
	}
	return p
}

// descSetNofile sets a process's descriptor limit, soft and hard, as a service manager's
// LimitNOFILE= would. It is set on the running bus because both buses raise their limit at
// start; kdbusd budgets from the limit in force at each connection.
func descSetNofile(tb testing.TB, pid int, n uint64) {
	tb.Helper()
	lim := unix.Rlimit{Cur: n, Max: n}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		tb.Fatalf("prlimit(RLIMIT_NOFILE=%d) on the bus: %v", n, err)
	}
}
