package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/sasl"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// This file attacks what a classic client sends: descriptors no message declares, lengths
// promised and never sent, and malformed messages. Each ends with the offender disconnected
// or its promise costing nothing, and everyone else served.

// intakeConfig is the configuration both buses run with: the session bus's limits.
const intakeConfig = SessionLimits

// intakeKinds are the buses the intake attacks compare.
var intakeKinds = []string{bustest.Kdbusd, bustest.DBusDaemon}

// intakeStart starts a bus of kind for an attack, skipping dbus-daemon where it is missing.
func intakeStart(t *testing.T, kind, extra string) *Bus {
	t.Helper()
	if kind == bustest.DBusDaemon {
		dbustest.RequireTool(t, "dbus-daemon")
	}
	return Start(t, kind, dbustest.Config{Extra: extra})
}

// intakeRaw is an attacker's connection: authenticated and said Hello, then free to send any
// bytes. gone is closed once the bus has hung up on it.
type intakeRaw struct {
	c    *net.UnixConn
	gone chan struct{}
}

// intakeDial connects to the bus's classic socket, authenticates (asking for descriptor
// passing when fds is set) and sends Hello. It reads and discards whatever the bus sends.
func intakeDial(t *testing.T, b *Bus, fds bool) *intakeRaw {
	t.Helper()
	list, err := address.Parse(b.ClassicAddress)
	if err != nil {
		t.Fatal(err)
	}
	_, path, err := list[0].DialTarget()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := sasl.Client(c, sasl.ClientConfig{NegotiateUnixFD: fds}); err != nil {
		t.Fatalf("authentication: %v", err)
	}
	c.SetDeadline(time.Time{})
	hello := intakeMsg(t, &wire.Message{Type: wire.MethodCall, Serial: 1, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "Hello"})
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	r := &intakeRaw{c: c, gone: make(chan struct{})}
	go func() {
		defer close(r.gone)
		buf := make([]byte, 64<<10)
		oob := make([]byte, unix.CmsgSpace(253*4))
		for {
			_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if oobn > 0 {
				if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
					for _, m := range msgs {
						if fds, err := unix.ParseUnixRights(&m); err == nil {
							for _, fd := range fds {
								unix.Close(fd)
							}
						}
					}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// isGone reports whether the bus hung up on the connection.
func (r *intakeRaw) isGone() bool {
	select {
	case <-r.gone:
		return true
	default:
		return false
	}
}

// intakeMsg encodes m.
func intakeMsg(t *testing.T, m *wire.Message) []byte {
	t.Helper()
	if m.Order == 0 {
		m.Order = wire.LittleEndian
	}
	b, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// intakePing is a call to the bus driver that declares the given number of descriptors.
func intakePing(t *testing.T, serial uint32, fds uint32) []byte {
	return intakeMsg(t, &wire.Message{Type: wire.MethodCall, Serial: serial, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Peer", Member: "Ping", UnixFDs: fds})
}

// intakeNull opens /dev/null, the descriptor the attacks pass around.
func intakeNull(t *testing.T) int {
	t.Helper()
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func intakeRepeat(fd, n int) []int {
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fd
	}
	return fds
}

// intakeCalls is how many calls a well-behaved client's rate is measured over.
func intakeCalls() int { return Size(1000, 10000) }

// TestUndeclaredDescriptors sends calls that carry wire.MaxUnixFDs descriptors their headers
// do not declare: a bus that queued them would hold thousands of descriptors for a client
// that stays connected. The offender must be disconnected and every descriptor released.
func TestUndeclaredDescriptors(t *testing.T) {
	for _, kind := range intakeKinds {
		t.Run(kind, func(t *testing.T) {
			b := intakeStart(t, kind, intakeConfig)
			before := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			baseFDs := b.FDs()
			null := intakeNull(t)
			calls := Size(10, 100)
			a := intakeDial(t, b, true)
			peak := baseFDs
			for i := range calls {
				if _, _, err := a.c.WriteMsgUnix(intakePing(t, uint32(2+i), 0), unix.UnixRights(intakeRepeat(null, wire.MaxUnixFDs)...), nil); err != nil {
					break // the bus hung up already
				}
				peak = max(peak, b.FDs())
			}
			during := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			peak = max(peak, b.FDs())
			disconnected := a.isGone()
			a.c.Close()
			start := time.Now()
			WaitFor(t, "the bus's descriptors back to their level", time.Minute, func() bool { return b.FDs() <= baseFDs+2 })
			b.MustRun()
			Report(t, "undeclared fds", kind, Figures{FDs: peak, Rate: during, Recover: time.Since(start),
				Note: fmt.Sprintf("%d calls × %d fds; offender disconnected while connected: %v; before: %v", calls, wire.MaxUnixFDs, disconnected, before)})
			if kind != bustest.Kdbusd {
				return
			}
			if !disconnected {
				// It may take the bus a moment after the last write to hang up; it must.
				WaitFor(t, "the offender disconnected", time.Minute, a.isGone)
			}
			if peak > baseFDs+3*wire.MaxUnixFDs {
				t.Errorf("the bus held %d descriptors (base %d): more than a message's worth of undeclared descriptors piled up", peak, baseFDs)
			}
			intakeServed(t, before, during)
		})
	}
}

// TestDescriptorsWithoutNegotiation passes descriptors on a connection that did not agree to
// descriptor passing, in a message that declares them: both are protocol errors.
func TestDescriptorsWithoutNegotiation(t *testing.T) {
	for _, kind := range intakeKinds {
		t.Run(kind, func(t *testing.T) {
			b := intakeStart(t, kind, intakeConfig)
			baseFDs := b.FDs()
			null := intakeNull(t)
			a := intakeDial(t, b, false)
			a.c.WriteMsgUnix(intakePing(t, 2, 4), unix.UnixRights(intakeRepeat(null, 4)...), nil)
			start := time.Now()
			WaitFor(t, "the offender disconnected", time.Minute, a.isGone)
			a.c.Close()
			if kind == bustest.Kdbusd {
				WaitFor(t, "the bus's descriptors back to their level", time.Minute, func() bool { return b.FDs() <= baseFDs })
			}
			b.MustRun()
			Report(t, "fds not negotiated", kind, Figures{FDs: b.FDs(), Recover: time.Since(start), Note: fmt.Sprintf("offender disconnected; base %d fds", baseFDs)})
		})
	}
}

// TestPromisedLengths opens many connections that each send only the header of a message
// whose body they announce as 100 MiB, and never send it. A bus that allocates on the promise
// grows by gigabytes; one that grows its buffer as bytes arrive holds nothing.
func TestPromisedLengths(t *testing.T) {
	const promise = 100 << 20
	for _, kind := range intakeKinds {
		t.Run(kind, func(t *testing.T) {
			b := intakeStart(t, kind, intakeConfig)
			before := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			baseRSS, baseFDs, baseData := b.RSS(), b.FDs(), intakeVmData(t, b)
			n := Size(60, 300)
			hdr := intakeMsg(t, &wire.Message{Type: wire.MethodCall, Serial: 2, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Peer", Member: "Ping", Signature: "ay"})
			binary.LittleEndian.PutUint32(hdr[4:8], promise)
			var attackers []*intakeRaw
			for range n {
				a := intakeDial(t, b, false)
				if _, err := a.c.Write(hdr); err != nil {
					t.Fatal(err)
				}
				attackers = append(attackers, a)
			}
			peak := b.RSS()
			during := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			peak = max(peak, b.RSS())
			data := intakeVmData(t, b)
			fds := b.FDs()
			for _, a := range attackers {
				a.c.Close()
			}
			start := time.Now()
			WaitFor(t, "the bus's descriptors back to their level", time.Minute, func() bool { return b.FDs() <= baseFDs+1 })
			WaitFor(t, "the bus's memory back to its level", 2*time.Minute, func() bool { return b.RSS() <= baseRSS+32<<20 })
			b.MustRun()
			Report(t, "promised lengths", kind, Figures{RSS: peak, FDs: fds, Rate: during, Recover: time.Since(start),
				Note: fmt.Sprintf("%d connections × %d MiB promised; base RSS %.1f MB; heap mapped %.1f MB (base %.1f MB); before: %v", n, promise>>20, float64(baseRSS)/1e6, float64(data)/1e6, float64(baseData)/1e6, before)})
			if kind != bustest.Kdbusd {
				return
			}
			// Each connection may hold a read buffer and the start of its message; nothing
			// near the promise. Pages allocated and not yet written do not count in RSS, so
			// the mapped data segment tells what was allocated.
			if limit := baseRSS + int64(n)*(256<<10) + 32<<20; peak > limit {
				t.Errorf("the bus grew to %.1f MB (base %.1f MB) on %d promises of %d MiB: it allocates what a header announces", float64(peak)/1e6, float64(baseRSS)/1e6, n, promise>>20)
			}
			if limit := baseData + int64(n)*(1<<20) + 128<<20; data > limit {
				t.Errorf("the bus mapped %.1f MB of data (base %.1f MB) on %d promises of %d MiB: it allocates what a header announces", float64(data)/1e6, float64(baseData)/1e6, n, promise>>20)
			}
			intakeServed(t, before, during)
		})
	}
}

// intakeServed checks the well-behaved client kept at least half its rate, or at least was
// served when a loaded machine makes rates incomparable (it then only logs).
func intakeServed(t *testing.T, before, during Rate) {
	t.Helper()
	if during.Failed > 0 {
		t.Errorf("the well-behaved client had %d failed calls during the attack", during.Failed)
	}
	if during.CallsPerSec < before.CallsPerSec/2 {
		t.Logf("the well-behaved client slowed from %.0f to %.0f calls/s (on a loaded machine rates vary)", before.CallsPerSec, during.CallsPerSec)
	}
}

// TestMalformedInput sends one malformed message per connection, after Hello: each closes
// the offender only, while a bystander keeps being served.
func TestMalformedInput(t *testing.T) {
	le := binary.LittleEndian
	ping := func(t *testing.T) []byte { return intakePing(t, 2, 0) }
	cases := []struct {
		name   string
		fds    bool // negotiate descriptor passing
		nfds   int  // descriptors sent with the bytes
		build  func(t *testing.T) []byte
		kdbusd bool // kdbusd must disconnect (dbus-daemon is only reported)
	}{
		{"byte order", false, 0, func(t *testing.T) []byte { m := ping(t); m[0] = 'X'; return m }, true},
		{"version", false, 0, func(t *testing.T) []byte { m := ping(t); m[3] = 2; return m }, true},
		{"body over spec", false, 0, func(t *testing.T) []byte { m := ping(t); le.PutUint32(m[4:8], 1<<30); return m }, true},
		{"fields over spec", false, 0, func(t *testing.T) []byte { m := ping(t); le.PutUint32(m[12:16], 1<<30); return m }, true},
		{"zero serial", false, 0, func(t *testing.T) []byte { m := ping(t); le.PutUint32(m[8:12], 0); return m }, true},
		{"fields misaligned", false, 0, func(t *testing.T) []byte {
			m := ping(t)
			le.PutUint32(m[12:16], le.Uint32(m[12:16])+3)
			return m
		}, true},
		{"bad signature", false, 0, func(t *testing.T) []byte {
			m := intakeMsg(t, &wire.Message{Type: wire.MethodCall, Serial: 2, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Member: "Ping", Signature: "ai", Body: []byte{0, 0, 0, 0}})
			return bytes.Replace(m, []byte("\x02ai\x00"), []byte("\x02a(\x00"), 1)
		}, true},
		{"body shorter than signature", false, 0, func(t *testing.T) []byte {
			m := intakeMsg(t, &wire.Message{Type: wire.MethodCall, Serial: 2, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Member: "GetNameOwner", Signature: "s", Body: []byte{9, 0, 0, 0, 'a', 0, 0, 0, 0}})
			return m
		}, true},
		{"declared fds missing", true, 0, func(t *testing.T) []byte { return intakePing(t, 2, 3) }, true},
		{"fewer fds than declared", true, 2, func(t *testing.T) []byte { return intakePing(t, 2, 3) }, true},
		{"undeclared fds", true, 3, func(t *testing.T) []byte { return intakePing(t, 2, 0) }, true},
		{"fds not negotiated", false, 1, func(t *testing.T) []byte { return intakePing(t, 2, 1) }, true},
	}
	for _, kind := range intakeKinds {
		t.Run(kind, func(t *testing.T) {
			b := intakeStart(t, kind, intakeConfig)
			null := intakeNull(t)
			baseFDs := b.FDs()
			bystander := intakeDial(t, b, true)
			disconnected := 0
			for _, tc := range cases {
				a := intakeDial(t, b, tc.fds)
				var oob []byte
				if tc.nfds > 0 {
					oob = unix.UnixRights(intakeRepeat(null, tc.nfds)...)
				}
				a.c.WriteMsgUnix(tc.build(t), oob, nil)
				// A call behind the bad message on another connection has its answer once
				// the bus has read both; the offender must then be gone soon.
				r := Measure(t, b.ClassicAddress, 1, 10*time.Second)
				if r.Failed > 0 {
					t.Errorf("%s: a well-behaved client's call failed after it", tc.name)
				}
				gone := false
				if kind == bustest.Kdbusd && tc.kdbusd {
					WaitFor(t, tc.name+": the offender disconnected", time.Minute, a.isGone)
				}
				gone = a.isGone()
				if gone {
					disconnected++
				} else {
					t.Logf("%s: %s kept the offender connected", tc.name, kind)
				}
				a.c.Close()
				if bystander.isGone() {
					t.Fatalf("%s: the bystander was disconnected too", tc.name)
				}
				b.MustRun()
			}
			// dbus-daemon may keep descriptors of an offender it let stay; only kdbusd is held to it.
			if kind == bustest.Kdbusd {
				WaitFor(t, "the bus's descriptors back to their level", time.Minute, func() bool { return b.FDs() <= baseFDs+2 })
			}
			Report(t, "malformed input", kind, Figures{FDs: b.FDs(), Note: fmt.Sprintf("%d of %d offenders disconnected, bystander served; base %d fds", disconnected, len(cases), baseFDs)})
		})
	}
}

// intakeVmData returns the bus process's private writable memory (VmData), in bytes: what it
// allocated, whether or not it has written to it yet.
func intakeVmData(t *testing.T, b *Bus) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.Daemon.PID()))
	if err != nil {
		t.Fatalf("reading the bus's memory: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmData:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parsing VmData %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmData in /proc/%d/status", b.Daemon.PID())
	return 0
}
