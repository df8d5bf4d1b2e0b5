package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// recorder keeps what one connection's interceptors saw, one line per call.
type recorder struct {
	mu    sync.Mutex
	lines []string
	// vanish counts the AddMatch of the runtime's own watch for callers that leave, which a
	// serving connection sends in the background at its first served call, at a moment of its
	// own: it is counted apart from the lines.
	vanish int
}

// vanishRule is how the recorder sees the runtime's watch for callers that leave.
const vanishRule = "driver org.freedesktop.DBus.AddMatch type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',path='/org/freedesktop/DBus',arg2=''"

func (r *recorder) add(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.mu.Lock()
	switch {
	case line == vanishRule:
		r.vanish++
	case strings.HasPrefix(line, "driver org.freedesktop.DBus.GetNameOwner :"):
		// Once its rule is in place, the watch for callers that leave looks up the callers
		// whose calls it may have missed: whether it finds the one call served still running
		// depends on the schedule.
	default:
		r.lines = append(r.lines, line)
	}
	r.mu.Unlock()
}

func (r *recorder) vanishes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vanish
}

// take returns the lines recorded since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// describe says what an interceptor sees of a request.
func describe(req any) string {
	switch v := req.(type) {
	case *PropertyCall:
		if g, ok := v.Value.(*gadget); ok {
			return fmt.Sprintf("%s/%s=%d", v.Interface, v.Name, g.Mode)
		}
		return v.Interface + "/" + v.Name
	case *echoMsg:
		return v.Text
	case *event:
		return v.Name
	case []any:
		return fmt.Sprint(v...)
	}
	return fmt.Sprintf("%T", req)
}

// observed returns options that record every call through c's interceptors, client and server.
func observed(client, server *recorder) []Option {
	return []Option{
		WithUnaryClientInterceptor(func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
			client.add("%s %s %s", m.Kind, m.FullName(), describe(req))
			return inv(ctx, m, req, resp)
		}),
		WithUnaryServerInterceptor(func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
			from := ""
			if c := CallerFrom(ctx); c != nil && m.Kind == KindSignal {
				from = " from " + c.Sender
			}
			server.add("%s %s %s%s", m.Kind, m.FullName(), describe(req), from)
			return h(ctx, req)
		}),
	}
}

// hasCode reports whether err is an *Error with code c.
func hasCode(err error, c Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == c
}

func expectLines(t *testing.T, what string, r *recorder, want ...string) {
	t.Helper()
	if got := r.take(); !slices.Equal(got, want) {
		t.Errorf("%s: the interceptors saw\n\t%q\nwant\n\t%q", what, got, want)
	}
}

