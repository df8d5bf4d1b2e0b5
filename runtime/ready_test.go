package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// A call with WaitForReady to a name nobody owns yet waits for the service and then succeeds;
// its deadline still bounds it; without the option, the same call fails at once.
func TestWaitForReady(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		cli := dial(t, d)
		obj := NewObject(cli, &testDesc)
		req := &echoMsg{Text: "ready", N: 1}

		_, err := echoMethod.Invoke(ctx5s(t), obj, req)
		if CodeOf(err) != Unavailable {
			t.Fatalf("call to a name with no owner, without WaitForReady: %v, want Unavailable at once", err)
		}
		waiting := NewObject(cli, &testDesc, WithWaitForReady(true))
		_, err = echoMethod.Invoke(ctx5s(t), waiting, req, WaitForReady(false))
		if CodeOf(err) != Unavailable {
			t.Fatalf("WaitForReady(false) on a waiting client: %v, want Unavailable at once", err)
		}

		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = echoMethod.Invoke(short, obj, req, WaitForReady(true))
		if !errors.Is(err, context.DeadlineExceeded) || CodeOf(err) != DeadlineExceeded {
			t.Fatalf("waiting past the deadline: %v, want DeadlineExceeded", err)
		}

		// The monitor sees the waiting client add its rule for the name's owner changes: from
		// then on the call is waiting, and the service appears only after that.
		subscribed := watchFor(t, d, addsMatchFor(cli.UniqueName(), testDesc.BusName))
		type result struct {
			resp *echoMsg
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := echoMethod.Invoke(ctx5s(t), waiting, req)
			done <- result{resp, err}
		}()
		select {
		case <-subscribed:
		case r := <-done:
			t.Fatalf("the call returned before the service existed: %+v, %v", r.resp, r.err)
		case <-time.After(10 * time.Second):
			t.Fatal("the waiting call never subscribed to the name's owner changes")
		}
		select {
		case r := <-done:
			t.Fatalf("the call returned before the service existed: %+v, %v", r.resp, r.err)
		default:
		}
		serve(t, d, &impl{})
		r := <-done
		if r.err != nil || r.resp.Text != "ready" || r.resp.N != 2 {
			t.Fatalf("waiting call = %+v, %v; want the service's answer", r.resp, r.err)
		}
	})
}

// addsMatchFor selects sender's calls to the bus that add a match rule naming name.
func addsMatchFor(sender, name string) func(*wire.Message) bool {
	return func(m *wire.Message) bool {
		if m.Type != wire.MethodCall || m.Member != "AddMatch" || m.Sender != sender {
			return false
		}
		v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if err != nil || len(v) != 1 {
			return false
		}
		rule, _ := v[0].(string)
		return strings.Contains(rule, "'"+name+"'")
	}
}

// watchFor makes a classic connection a monitor and closes the channel it returns when a
// method call that match selects passes the bus.
func watchFor(t *testing.T, d *bustest.Bus, match func(*wire.Message) bool) <-chan struct{} {
	t.Helper()
	c, err := classic.Dial(ctx5s(t), d.ClassicAddress, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body, err := wire.Marshal(wire.NativeOrder, "asu", []string{"type='method_call'"}, uint32(0))
	if err != nil {
		t.Fatal(err)
	}
	become := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: classic.BusName,
		Path: classic.BusPath, Interface: "org.freedesktop.DBus.Monitoring", Member: "BecomeMonitor", Signature: "asu", Body: body}
	become.Serial = c.NextSerial()
	if err := c.Send(become, nil); err != nil {
		t.Fatal(err)
	}
	monitoring := make(chan error, 1)
	seen := make(chan struct{})
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			for _, fd := range r.FDs {
				unix.Close(fd)
			}
			m := r.Msg
			switch {
			case m.ReplySerial == become.Serial && m.Type == wire.Error:
				monitoring <- errors.New("BecomeMonitor failed: " + m.ErrorName)
			case m.ReplySerial == become.Serial:
				monitoring <- nil
			case match(m):
				close(seen)
				return
			}
		}
	}()
	if err := <-monitoring; err != nil {
		t.Fatal(err)
	}
	return seen
}

