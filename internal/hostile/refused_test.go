package hostile

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// refusedConfig gives every receiver a small outgoing queue, so that a classic receiver that
// never reads is full after a few hundred kilobytes and the bus refuses the rest.
const refusedConfig = `  <limit name="max_outgoing_bytes">1048576</limit>
  <limit name="max_incoming_bytes">134217728</limit>
  <limit name="max_replies_per_connection">1000000</limit>
`

// TestRefusedFlood: a receiver that never reads, and a flooder sending to it as fast as the
// bus lets it. Once the receiver is full, every message is refused; the refusals must not cost
// the bus so much that a well-behaved client loses more than half its calls per second.
func TestRefusedFlood(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.Kdbusd, bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) {
			if kind == bustest.DBusDaemon {
				dbustest.RequireTool(t, "dbus-daemon")
			}
			refusedFlood(t, Start(t, kind, dbustest.Config{Extra: refusedConfig}))
		})
	}
}

func refusedFlood(t *testing.T, b *Bus) {
	calls := Size(2000, 20000)
	before := Measure(t, b.Address, calls, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// send sends one message to the receiver; refused counts the refusals the flooder heard.
	var send func() error
	var refused func() int64
	var flooder io.Closer
	if b.Native {
		r := nativeDial(t, b, native.Options{})
		f := nativeDial(t, b, native.Options{})
		go nativeDrain(f)
		m := nativeOneWay(r.UniqueName(), 4<<10)
		send = func() error { m.Serial = 0; return f.Send(m, nil) }
		refused = func() int64 { return int64(f.Stats().Undelivered) }
		flooder = f
	} else {
		r, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		f, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// A call expecting a reply is the message whose refusal a classic sender hears.
		var errors atomic.Int64
		go func() {
			for {
				m, err := f.Recv()
				if err != nil {
					return
				}
				if m.Msg.Type == wire.Error && m.Msg.ErrorName == "org.freedesktop.DBus.Error.LimitsExceeded" {
					errors.Add(1)
				}
			}
		}()
		body, _ := wire.Marshal(wire.LittleEndian, "ay", make([]byte, 4<<10))
		send = func() error {
			return f.Send(&wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Destination: r.UniqueName(), Path: "/hostile",
				Interface: "org.kdbusgo.Hostile", Member: "Call", Signature: "ay", Body: body}, nil)
		}
		refused = errors.Load
		flooder = f
	}
	var stop atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	halt := func() {
		stop.Store(true)
		flooder.Close() // ends a send the bus is not reading
		wg.Wait()
	}
	defer halt()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() && send() == nil {
			sent.Add(1)
		}
	}()
	WaitFor(t, "the receiver full and the flooder refused", time.Minute, func() bool { return refused() > 0 })
	r0, s0, start := refused(), sent.Load(), time.Now()
	during := Measure(t, b.Address, calls, 5*time.Second)
	elapsed, r1, s1 := time.Since(start), refused(), sent.Load()
	halt()
	b.MustRun()
	Report(t, "refused flood", b.Kind, Figures{Rate: during, Note: fmt.Sprintf("calls/s before %.0f; while measuring, %d sent and %d refused in %v",
		before.CallsPerSec, s1-s0, r1-r0, elapsed.Round(time.Millisecond))})
	if b.Kind == bustest.DBusDaemon {
		return
	}
	if during.Failed > 0 {
		t.Errorf("the well-behaved client had %d failed calls during the flood", during.Failed)
	}
	// The receiver frees nothing, so the bus may refuse the flooder once at first and then
	// once per hold (a tenth of a second); allow four times as many. Without holding the
	// flooder back, the bus refuses it tens of thousands of times a second.
	if limit := 10 + int64(40*elapsed.Seconds()); r1-r0 > limit {
		t.Errorf("the bus refused the flooder %d times in %v, over %d: it keeps reading a sender whose receiver has no room", r1-r0, elapsed, limit)
	}
	// The rate is reported, not asserted: on a loaded machine it varies more than the flood
	// could change it once the bus holds the flooder back, which the count above checks.
}