func TestEveryCallPassesTheInterceptors(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var srvOut, srvIn, cliOut, cliIn recorder
		srv := dial(t, d, observed(&srvOut, &srvIn)...)
		cli := dial(t, d, observed(&cliOut, &cliIn)...)
		ctx := ctx5s(t)
		if err := srv.Register(&testDesc, &impl{}); err != nil {
			t.Fatal(err)
		}
		store := gadgetProps.NewStore(&gadget{Speed: 1.5, Mode: 2})
		if err := srv.Register(&gadgetDesc, struct{}{}, WithProperties(store)); err != nil {
			t.Fatal(err)
		}
		none := func(what string) {
			t.Helper()
			expectLines(t, what+" (client of the server)", &srvOut)
			expectLines(t, what+" (server of the client)", &cliIn)
		}

		// A method of a generated client.
		obj := NewObject(cli, &testDesc, WithDestination(srv.UniqueName()))
		if _, err := echoMethod.Invoke(ctx, obj, &echoMsg{Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		expectLines(t, "a method call", &cliOut, "method org.kdbusgo.Test.Echo hi")
		expectLines(t, "a method served", &srvIn, "method org.kdbusgo.Test.Echo hi")
		none("a method call")
		// The runtime's own driver call, made for the first call served, passes too: once.
		waitFor(t, "the watch for callers that leave to pass the interceptors", func() bool { return srvOut.vanishes() > 0 })
		if n := srvOut.vanishes(); n != 1 {
			t.Errorf("the watch for callers that leave was added %d times, want once", n)
		}

		// Properties: Get, Set, GetAll.
		gobj := NewObject(cli, &gadgetDesc, WithDestination(srv.UniqueName()))
		if v, err := gadgetProps.Get(ctx, gobj, "Speed"); err != nil || v.Speed != 1.5 {
			t.Fatalf("Get Speed = %v, %v", v, err)
		}
		expectLines(t, "Get", &cliOut, "property org.freedesktop.DBus.Properties.Get org.kdbusgo.Gadget/Speed")
		expectLines(t, "Get served", &srvIn, "property org.freedesktop.DBus.Properties.Get org.kdbusgo.Gadget/Speed")
		if err := gadgetProps.Set(ctx, gobj, "Mode", &gadget{Mode: 7}); err != nil {
			t.Fatal(err)
		}
		expectLines(t, "Set", &cliOut, "property org.freedesktop.DBus.Properties.Set org.kdbusgo.Gadget/Mode=7")
		expectLines(t, "Set served", &srvIn, "property org.freedesktop.DBus.Properties.Set org.kdbusgo.Gadget/Mode=7")
		if all, err := gadgetProps.GetAll(ctx, gobj); err != nil || all.Mode != 7 {
			t.Fatalf("GetAll = %+v, %v; want Mode 7", all, err)
		}
		expectLines(t, "GetAll", &cliOut, "property org.freedesktop.DBus.Properties.GetAll org.kdbusgo.Gadget/")
		expectLines(t, "GetAll served", &srvIn, "property org.freedesktop.DBus.Properties.GetAll org.kdbusgo.Gadget/")
		none("properties")

		// The bus driver: a call of the API, and the runtime's own AddMatch for a subscription.
		if _, err := cli.GetConnectionCredentials(ctx, srv.UniqueName()); err != nil {
			t.Fatal(err)
		}
		expectLines(t, "GetConnectionCredentials", &cliOut, "driver org.freedesktop.DBus.GetConnectionCredentials "+srv.UniqueName())
		sub, err := eventSignal.Subscribe(ctx, NewObject(cli, &sigDesc, WithDestination(srv.UniqueName())))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := cliOut.take(); len(got) != 1 || !strings.HasPrefix(got[0], "driver org.freedesktop.DBus.AddMatch type='signal'") {
			t.Errorf("Subscribe: the interceptors saw %q; want the AddMatch of its rule", got)
		}
		expectLines(t, "driver calls (server)", &srvIn)
		none("driver calls")

		// A signal: emitted by the server, delivered to the client's subscription.
		if err := eventSignal.Emit(NewEmitter(srv, &sigDesc), &event{Name: "boom", Path: "/", Sig: "s", N: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-sub.C():
			if s.Args.Name != "boom" || s.Sender != srv.UniqueName() {
				t.Fatalf("delivered %+v from %s", s.Args, s.Sender)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the signal was not delivered")
		}
		expectLines(t, "a signal emitted", &srvOut, "signal org.kdbusgo.SignalTest.Event boom")
		expectLines(t, "a signal delivered", &cliIn, "signal org.kdbusgo.SignalTest.Event boom from "+srv.UniqueName())
		expectLines(t, "a signal (client)", &cliOut)
		expectLines(t, "a signal (server)", &srvIn)
	})
}

func TestInterceptorsRunInOrderExactlyOnce(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var trace recorder
		cli := func(name string) UnaryClientInterceptor {
			return func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
				trace.add("%s>", name)
				err := inv(ctx, m, req, resp)
				trace.add("<%s", name)
				return err
			}
		}
		srv := func(name string) UnaryServerInterceptor {
			return func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
				if m.Kind != KindMethod {
					return h(ctx, req)
				}
				trace.add("%s>", name)
				resp, err := h(ctx, req)
				trace.add("<%s", name)
				return resp, err
			}
		}
		s := serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			trace.add("handler")
			return m, nil
		}}, WithUnaryServerInterceptor(srv("s1")), WithChainUnaryServerInterceptor(srv("s2"), nil, srv("s3")),
			WithUnaryServerInterceptor(ChainUnaryServer(srv("s4"), srv("s5"))))
		c := dial(t, d, WithChainUnaryClientInterceptor(cli("c1"), cli("c2")), WithUnaryClientInterceptor(cli("c3")),
			WithUnaryClientInterceptor(ChainUnaryClient(cli("c4"), cli("c5"))))
		obj := NewObject(c, &testDesc, WithDestination(s.UniqueName()))
		for range 3 {
			trace.take()
			if _, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{Text: "x"}); err != nil {
				t.Fatal(err)
			}
			expectLines(t, "one call", &trace, "c1>", "c2>", "c3>", "c4>", "c5>",
				"s1>", "s2>", "s3>", "s4>", "s5>", "handler", "<s5", "<s4", "<s3", "<s2", "<s1",
				"<c5", "<c4", "<c3", "<c2", "<c1")
		}
	})
}