// A name the bus can start a service for is not waited for when the call allows auto-start:
// the call goes to the bus, which starts the service. With NoAutoStart the call waits for an
// owner as for any other name.
func TestWaitForReadyLeavesActivationToTheBus(t *testing.T) {
	dir := t.TempDir()
	service := "[D-BUS Service]\nName=" + testDesc.BusName + "\nExec=" + dbustest.RequireTool(t, "true") + "\n"
	if err := os.WriteFile(filepath.Join(dir, testDesc.BusName+".service"), []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	d := bustest.Start(t, bustest.DBusDaemon, dbustest.Config{Extra: "<servicedir>" + dir + "</servicedir>"})
	cli := dial(t, d)
	obj := NewObject(cli, &testDesc, WithWaitForReady(true))
	for _, tc := range []struct {
		name string
		opts []CallOption
		// what the monitor must see: the call itself, or the client subscribing to wait
		sent func(*wire.Message) bool
	}{
		{"auto-start", nil, func(m *wire.Message) bool {
			return m.Type == wire.MethodCall && m.Member == "Echo" && m.Sender == cli.UniqueName()
		}},
		{"NoAutoStart", []CallOption{NoAutoStart()}, addsMatchFor(cli.UniqueName(), testDesc.BusName)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := watchFor(t, d, tc.sent)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := echoMethod.Invoke(ctx, obj, &echoMsg{}, tc.opts...)
				done <- err
			}()
			select {
			case <-seen:
			case err := <-done:
				t.Fatalf("the call returned before the monitor saw what it did: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the monitor never saw the call or its wait")
			}
			cancel()
			if err := <-done; CodeOf(err) != Canceled && err != nil {
				// The bus may have answered the call by the time it was cancelled.
				var e *Error
				if !errors.As(err, &e) || !strings.HasPrefix(e.Name, "org.freedesktop.DBus.Error.Spawn.") {
					t.Fatalf("call: %v", err)
				}
			}
		})
	}
}

// A waiting call to a service that is there costs nothing more than a call: the monitor sees
// the client's call and nothing it asked the bus before it. A callee that itself answers
// ServiceUnknown is not mistaken for a missing one for long: its error comes back after one
// more try.
func TestWaitForReadyCostsNothingWhenReady(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var calls atomic.Int32
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			calls.Add(1)
			if m.Text == "proxy" {
				return nil, &Error{Name: ErrorServiceUnknown, Message: "the proxied service is not there"}
			}
			return &echoMsg{Text: m.Text, N: m.N + 1}, nil
		}})
		cli := dial(t, d)
		waiting := NewObject(cli, &testDesc, WithWaitForReady(true))
		if _, err := echoMethod.Invoke(ctx5s(t), waiting, &echoMsg{Text: "warm"}); err != nil {
			t.Fatal(err) // the connection's own start-up calls are behind us
		}

		before := recordCalls(t, d, cli.UniqueName(), "Echo")
		if _, err := echoMethod.Invoke(ctx5s(t), waiting, &echoMsg{Text: "ready"}); err != nil {
			t.Fatal(err)
		}
		if got := <-before; len(got) != 0 {
			t.Fatalf("a waiting call to a service that is there asked the bus %v first; want nothing", got)
		}

		calls.Store(0)
		_, err := echoMethod.Invoke(ctx5s(t), waiting, &echoMsg{Text: "proxy"})
		if !errors.Is(err, &Error{Name: ErrorServiceUnknown}) {
			t.Fatalf("a callee answering ServiceUnknown: %v, want its error", err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("the callee answering ServiceUnknown was called %d times; want 2 (the call and one retry)", n)
		}
	})
}

// recordCalls makes a classic connection a monitor and sends on the channel it returns the
// members of the method calls sender makes before its first call of member.
func recordCalls(t *testing.T, d *bustest.Bus, sender, member string) <-chan []string {
	t.Helper()
	out := make(chan []string, 1)
	var seen []string
	watch := watchFor(t, d, func(m *wire.Message) bool {
		if m.Sender != sender || m.Type != wire.MethodCall {
			return false
		}
		if m.Member == member {
			out <- seen
			return true
		}
		seen = append(seen, m.Member)
		return false
	})
	_ = watch
	return out
}
