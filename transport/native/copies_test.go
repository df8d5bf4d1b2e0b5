package native_test

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// echoPeer answers every call it receives with a reply carrying the call's byte array.
func echoPeer(t *testing.T, c *native.Conn) {
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			m := r.Msg
			if m.Type == wire.MethodCall {
				// The reply carries the array, not the descriptor.
				body := append([]byte(nil), m.Body[:len(m.Body)-4*len(r.FDs)]...)
				c.Send(&wire.Message{Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: m.Serial,
					Destination: m.Sender, Signature: "ay", Body: body}, nil)
			}
			for _, fd := range r.FDs {
				unix.Close(fd)
			}
			c.Release(&r)
		}
	}()
}

// caller reads replies and hands each to the channel of the call that waits for it.
type caller struct {
	c       *native.Conn
	replies chan native.Received
}

func newCaller(c *native.Conn) *caller {
	k := &caller{c: c, replies: make(chan native.Received, 16)}
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			if r.Msg.Type == wire.MethodReturn || r.Msg.Type == wire.Error {
				k.replies <- r
				continue
			}
			c.Release(&r)
		}
	}()
	return k
}

func (k *caller) call(t *testing.T, dest string, body []byte, fds []int, payloads uint64) native.Received {
	t.Helper()
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: dest, Path: "/t",
		Interface: "org.kdbusgo.T", Member: "Echo", Signature: "ay", Body: body}
	if len(fds) > 0 {
		m.Signature = "ayh"
		m.Body = append(append([]byte(nil), body...), 0, 0, 0, 0) // handle 0, aligned: body is 4+8n bytes
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := k.c.SendCall(ctx, m, fds, native.SendOptions{Payloads: payloads}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-k.replies:
		return r
	case <-ctx.Done():
		t.Fatalf("no reply to %s", m)
	}
	panic("unreachable")
}

func dialBus(t *testing.T, e *broker.Embedded, opts native.Options) *native.Conn {
	t.Helper()
	list, err := address.Parse(e.NativeAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := native.Dial(ctx, list[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Counts the copies of a call's and its reply's bodies, in the whole process (the embedded bus
// included): over a lane each body is copied twice, once into the sender's ring and once out
// of it by the receiver; through the bus twice too, into the send area and by the bus into
// the receiver's pool; a memfd payload is never copied, whatever the path.
func TestBodyCopies(t *testing.T) {
	e, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	server := dialBus(t, e, native.Options{})
	echoPeer(t, server)
	body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, 4<<10))
	payload, err := memfd.Create("payload", make([]byte, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer payload.Close()
	for _, tc := range []struct {
		name  string
		opts  native.Options
		lane  bool
		fds   []int
		marks uint64
	}{
		{"lane", native.Options{}, true, nil, 0},
		{"lane with a memfd payload", native.Options{}, true, []int{payload.Fd()}, 1},
		{"routed", native.Options{NoLanes: true, InlineMax: -1}, false, nil, 0},
		{"routed with a memfd payload", native.Options{NoLanes: true, InlineMax: -1}, false, []int{payload.Fd()}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newCaller(dialBus(t, e, tc.opts))
			// The first calls open the lane.
			for i := 0; ; i++ {
				r := k.call(t, server.UniqueName(), body, nil, 0)
				lane := r.Record.Lane
				k.c.Release(&r)
				if lane == tc.lane {
					break
				}
				if i == 1000 {
					t.Fatalf("replies never came over a lane")
				}
			}
			const calls = 100
			copies := native.CountCopies()
			for range calls {
				r := k.call(t, server.UniqueName(), body, tc.fds, tc.marks)
				if r.Record.Lane != tc.lane {
					t.Fatalf("a reply came over a lane: %v, want %v", r.Record.Lane, tc.lane)
				}
				for _, fd := range r.FDs {
					unix.Close(fd)
				}
				k.c.Release(&r)
			}
			// A call and its reply: two bodies, each copied twice.
			if n := copies(); n != 4*calls {
				t.Errorf("%d calls and replies copied bodies %d times, want %d", calls, n, 4*calls)
			}
		})
	}
}