func TestInterceptorsRefuse(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		denied := Errorf(PermissionDenied, "not today")
		srv := dial(t, d,
			// The server refuses writes of Mode, and emitting the signal "secret".
			WithUnaryServerInterceptor(func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
				if pc, ok := req.(*PropertyCall); ok && m.Member == "Set" && pc.Name == "Mode" {
					return nil, denied
				}
				return h(ctx, req)
			}),
			WithUnaryClientInterceptor(func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
				if ev, ok := req.(*event); ok && m.Kind == KindSignal && ev.Name == "secret" {
					return denied
				}
				return inv(ctx, m, req, resp)
			}))
		// The subscriber drops deliveries with an odd N, and checks that the sender's
		// credentials can be had on the reader without blocking it.
		credErrs := make(chan error, 16)
		cli := dial(t, d, WithUnaryServerInterceptor(func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
			if ev, ok := req.(*event); ok && m.Kind == KindSignal {
				cr, err := CallerFrom(ctx).Credentials(ctx)
				if err == nil && (cr.UID != uint32(os.Getuid()) || cr.PID != uint32(os.Getpid())) {
					err = fmt.Errorf("credentials %+v", cr)
				}
				credErrs <- err
				if ev.N%2 == 1 {
					return nil, denied
				}
			}
			return h(ctx, req)
		}))
		ctx := ctx5s(t)
		store := gadgetProps.NewStore(&gadget{Mode: 2})
		if err := srv.Register(&gadgetDesc, struct{}{}, WithProperties(store)); err != nil {
			t.Fatal(err)
		}
		gobj := NewObject(cli, &gadgetDesc, WithDestination(srv.UniqueName()))
		if err := gadgetProps.Set(ctx, gobj, "Mode", &gadget{Mode: 9}); !hasCode(err, PermissionDenied) {
			t.Fatalf("Set refused by the server's interceptor: %v, want PermissionDenied", err)
		}
		if v, err := gadgetProps.Get(ctx, gobj, "Mode"); err != nil || v.Mode != 2 || store.Property(1).Mode != 2 {
			t.Fatalf("after a refused Set: Get = %v, %v; store %d; want 2 unchanged", v, err, store.Property(1).Mode)
		}
		if err := gadgetProps.Set(ctx, gobj, "Secret", &gadget{Secret: "x"}); err != nil {
			t.Fatalf("a write the interceptor lets through: %v", err)
		}

		sub, err := eventSignal.Subscribe(ctx, NewObject(cli, &sigDesc, WithDestination(srv.UniqueName())), Buffer(16))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		em := NewEmitter(srv, &sigDesc)
		if err := eventSignal.Emit(em, &event{Name: "secret", Path: "/", N: 0}); !errors.Is(err, denied) {
			t.Fatalf("Emit refused by the interceptor: %v, want %v", err, denied)
		}
		for n := int32(1); n <= 4; n++ {
			if err := eventSignal.Emit(em, &event{Name: "open", Path: "/", N: n}); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []int32{2, 4} {
			select {
			case s := <-sub.C():
				if s.Args.N != want || s.Args.Name != "open" {
					t.Fatalf("delivered %+v, want open %d (the refused emission and odd deliveries left out)", *s.Args, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("signal %d was not delivered", want)
			}
		}
		// Four deliveries reached the interceptor. Native signals carry the sender's
		// credentials; elsewhere the reader cannot ask the bus, and says so.
		for range 4 {
			err := <-credErrs
			switch {
			case d.Native && err != nil:
				t.Errorf("Credentials of a native signal's sender: %v", err)
			case !d.Native && !hasCode(err, FailedPrecondition):
				t.Errorf("Credentials of a classic signal's sender on the reader: %v, want FailedPrecondition", err)
			}
		}
	})
}

