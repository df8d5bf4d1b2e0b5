package hostile

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// TestFloodIntoNonReader floods a receiver that never reads. The bus must hold the flood
// against the flooder, stop reading it once it is over max_incoming_bytes (so the flooder's
// own writes block), stay within memory bounded by that limit, keep serving others, and give
// the memory back once the receiver leaves.
func TestFloodIntoNonReader(t *testing.T) {
	limit := Size(16<<20, 256<<20)
	cfg := fmt.Sprintf(`  <limit name="max_incoming_bytes">%d</limit>
  <limit name="max_incoming_unix_fds">250000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_outgoing_unix_fds">250000000</limit>
  <limit name="max_message_size">1000000000</limit>
`, limit)
	for _, kind := range intakeKinds {
		t.Run(kind, func(t *testing.T) {
			b := intakeStart(t, kind, cfg)
			before := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			baseRSS := b.RSS()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			receiver, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer receiver.Close()
			observer := Dial(t, b.ClassicAddress)

			// The flooder sends eight times the limit in one-way calls of 64 KiB.
			total := 8 * limit
			flooder := intakeDial(t, b, false)
			msg := intakeMsg(t, &wire.Message{Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected, Serial: 2,
				Destination: receiver.UniqueName(), Path: "/", Member: "Eat", Signature: "ay",
				Body: floodBody(64 << 10)})
			var written atomic.Int64
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				for written.Load() < int64(total) {
					n, err := flooder.c.Write(msg)
					written.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
			isFinished := func() bool {
				select {
				case <-finished:
					return true
				default:
					return false
				}
			}

			// Either the bus throttles the flooder (it holds half the limit or more of the
			// flooder's messages) or the flood gets through whole.
			stats := floodIncoming(observer)
			WaitFor(t, "the flood throttled or through", 2*time.Minute, func() bool {
				return isFinished() || stats() >= int64(limit/2)
			})
			peak := floodSample(b)
			during := Measure(t, b.ClassicAddress, intakeCalls(), 5*time.Second)
			peakRSS := peak()
			throttled := !isFinished()
			held := stats()

			receiver.Close()
			start := time.Now()
			WaitFor(t, "the flooder's writes to go through once the receiver left", 2*time.Minute, isFinished)
			flooder.c.Close()
			// dbus-daemon's allocator keeps what it freed, so only kdbusd is waited for.
			var recovered time.Duration
			if kind == bustest.Kdbusd {
				WaitFor(t, "the bus's memory back to its level", 2*time.Minute, func() bool { return b.RSS() <= baseRSS+16<<20 })
				recovered = time.Since(start)
			}
			b.MustRun()
			Report(t, "flood into non-reader (classic)", kind, Figures{RSS: peakRSS, Rate: during, Recover: recovered,
				Note: fmt.Sprintf("max_incoming_bytes %d MiB; flooder throttled: %v, %d MiB written of %d, bus held %d MiB of it; base RSS %.1f MB, after %.1f MB; before: %v",
					limit>>20, throttled, written.Load()>>20, total>>20, held>>20, float64(baseRSS)/1e6, float64(b.RSS())/1e6, before)})
			if kind != bustest.Kdbusd {
				return
			}
			if !throttled {
				t.Errorf("the flooder wrote all %d MiB into a receiver that never reads: the bus did not stop reading it", total>>20)
			}
			// What the flooder holds costs twice its bytes (GC headroom) and is cut at the
			// limit, one message over at most; allow that the heap may grow to twice it.
			if bound := baseRSS + int64(3*limit) + 16<<20; peakRSS > bound {
				t.Errorf("the bus grew to %.1f MB (base %.1f MB) with max_incoming_bytes %d MiB: over %.1f MB", float64(peakRSS)/1e6, float64(baseRSS)/1e6, limit>>20, float64(bound)/1e6)
			}
			intakeServed(t, before, during)
		})
	}
}

// floodBody is an "ay" body of n bytes.
func floodBody(n int) []byte {
	body, err := wire.Marshal(wire.LittleEndian, "ay", make([]byte, n))
	if err != nil {
		panic(err)
	}
	return body
}

// floodIncoming returns a function that reports the most bytes the bus holds of any one
// connection's messages (GetConnectionStats' IncomingBytes): the flooder's; -1 when the bus
// does not say.
func floodIncoming(observer *runtime.Conn) func() int64 {
	return func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names, err := observer.ListNames(ctx)
		if err != nil {
			return -1
		}
		most := int64(-1)
		for _, n := range names {
			if strings.HasPrefix(n, ":") && n != observer.UniqueName() {
				most = max(most, floodStat(ctx, observer, n, "IncomingBytes"))
			}
		}
		return most
	}
}

// floodStat reads one figure of a connection's GetConnectionStats; -1 when there is none.
func floodStat(ctx context.Context, c *runtime.Conn, name, key string) int64 {
	body, err := wire.Marshal(wire.NativeOrder, "s", name)
	if err != nil {
		return -1
	}
	m, _, err := c.Call(ctx, &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetConnectionStats", Signature: "s", Body: body}, nil)
	if err != nil {
		return -1
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil || len(v) == 0 {
		return -1
	}
	ents, _ := v[0].([]wire.DictEntry)
	for _, e := range ents {
		if e.Key == key {
			if u, ok := e.Value.(wire.Variant).Value.(uint32); ok {
				return int64(u)
			}
		}
	}
	return -1
}

// floodSample samples the bus's memory until the returned function is called, which returns
// the peak.
func floodSample(b *Bus) func() int64 {
	var (
		mu   sync.Mutex
		peak = b.RSS()
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if b.Exited() {
					return
				}
				rss := b.RSS()
				mu.Lock()
				peak = max(peak, rss)
				mu.Unlock()
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return max(peak, b.RSS())
	}
}
