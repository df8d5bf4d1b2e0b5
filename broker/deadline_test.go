package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// monoNow reads CLOCK_MONOTONIC in nanoseconds with a system call of its own, independently
// of how the bus and the native transport read it.
func monoNow(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// clockSlack is how far the bus's and the transport's pairing of CLOCK_MONOTONIC with Go's
// clock may be off: a few microseconds at most; the margin only absorbs a preempted reading.
const clockSlack = uint64(5 * time.Millisecond)

// received is a message that reached the callee, with its record.
type received struct {
	msg *wire.Message
	rec native.Record
}

// TestCallDeadlineReachesTheCallee checks that a native caller's deadline reaches the callee
// in the record (CLOCK_MONOTONIC nanoseconds), routed through the bus and over a lane, for
// calls with and without a reply expected; and that a call without a deadline, a signal sent
// with one, and a reply carry none. The deadline must lie between the caller's own deadline
// (less the clock pairing's slack) and the caller's deadline pushed by the time the message
// took to arrive: routed, the bus adds the remaining time to its clock when it reads the send.
func TestCallDeadlineReachesTheCallee(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bus      broker.Options
		caller   native.Options
		wantLane bool
	}{
		{"over a lane", broker.Options{}, native.Options{}, true},
		{"routed: caller without lanes", broker.Options{}, native.Options{NoLanes: true}, false},
		{"routed: bus without lanes", broker.Options{NoLanes: true}, native.Options{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startBroker(t, tc.bus)
			got := make(chan received, 16)
			callee := newLanePeer(t, e, native.Options{}, func(p *lanePeer, r *native.Received) {
				if counter(r.Msg) >= 1000 {
					got <- received{msg: copyMsg(r.Msg), rec: r.Record}
				}
				echo(p, r)
			})
			caller := newLanePeer(t, e, tc.caller, nil)
			if tc.wantLane {
				untilLane(t, caller, callee.c.UniqueName())
			}
			next := func(what string) received {
				t.Helper()
				select {
				case r := <-got:
					if tc.wantLane != r.rec.Lane {
						t.Fatalf("%s: came over a lane: %v, want %v", what, r.rec.Lane, tc.wantLane)
					}
					return r
				case <-time.After(laneWait):
					t.Fatalf("%s: nothing reached the callee", what)
				}
				panic("unreachable")
			}
			ctx, cancel := context.WithTimeout(context.Background(), laneWait)
			defer cancel()

			for i, w := range []time.Duration{7 * time.Second, time.Hour} {
				for _, noReply := range []bool{false, true} {
					m := laneCall(callee.c.UniqueName(), 1000+2*i)
					if noReply {
						m = oneWay(callee.c.UniqueName(), 1001+2*i, 0)
					}
					before := monoNow(t)
					dl := time.Now().Add(w)
					// dl in CLOCK_MONOTONIC lies between before+w and a reading taken now.
					atDeadline := monoNow(t) + uint64(w)
					var replies <-chan laneReply
					if noReply {
						if err := caller.c.SendCall(ctx, m, nil, native.SendOptions{Deadline: dl}); err != nil {
							t.Fatal(err)
						}
					} else {
						m.Serial = caller.c.NextSerial()
						ch := make(chan laneReply, 1)
						caller.mu.Lock()
						caller.waiting[m.Serial] = ch
						caller.mu.Unlock()
						if err := caller.c.SendCall(ctx, m, nil, native.SendOptions{Deadline: dl}); err != nil {
							t.Fatal(err)
						}
						replies = ch
					}
					r := next(fmt.Sprintf("a call with a deadline %v away (no reply: %v)", w, noReply))
					arrived := monoNow(t)
					lo, hi := before+uint64(w)-clockSlack, arrived+uint64(w)+clockSlack
					if tc.wantLane {
						hi = atDeadline + clockSlack // the caller wrote it itself
					}
					if d := r.rec.Deadline; d < lo || d > hi {
						t.Errorf("a call (no reply: %v) with a deadline %v away arrived with Record.Deadline %d, want within [%d, %d] (%+dns from the caller's)",
							noReply, w, d, lo, hi, int64(d)-int64(atDeadline))
					}
					t.Logf("deadline %v away (no reply: %v): the callee's is %+dns from the caller's", w, noReply, int64(r.rec.Deadline)-int64(atDeadline))
					if replies != nil {
						select {
						case rep := <-replies:
							if rep.rec.Deadline != 0 {
								t.Errorf("a reply arrived with Record.Deadline %d, want 0", rep.rec.Deadline)
							}
						case <-ctx.Done():
							t.Fatal("no reply")
						}
					}
				}
			}

			// Without a deadline: 0.
			if r := caller.call(t, laneCall(callee.c.UniqueName(), 1100)); r.msg.Type != wire.MethodReturn {
				t.Fatalf("a call without a deadline got %s", r.msg)
			}
			if r := next("a call without a deadline"); r.rec.Deadline != 0 {
				t.Errorf("a call without a deadline arrived with Record.Deadline %d, want 0", r.rec.Deadline)
			}
			// A unicast signal sent with a deadline: only calls carry one.
			sig := oneWay(callee.c.UniqueName(), 1200, 0)
			sig.Type, sig.Flags = wire.Signal, 0
			if err := caller.c.SendCall(ctx, sig, nil, native.SendOptions{Deadline: time.Now().Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if r := next("a signal"); r.msg.Type != wire.Signal || r.rec.Deadline != 0 {
				t.Errorf("a %s sent with a deadline arrived with Record.Deadline %d, want 0", r.msg.Type, r.rec.Deadline)
			}
		})
	}
}