// TestChainsAreBuiltOnce checks that calling a chain of three interceptors costs one
// allocation (the context that carries the call's invoker to the innermost one), not a
// closure per interceptor, and that a connection without interceptors adds none.
func TestChainsAreBuiltOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	var passes int
	count := func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
		passes++
		return inv(ctx, m, req, resp)
	}
	countS := func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
		passes++
		return h(ctx, req)
	}
	info := &MethodInfo{Interface: testIface, Member: "Echo"}
	invoker := func(context.Context, *MethodInfo, any, any) error { return nil }
	handler := func(context.Context, any) (any, error) { return nil, nil }
	ctx := context.Background()
	req := &echoMsg{}

	chainC := ChainUnaryClient(count, count, count)
	chainS := ChainUnaryServer(countS, countS, countS)
	pa, pb := newPipes(false)
	with := newConn(pa, connOptions{unaryClient: []UnaryClientInterceptor{count, count, count}, unaryServer: []UnaryServerInterceptor{countS, countS, countS}})
	without := newConn(pb, connOptions{})
	defer with.Close()
	defer without.Close()

	cases := []struct {
		name   string
		passes int     // interceptors run per call
		allocs float64 // at most
		f      func()
	}{
		{"ChainUnaryClient", 3, 1, func() { chainC(ctx, info, req, nil, invoker) }},
		{"ChainUnaryServer", 3, 1, func() { chainS(ctx, req, info, handler) }},
		{"a connection's client chain", 3, 1, func() { with.invokeCall(ctx, info, req, nil, invoker) }},
		{"a connection's server chain", 3, 1, func() { with.serveCall(ctx, info, req, handler) }},
		{"no client interceptor", 0, 0, func() { without.invokeCall(ctx, info, req, nil, invoker) }},
		{"no server interceptor", 0, 0, func() { without.serveCall(ctx, info, req, handler) }},
	}
	for _, tc := range cases {
		passes = 0
		tc.f()
		if passes != tc.passes {
			t.Errorf("%s: %d interceptors ran, want %d", tc.name, passes, tc.passes)
		}
		if n := testing.AllocsPerRun(100, tc.f); n > tc.allocs {
			t.Errorf("%s: %v allocations per call, want at most %v", tc.name, n, tc.allocs)
		}
	}
}

func TestInterceptorThatDropsTheContext(t *testing.T) {
	info := &MethodInfo{Interface: testIface, Member: "Echo"}
	rude := func(_ context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
		return inv(context.Background(), m, req, resp)
	}
	pass := func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
		return inv(ctx, m, req, resp)
	}
	called := false
	err := ChainUnaryClient(pass, rude, pass)(context.Background(), info, nil, nil, func(context.Context, *MethodInfo, any, any) error {
		called = true
		return nil
	})
	if called || !hasCode(err, Internal) || !strings.Contains(err.Error(), "does not derive") {
		t.Fatalf("a chain whose interceptor dropped the context: called %v, %v; want an Internal error saying so", called, err)
	}
	rudeS := func(_ context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
		return h(context.Background(), req)
	}
	passS := func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) { return h(ctx, req) }
	_, err = ChainUnaryServer(passS, rudeS, passS)(context.Background(), nil, info, func(context.Context, any) (any, error) {
		called = true
		return nil, nil
	})
	if called || !hasCode(err, Internal) {
		t.Fatalf("a server chain whose interceptor dropped the context: called %v, %v; want an Internal error", called, err)
	}
}

func TestCallKindString(t *testing.T) {
	for k, want := range map[CallKind]string{KindMethod: "method", KindStream: "stream", KindProperty: "property", KindDriver: "driver", KindSignal: "signal", 9: "CallKind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("CallKind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
