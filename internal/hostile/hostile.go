// Package hostile is the adversarial suite: its tests attack a bus the way an unprivileged local
// client can (descriptor and connection exhaustion, memory promised and never sent, floods into a
// receiver that does not read, deadlocks, rule bloat) and check that the bus survives, stays
// within its configured limits, keeps serving well-behaved clients, and recovers once the
// attacker leaves. Each attack runs against kdbusd and, where the behaviour compares, against
// dbus-daemon with the same configuration, and reports both figures side by side.
//
// The tests are short by default, so that CI runs them on every change; -hostile.long runs
// each attack at full size:
//
//	go test -v -run . ./internal/hostile -args -hostile.long
//
// This file holds what the attacks share: buses as processes whose memory and descriptors can be
// read from /proc, a well-behaved client that measures calls per second, and the report.
package hostile

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

var long = flag.Bool("hostile.long", false, "run every attack at full size (minutes) instead of the short CI size")

// Long reports whether the attacks run at full size.
func Long() bool { return *long }

// Size picks the short or the long figure of an attack.
func Size(short, full int) int {
	if *long {
		return full
	}
	return short
}

// SessionLimits are the limits of dbus's own session.conf, for the attacks that compare the
// buses as a desktop session runs them (dbustest's configuration sets none, which leaves
// dbus-daemon's compiled-in, system-bus defaults).
const SessionLimits = `  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_incoming_unix_fds">250000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_outgoing_unix_fds">250000000</limit>
  <limit name="max_message_size">1000000000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_names_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
`

// Bus is a bus daemon process under attack.
type Bus struct {
	*bustest.Bus
	tb testing.TB
}

// Start starts a bus of the given kind (bustest.DBusDaemon, bustest.Kdbusd or
// bustest.KdbusdNative) as a process of its own, stopped when the test ends.
func Start(tb testing.TB, kind string, cfg dbustest.Config) *Bus {
	tb.Helper()
	b := bustest.Start(tb, kind, cfg)
	if b.Daemon == nil {
		tb.Fatalf("bus kind %q has no process of its own to measure", kind)
	}
	return &Bus{Bus: b, tb: tb}
}

// Exited reports whether the bus process has ended.
func (b *Bus) Exited() bool {
	select {
	case <-b.Daemon.Exited():
		return true
	default:
		return false
	}
}

// MustRun fails the test if the bus process has ended.
func (b *Bus) MustRun() {
	b.tb.Helper()
	if b.Exited() {
		b.tb.Fatalf("%s exited under attack", b.Kind)
	}
}

// RSS returns the bus process's resident memory in bytes.
func (b *Bus) RSS() int64 {
	b.tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.Daemon.PID()))
	if err != nil {
		b.tb.Fatalf("reading the bus's memory: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.tb.Fatalf("parsing VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.tb.Fatalf("no VmRSS in /proc/%d/status", b.Daemon.PID())
	return 0
}

// FDs returns how many descriptors the bus process holds.
func (b *Bus) FDs() int {
	b.tb.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.Daemon.PID()))
	if err != nil {
		b.tb.Fatalf("reading the bus's descriptors: %v", err)
	}
	return len(ents)
}

// WaitFor polls cond until it holds, and returns how long that took. It fails the test when
// cond does not hold within limit, which should be far longer than the effect needs even on a
// loaded machine: it is a bound on a hang, not a guess of the time the effect takes.
func WaitFor(tb testing.TB, what string, limit time.Duration, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			tb.Fatalf("%s: still not true after %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// Rate is what a well-behaved client achieved.
type Rate struct {
	CallsPerSec float64
	Max         time.Duration // the slowest call
	Failed      int           // calls that returned an error
}

func (r Rate) String() string {
	s := fmt.Sprintf("%.0f calls/s (slowest %v)", r.CallsPerSec, r.Max.Round(10*time.Microsecond))
	if r.Failed > 0 {
		s += fmt.Sprintf(", %d failed", r.Failed)
	}
	return s
}

// Dial connects a client to addr, closed when the test ends.
func Dial(tb testing.TB, addr string) *runtime.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		tb.Fatalf("connecting to %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Measure connects a well-behaved client to addr and times n sequential GetNameOwner calls to
// the bus driver, each bounded by perCall. It is a measurement to report, not an assertion: the
// caller decides what rate it needs.
func Measure(tb testing.TB, addr string, n int, perCall time.Duration) Rate {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), perCall+10*time.Second)
	c, err := runtime.Dial(ctx, addr)
	cancel()
	if err != nil {
		tb.Fatalf("a well-behaved client cannot connect: %v", err)
	}
	defer c.Close()
	return MeasureOn(c, n, perCall)
}

// MeasureOn is Measure on a client that is already connected, for a bus that may rightly keep
// a new connection waiting.
func MeasureOn(c *runtime.Conn, n int, perCall time.Duration) Rate {
	var r Rate
	start := time.Now()
	for range n {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), perCall)
		_, err := c.GetNameOwner(ctx, "org.freedesktop.DBus")
		cancel()
		if err != nil {
			r.Failed++
		}
		r.Max = max(r.Max, time.Since(t0))
	}
	r.CallsPerSec = float64(n) / time.Since(start).Seconds()
	return r
}

// Figures are what one attack did to one bus.
type Figures struct {
	RSS     int64         // the bus's peak resident memory during the attack, bytes (0: not measured)
	FDs     int           // the bus's peak descriptor count during the attack (0: not measured)
	Rate    Rate          // a well-behaved client during the attack
	Recover time.Duration // from the attacker leaving to the bus being back to normal
	Note    string        // what else happened, in a few words
}

type row struct {
	attack, kind string
	f            Figures
}

var (
	rmu  sync.Mutex
	rows []row
)

// Report records an attack's figures for one bus; they are logged at once and printed as one
// table at the end of the run.
func Report(tb testing.TB, attack, kind string, f Figures) {
	tb.Helper()
	tb.Logf("%-24s %-14s %s", attack, kind, f.cells())
	rmu.Lock()
	rows = append(rows, row{attack, kind, f})
	rmu.Unlock()
}

func (f Figures) cells() string {
	var parts []string
	if f.RSS > 0 {
		parts = append(parts, fmt.Sprintf("RSS %.1f MB", float64(f.RSS)/1e6))
	}
	if f.FDs > 0 {
		parts = append(parts, fmt.Sprintf("%d fds", f.FDs))
	}
	if f.Rate.CallsPerSec > 0 {
		parts = append(parts, f.Rate.String())
	}
	if f.Recover > 0 {
		parts = append(parts, fmt.Sprintf("recovered in %v", f.Recover.Round(time.Millisecond)))
	}
	if f.Note != "" {
		parts = append(parts, f.Note)
	}
	return strings.Join(parts, "; ")
}

// PrintTable writes every reported figure, grouped by attack, to standard output.
func PrintTable() {
	rmu.Lock()
	defer rmu.Unlock()
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].attack < rows[j].attack })
	fmt.Println("| attack | bus | figures |")
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.attack, r.kind, r.f.cells())
	}
}
