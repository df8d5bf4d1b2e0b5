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

// TestCallsWithoutDeadlineWaitForTheirCallee checks the bus's default, dbus-daemon's: a call
// that names no deadline is timed out by nobody (a stream lasts as long as its peers), it is
// still answered with NoReply at once when its callee leaves, and it still counts against the
// caller's replies; a bus configured with a reply_timeout times it out.
func TestCallsWithoutDeadlineWaitForTheirCallee(t *testing.T) {
	b := New(Options{})
	defer b.Close()
	caller, rec := testPeer(t, b, b.uid)
	callee, _ := testPeer(t, b, b.uid)
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Serial: 1,
		Destination: callee.unique, Path: "/t", Interface: "org.example.T", Member: "Stream"}
	b.route(caller, m, nil, &origin{stable: true})
	b.mu.Lock()
	queued, awaited := len(b.replies.queue), len(caller.outstanding)
	b.mu.Unlock()
	if queued != 0 || awaited != 1 {
		t.Fatalf("a call without a deadline: %d deadlines queued, %d awaited; want none queued, 1 awaited", queued, awaited)
	}
	b.removePeer(callee)
	var got []*wire.Message
	for end := time.Now().Add(30 * time.Second); len(got) == 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
		got = rec.take()
	}
	if len(got) != 1 || got[0].ErrorName != errNoReply || got[0].ReplySerial != 1 {
		t.Fatalf("the callee left; the caller heard %v, want NoReply to serial 1", got)
	}

	timed := New(Options{Limits: Limits{ReplyTimeout: 10 * time.Millisecond}})
	defer timed.Close()
	caller, rec = testPeer(t, timed, timed.uid)
	callee, _ = testPeer(t, timed, timed.uid)
	m.Destination = callee.unique
	timed.route(caller, m, nil, &origin{stable: true})
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if got := rec.take(); len(got) == 1 && got[0].ErrorName == errNoReply {
			break
		} else if len(got) > 0 || time.Now().After(end) {
			t.Fatalf("with reply_timeout set, the caller heard %v, want NoReply", got)
		}
	}
}
