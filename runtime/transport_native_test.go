package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// deadlineSlack absorbs the difference between reading CLOCK_MONOTONIC and Go's clock one
// after the other: microseconds, unless a reading is preempted.
const deadlineSlack = 50 * time.Millisecond

// TestMonotonicToTime checks the conversion of a record's deadline: 0 is no deadline, a
// reading ahead of CLOCK_MONOTONIC is that far ahead of time.Now, and readings too far away
// for a time.Duration, as a sender may write them, neither wrap around nor panic.
func TestMonotonicToTime(t *testing.T) {
	if got := monotonicToTime(0); !got.IsZero() {
		t.Errorf("0: %v, want the zero time", got)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	got := monotonicToTime(uint64(ts.Nano()) + uint64(time.Minute))
	after := time.Now()
	if lo, hi := before.Add(time.Minute-deadlineSlack), after.Add(time.Minute+deadlineSlack); got.Before(lo) || got.After(hi) {
		t.Errorf("a minute ahead: %v, want within [%v, %v]", got, lo, hi)
	}
	if got := monotonicToTime(1); got.IsZero() || !got.Before(time.Now()) {
		t.Errorf("a reading long past: %v, want a time in the past", got)
	}
	if got := monotonicToTime(1<<64 - 1); !got.After(time.Now().Add(100 * 365 * 24 * time.Hour)) {
		t.Errorf("the largest reading: %v, want centuries ahead", got)
	}
}

// TestNativeStampCarriesTheDeadline sends calls through kdbusd's native transport, routed and
// over a lane, and checks that the callee's stamp has the caller's deadline, and no deadline
// for a call without one.
func TestNativeStampCarriesTheDeadline(t *testing.T) {
	d := bustest.Start(t, bustest.KdbusdNative, dbustest.Config{})
	list, err := address.Parse(d.Address)
	if err != nil {
		t.Fatal(err)
	}
	var entry address.Address
	for _, e := range list {
		if e.Transport == "kdbus" {
			entry = e
		}
	}
	if entry.Transport == "" {
		t.Fatalf("no native entry in %q", d.Address)
	}
	for _, tc := range []struct {
		name    string
		noLanes bool
	}{{"routed", true}, {"lanes allowed", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			dial := func() transport {
				tr, err := dialNative(ctx, entry, connOptions{noLanes: tc.noLanes})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { tr.Close() })
				return tr
			}
			caller, callee := dial(), dial()
			stamps := make(chan stamp, 1)
			go func() {
				for {
					in, err := callee.Recv()
					if err != nil {
						return
					}
					if in.Msg.Type == wire.MethodCall && in.Msg.Interface == "org.kdbusgo.T" {
						stamps <- in.stamp
						callee.Send(ctx, &wire.Message{Type: wire.MethodReturn, ReplySerial: in.Msg.Serial, Destination: in.Msg.Sender}, nil, sendOptions{})
					}
					if in.loan != nil {
						in.loan.giveBack()
					}
				}
			}()
			go func() {
				for {
					in, err := caller.Recv()
					if err != nil {
						return
					}
					if in.loan != nil {
						in.loan.giveBack()
					}
				}
			}()
			call := func(deadline time.Time) stamp {
				t.Helper()
				m := &wire.Message{Type: wire.MethodCall, Serial: caller.NextSerial(), Destination: callee.UniqueName(),
					Path: "/t", Interface: "org.kdbusgo.T", Member: "M"}
				if err := caller.Send(ctx, m, nil, sendOptions{deadline: deadline}); err != nil {
					t.Fatal(err)
				}
				select {
				case s := <-stamps:
					return s
				case <-ctx.Done():
					t.Fatal("the call did not arrive")
				}
				panic("unreachable")
			}
			// Routed, calls carry the bus's sequence number; with lanes allowed, calls go on
			// until one came over a lane (sequence number 0).
			laned := false
			for i := 0; i < 5 || !tc.noLanes && !laned; i++ {
				dl := time.Now().Add(time.Hour)
				s := call(dl)
				if lo, hi := dl.Add(-deadlineSlack), time.Now().Add(time.Hour+deadlineSlack); s.deadline.Before(lo) || s.deadline.After(hi) {
					t.Fatalf("call %d (seqnum %d): deadline %v, want within [%v, %v]", i, s.seqnum, s.deadline, lo, hi)
				}
				laned = laned || s.seqnum == 0
				if tc.noLanes && laned {
					t.Fatalf("call %d came over a lane", i)
				}
			}
			if s := call(time.Time{}); !s.deadline.IsZero() {
				t.Fatalf("a call without a deadline: deadline %v, want none", s.deadline)
			}
		})
	}
}
