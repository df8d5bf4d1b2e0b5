package broker

import (
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/wire"
)

// TestReplyDeadlines checks the one timer that watches every call's deadline: calls that
// time out hear NoReply earliest deadline first, whatever order they were made in; a call
// answered in time hears only its reply; and once all are settled nothing is left pending.
func TestReplyDeadlines(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	caller, rec := testPeer(t, b, b.uid)
	callee, _ := testPeer(t, b, b.uid)
	call := func(serial uint32, timeout time.Duration) {
		m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Serial: serial,
			Destination: callee.unique, Path: "/t", Interface: "org.example.T", Member: "M"}
		b.route(caller, m, nil, &origin{stable: true, timeout: timeout})
	}
	// Made latest deadline first, so that each call moves the timer earlier.
	call(1, 600*time.Millisecond)
	call(2, 200*time.Millisecond)
	call(3, 400*time.Millisecond)
	call(4, 300*time.Millisecond)
	reply := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodReturn, Serial: 9, ReplySerial: 4, Destination: caller.unique}
	b.route(callee, reply, nil, &origin{stable: true})

	var timedOut []uint32
	answered := false
	for end := time.Now().Add(30 * time.Second); len(timedOut) < 3; {
		if time.Now().After(end) {
			t.Fatalf("after 30 s only calls %v heard NoReply, want 2, 3 and 1", timedOut)
		}
		for _, m := range rec.take() {
			switch {
			case m.Type == wire.Error && m.ErrorName == errNoReply:
				timedOut = append(timedOut, m.ReplySerial)
			case m.Type == wire.MethodReturn && m.ReplySerial == 4:
				answered = true
			default:
				t.Fatalf("unexpected message %s", m)
			}
		}
		time.Sleep(time.Millisecond)
	}
	if want := []uint32{2, 3, 1}; !slices.Equal(timedOut, want) {
		t.Errorf("calls heard NoReply in the order %v, want %v (earliest deadline first)", timedOut, want)
	}
	if !answered {
		t.Error("the answered call did not get its reply")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.replies.queue) != 0 || len(caller.outstanding) != 0 || len(callee.expected) != 0 {
		t.Errorf("left pending: %d deadlines, %d outstanding, %d expected", len(b.replies.queue), len(caller.outstanding), len(callee.expected))
	}
}
