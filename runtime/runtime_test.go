package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// The test service is written the way generated code is: a codec per message, a UnaryMethod
// per method and a ServiceDesc.

type echoMsg struct {
	Text string
	N    int32
}

var echoCodec = kdbusimpl.Codec[echoMsg]{
	Sig:    "si",
	Encode: func(e *wire.Encoder, m *echoMsg) { e.String(m.Text); e.Int32(m.N) },
	Decode: func(d *wire.Decoder, m *echoMsg) { m.Text = d.String(); m.N = d.Int32() },
}

const testIface = "org.kdbusgo.Test"

var (
	echoMethod = UnaryMethod[echoMsg, echoMsg]{Interface: testIface, Name: "Echo", In: echoCodec, Out: echoCodec}
	failMethod = UnaryMethod[echoMsg, echoMsg]{Interface: testIface, Name: "Fail", In: echoCodec, Out: echoCodec}
	oneWay     = UnaryMethod[echoMsg, echoMsg]{Interface: testIface, Name: "Note", In: echoCodec, Out: kdbusimpl.Codec[echoMsg]{Encode: func(*wire.Encoder, *echoMsg) {}, Decode: func(*wire.Decoder, *echoMsg) {}}, NoReply: true}
)

type testServer interface {
	Echo(context.Context, *echoMsg) (*echoMsg, error)
	Fail(context.Context, *echoMsg) (*echoMsg, error)
	Note(context.Context, *echoMsg) (*echoMsg, error)
}

var testDesc = ServiceDesc{
	Interface:   testIface,
	Path:        "/org/kdbusgo/Test",
	BusName:     "org.kdbusgo.Test",
	HandlerType: (*testServer)(nil),
	Methods: []MethodDesc{
		echoMethod.Desc(func(srv any, ctx context.Context, req *echoMsg) (*echoMsg, error) {
			return srv.(testServer).Echo(ctx, req)
		}),
		failMethod.Desc(func(srv any, ctx context.Context, req *echoMsg) (*echoMsg, error) {
			return srv.(testServer).Fail(ctx, req)
		}),
		oneWay.Desc(func(srv any, ctx context.Context, req *echoMsg) (*echoMsg, error) {
			return srv.(testServer).Note(ctx, req)
		}),
	},
	XML: (&introspect.Interface{Name: testIface, Methods: []introspect.Method{
		{Name: "Echo", Args: []introspect.Arg{{Name: "text", Type: "s", Direction: "in"}, {Name: "n", Type: "i", Direction: "in"}, {Name: "text", Type: "s", Direction: "out"}, {Name: "n", Type: "i", Direction: "out"}}},
	}}).XML(),
}

// impl implements testServer with hooks for the tests.
type impl struct {
	echo  func(context.Context, *echoMsg) (*echoMsg, error)
	fail  func(context.Context, *echoMsg) (*echoMsg, error)
	notes chan string
}

func (s *impl) Echo(ctx context.Context, m *echoMsg) (*echoMsg, error) {
	if s.echo != nil {
		return s.echo(ctx, m)
	}
	return &echoMsg{Text: m.Text, N: m.N + 1}, nil
}

func (s *impl) Fail(ctx context.Context, m *echoMsg) (*echoMsg, error) { return s.fail(ctx, m) }

func (s *impl) Note(ctx context.Context, m *echoMsg) (*echoMsg, error) {
	s.notes <- m.Text
	return nil, nil
}

func dial(t *testing.T, d *bustest.Bus, opts ...Option) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, d.Address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// serve registers s on a new connection that owns the test service's name.
func serve(t *testing.T, d *bustest.Bus, s *impl, opts ...Option) *Conn {
	t.Helper()
	c := dial(t, d, opts...)
	if err := c.Register(&testDesc, s); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RequestName(context.Background(), testDesc.BusName, 0); err != nil || r != NamePrimaryOwner {
		t.Fatalf("RequestName: %v, %v", r, err)
	}
	return c
}

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUnaryCall(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{})
		cli := dial(t, d)
		obj := NewObject(cli, &testDesc)
		resp, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{Text: "héllo", N: 41})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "héllo" || resp.N != 42 {
			t.Fatalf("Echo = %+v", resp)
		}
	})
}

func TestOneWayCallsRunInOrder(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		s := &impl{notes: make(chan string, 100)}
		serve(t, d, s, WithMaxConcurrentCalls(1, 100))
		cli := dial(t, d)
		obj := NewObject(cli, &testDesc)
		for i := range 50 {
			if _, err := oneWay.Invoke(ctx5s(t), obj, &echoMsg{Text: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 50 {
			select {
			case got := <-s.notes:
				if got != fmt.Sprint(i) {
					t.Fatalf("note %d arrived as %s", i, got)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("note %d never arrived", i)
			}
		}
	})
}

func TestErrorsMapBothWays(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		notReady := "org.kdbusgo.Test.Error.NotReady"
		var next atomic.Value // of errBox
		type errBox struct{ error }
		serve(t, d, &impl{fail: func(context.Context, *echoMsg) (*echoMsg, error) { return nil, next.Load().(errBox).error }})
		obj := NewObject(dial(t, d), &testDesc)
		for _, tc := range []struct {
			err      error
			name     string
			code     Code
			contains string
		}{
			{Errorf(NotFound, "no such thing"), statusPrefix + "NotFound", NotFound, "no such thing"},
			{Errorf(InvalidArgument, "bad"), ErrorInvalidArgs, InvalidArgument, "bad"},
			{Errorf(PermissionDenied, "nope"), ErrorAccessDenied, PermissionDenied, "nope"},
			{NewError(notReady, "warming up"), notReady, Unknown, "warming up"},
			{errors.New("plain failure"), ErrorFailed, Unknown, "plain failure"},
			{fmt.Errorf("wrapped: %w", Errorf(Unavailable, "down")), ErrorServiceUnknown, Unavailable, "down"},
		} {
			next.Store(errBox{tc.err})
			_, err := failMethod.Invoke(ctx5s(t), obj, &echoMsg{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v: got %v (%T), want *Error", tc.err, err, err)
			}
			if e.Name != tc.name || e.Code != tc.code || !strings.Contains(e.Message, tc.contains) {
				t.Errorf("%v: got %q %v %q, want %q %v containing %q", tc.err, e.Name, e.Code, e.Message, tc.name, tc.code, tc.contains)
			}
			if CodeOf(err) != tc.code {
				t.Errorf("CodeOf = %v, want %v", CodeOf(err), tc.code)
			}
		}
		next.Store(errBox{NewError(notReady, "x")})
		_, err := failMethod.Invoke(ctx5s(t), obj, &echoMsg{})
		if !errors.Is(err, &Error{Name: notReady}) {
			t.Errorf("errors.Is does not match a service error by name: %v", err)
		}
	})
}

func TestPanicYieldsErrorAndServiceKeepsServing(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{fail: func(context.Context, *echoMsg) (*echoMsg, error) { panic("boom") }})
		obj := NewObject(dial(t, d), &testDesc)
		_, err := failMethod.Invoke(ctx5s(t), obj, &echoMsg{})
		if CodeOf(err) != Internal || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("after a panic: %v, want an Internal error mentioning it", err)
		}
		if _, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{Text: "still there"}); err != nil {
			t.Fatalf("service stopped serving after a panic: %v", err)
		}
	})
}

func TestDeadlineAndCancellationLeakNothing(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		release := make(chan struct{})
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			<-release
			return m, nil
		}})
		cli := dial(t, d)
		obj := NewObject(cli, &testDesc)

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := echoMethod.Invoke(ctx, obj, &echoMsg{})
		if !errors.Is(err, context.DeadlineExceeded) || CodeOf(err) != DeadlineExceeded {
			t.Fatalf("call past its deadline: %v, want DeadlineExceeded", err)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel2() }()
		_, err = echoMethod.Invoke(ctx2, obj, &echoMsg{})
		if !errors.Is(err, context.Canceled) || CodeOf(err) != Canceled {
			t.Fatalf("cancelled call: %v, want Canceled", err)
		}
		cli.mu.Lock()
		n := len(cli.pending)
		cli.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d calls still pending after their callers gave up", n)
		}
		close(release) // the late replies arrive and are dropped
		if _, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{Text: "after"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBadCallsGetStandardErrors(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{})
		cli := dial(t, d)
		raw := func(path wire.ObjectPath, iface, member string, sig wire.Signature, args ...any) error {
			body, err := wire.Marshal(wire.NativeOrder, sig, args...)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = cli.Call(ctx5s(t), &wire.Message{Type: wire.MethodCall, Destination: testDesc.BusName, Path: path, Interface: iface, Member: member, Signature: sig, Body: body}, nil)
			return err
		}
		for _, tc := range []struct {
			name string
			err  error
			want string
		}{
			{"wrong signature", raw(testDesc.Path, testIface, "Echo", "ss", "no", "int"), ErrorInvalidArgs},
			{"wrong type, trailing argument missing", raw(testDesc.Path, testIface, "Echo", "i", int32(1)), ErrorInvalidArgs},
			{"an older version's arguments: the missing one is zero", raw(testDesc.Path, testIface, "Echo", "s", "older"), ""},
			{"a newer version's arguments: the extra one is skipped", raw(testDesc.Path, testIface, "Echo", "sit", "newer", int32(1), uint64(2)), ""},
			{"unknown method", raw(testDesc.Path, testIface, "Nope", ""), ErrorUnknownMethod},
			{"unknown interface", raw(testDesc.Path, "org.kdbusgo.Other", "Echo", "si", "a", int32(1)), ErrorUnknownInterface},
			{"unknown object", raw("/nowhere", testIface, "Echo", "si", "a", int32(1)), ErrorUnknownObject},
			{"no interface field", raw(testDesc.Path, "", "Echo", "si", "a", int32(1)), ""},
		} {
			var e *Error
			if tc.want == "" {
				if tc.err != nil {
					t.Errorf("%s: %v", tc.name, tc.err)
				}
				continue
			}
			if !errors.As(tc.err, &e) || e.Name != tc.want {
				t.Errorf("%s: got %v, want %s", tc.name, tc.err, tc.want)
			}
		}
	})
}

func TestInterceptors(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var trace []string
		var mu sync.Mutex
		log := func(s string) { mu.Lock(); trace = append(trace, s); mu.Unlock() }
		srvIC := func(name string) UnaryServerInterceptor {
			return func(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
				log("server " + name + " " + m.FullName())
				return h(ctx, req)
			}
		}
		cliIC := func(name string) UnaryClientInterceptor {
			return func(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
				log("client " + name + " " + m.Member)
				return inv(ctx, m, req, resp)
			}
		}
		serve(t, d, &impl{}, WithUnaryServerInterceptor(ChainUnaryServer(srvIC("outer"), srvIC("inner"))))
		cli := dial(t, d, WithUnaryClientInterceptor(ChainUnaryClient(cliIC("outer"), cliIC("inner"))))
		if _, err := echoMethod.Invoke(ctx5s(t), NewObject(cli, &testDesc), &echoMsg{}); err != nil {
			t.Fatal(err)
		}
		want := "client outer Echo|client inner Echo|server outer org.kdbusgo.Test.Echo|server inner org.kdbusgo.Test.Echo"
		mu.Lock()
		got := strings.Join(trace, "|")
		mu.Unlock()
		if got != want {
			t.Fatalf("interceptor order:\n got %s\nwant %s", got, want)
		}
	})
}

func TestCallerIdentity(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		got := make(chan Credentials, 1)
		var sender atomic.Value
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			c := CallerFrom(ctx)
			sender.Store(c.Sender)
			// The native bus numbers what it routes; a call that came over a lane, straight
			// from its sender, has no number.
			switch {
			case !d.Native && c.Seqnum() != 0:
				t.Errorf("sequence number %d on a classic connection", c.Seqnum())
			case d.Kind == bustest.KdbusdNativeRouted && c.Seqnum() == 0:
				t.Errorf("no sequence number on a call the native bus routed")
			}
			cr, err := c.Credentials(ctx)
			if err != nil {
				return nil, err
			}
			got <- cr
			return m, nil
		}})
		cli := dial(t, d)
		if _, err := echoMethod.Invoke(ctx5s(t), NewObject(cli, &testDesc), &echoMsg{}); err != nil {
			t.Fatal(err)
		}
		cr := <-got
		if sender.Load() != cli.UniqueName() || cr.UID != uint32(os.Getuid()) || cr.PID != uint32(os.Getpid()) {
			t.Fatalf("caller %v with %+v; want %s uid %d pid %d", sender.Load(), cr, cli.UniqueName(), os.Getuid(), os.Getpid())
		}
	})
}

func TestStandardInterfaces(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv := serve(t, d, &impl{})
		if err := srv.Register(&testDesc, &impl{}, AtPath("/org/kdbusgo/Test/child/deeper")); err != nil {
			t.Fatal(err)
		}
		cli := dial(t, d)
		call := func(path wire.ObjectPath, iface, member string, sig wire.Signature, args ...any) []any {
			body, _ := wire.Marshal(wire.NativeOrder, sig, args...)
			m, _, err := cli.Call(ctx5s(t), &wire.Message{Type: wire.MethodCall, Destination: testDesc.BusName, Path: path, Interface: iface, Member: member, Signature: sig, Body: body}, nil)
			if err != nil {
				t.Fatalf("%s.%s on %s: %v", iface, member, path, err)
			}
			v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		xml := call(testDesc.Path, IntrospectableInterface, "Introspect", "")[0].(string)
		if want := introspect.Document([]string{testDesc.XML}, []string{"child"}); xml != want {
			t.Fatalf("Introspect:\n%s\nwant:\n%s", xml, want)
		}
		root, err := introspect.ParseString(call("/", IntrospectableInterface, "Introspect", "")[0].(string))
		if err != nil || len(root.Children) != 1 || root.Children[0].Name != "org" {
			t.Fatalf("root node: %+v, %v", root, err)
		}
		mid, _ := introspect.ParseString(call("/org/kdbusgo/Test/child", IntrospectableInterface, "Introspect", "")[0].(string))
		if len(mid.Children) != 1 || mid.Children[0].Name != "deeper" || mid.Interface(testIface) != nil {
			t.Fatalf("intermediate node: %+v", mid)
		}
		call(testDesc.Path, PeerInterface, "Ping", "")
		if _, err := machineID(); err == nil {
			if id := call(testDesc.Path, PeerInterface, "GetMachineId", "")[0].(string); len(id) != 32 {
				t.Fatalf("machine id %q", id)
			}
		}
		if all := call(testDesc.Path, PropertiesInterface, "GetAll", "s", testIface)[0].([]wire.DictEntry); len(all) != 0 {
			t.Fatalf("GetAll = %v, want no properties", all)
		}
	})
}

func TestBoundedConcurrency(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		block := make(chan struct{})
		started := make(chan struct{}, 10)
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			started <- struct{}{}
			<-block
			return m, nil
		}}, WithMaxConcurrentCalls(1, 0))
		obj := NewObject(dial(t, d), &testDesc)
		errc := make(chan error, 1)
		go func() { _, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{}); errc <- err }()
		<-started
		_, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{})
		var e *Error
		if !errors.As(err, &e) || e.Name != ErrorLimitsExceeded {
			t.Fatalf("call beyond the bound: %v, want LimitsExceeded", err)
		}
		close(block)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

func TestNameOwnershipAndWatching(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		a, b, watcher := dial(t, d), dial(t, d), dial(t, d)
		const name = "org.kdbusgo.Owned"
		w, err := watcher.WatchNameOwner(ctx5s(t), name)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expect := func(old, new string) {
			t.Helper()
			select {
			case ch := <-w.C:
				if ch.OldOwner != old || ch.NewOwner != new {
					t.Fatalf("owner change %+v, want %q -> %q", ch, old, new)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no owner change %q -> %q", old, new)
			}
		}
		if r, err := a.RequestName(ctx5s(t), name, NameAllowReplacement); err != nil || r != NamePrimaryOwner {
			t.Fatalf("a: %v %v", r, err)
		}
		expect("", a.UniqueName())
		if r, err := b.RequestName(ctx5s(t), name, NameDoNotQueue); err != nil || r != NameExists {
			t.Fatalf("b without replacing: %v %v, want exists", r, err)
		}
		if r, err := b.RequestName(ctx5s(t), name, NameReplaceExisting); err != nil || r != NamePrimaryOwner {
			t.Fatalf("b replacing: %v %v", r, err)
		}
		expect(a.UniqueName(), b.UniqueName())
		if owner, err := watcher.GetNameOwner(ctx5s(t), name); err != nil || owner != b.UniqueName() {
			t.Fatalf("GetNameOwner = %s, %v", owner, err)
		}
		// a was queued when replaced (it did not say DoNotQueue): b leaving hands the name back.
		b.Close()
		expect(b.UniqueName(), a.UniqueName())
		if r, err := a.ReleaseName(ctx5s(t), name); err != nil || r != NameReleased {
			t.Fatalf("release: %v %v", r, err)
		}
		expect(a.UniqueName(), "")
		if _, err := watcher.GetNameOwner(ctx5s(t), name); CodeOf(err) != Unavailable {
			t.Fatalf("GetNameOwner of a free name: %v", err)
		}
	})
}

func TestBusGoingAwayFailsPendingCalls(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			select {}
		}})
		obj := NewObject(dial(t, d), &testDesc)
		errc := make(chan error, 3)
		for range 3 {
			go func() { _, err := echoMethod.Invoke(context.Background(), obj, &echoMsg{}); errc <- err }()
		}
		time.Sleep(100 * time.Millisecond)
		d.Kill()
		for range 3 {
			select {
			case err := <-errc:
				if !errors.Is(err, ErrDisconnected) || CodeOf(err) != Unavailable {
					t.Fatalf("pending call when the bus died: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a pending call still waits after the bus died")
			}
		}
	})
}

// Native and classic clients of one kdbusd call each other in both directions.
func TestMixedTransports(t *testing.T) {
	d := bustest.Start(t, bustest.KdbusdNative, dbustest.Config{})
	classicOnly := &bustest.Bus{Kind: d.Kind, Address: d.ClassicAddress}
	for _, tc := range []struct {
		name           string
		server, client *bustest.Bus
	}{
		{"native client, classic server", classicOnly, d},
		{"classic client, native server", d, classicOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, tc.server, &impl{})
			cli := dial(t, tc.client)
			if srv.Native() == cli.Native() {
				t.Fatalf("server native=%v, client native=%v", srv.Native(), cli.Native())
			}
			obj := NewObject(cli, &testDesc)
			for i := range 100 {
				resp, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{Text: strings.Repeat("x", i*100), N: int32(i)})
				if err != nil {
					t.Fatal(err)
				}
				if resp.N != int32(i)+1 || len(resp.Text) != i*100 {
					t.Fatalf("reply %d: N=%d, %d bytes", i, resp.N, len(resp.Text))
				}
			}
			srv.Close()
		})
	}
}

// On the native transport a no-reply call that cannot be delivered is reported: at once with
// WaitDelivery, or by Sync.
func TestUndeliveredNoReplyCalls(t *testing.T) {
	for _, kind := range []string{bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) { undeliveredNoReplyCalls(t, bustest.Start(t, kind, dbustest.Config{})) })
	}
}

func undeliveredNoReplyCalls(t *testing.T, d *bustest.Bus) {
	cli := dial(t, d)
	nowhere := NewObject(cli, &testDesc, WithDestination("org.kdbusgo.Nobody"))
	_, err := oneWay.Invoke(ctx5s(t), nowhere, &echoMsg{}, WaitDelivery())
	if CodeOf(err) != Unavailable || !strings.Contains(err.Error(), "org.freedesktop.DBus.Error.ServiceUnknown") {
		t.Fatalf("a waited no-reply call to nobody: %v (code %v)", err, CodeOf(err))
	}
	for range 3 {
		if _, err := oneWay.Invoke(ctx5s(t), nowhere, &echoMsg{}); err != nil {
			t.Fatalf("a pipelined no-reply call: %v", err)
		}
	}
	err = cli.Sync(ctx5s(t))
	var j interface{ Unwrap() []error }
	if !errors.As(err, &j) || len(j.Unwrap()) != 3 || CodeOf(j.Unwrap()[0]) != Unavailable {
		t.Fatalf("Sync after 3 undelivered calls: %v", err)
	}
	if n := cli.Stats().Undelivered; n != 3 {
		t.Fatalf("Stats().Undelivered = %d, want 3", n)
	}
	if err := cli.Sync(ctx5s(t)); err != nil {
		t.Fatalf("a second Sync: %v", err)
	}
	// Delivered ones report nothing.
	srv := serve(t, d, &impl{notes: make(chan string, 1)})
	_ = srv
	if _, err := oneWay.Invoke(ctx5s(t), NewObject(cli, &testDesc), &echoMsg{Text: "hi"}, WaitDelivery()); err != nil {
		t.Fatal(err)
	}
	if err := cli.Sync(ctx5s(t)); err != nil {
		t.Fatal(err)
	}
}

// TestLargeBodiesConcurrently: calls with large, distinct bodies run at once from one
// connection, on every bus kind. Encoders take large buffers from wire's pools and the
// runtime gives them back once a message is sent, in the client and in the server, which
// share the pools here: a buffer given back while a transport still read it would let one
// call's bytes turn up in another's.
func TestLargeBodiesConcurrently(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{})
		obj := NewObject(dial(t, d), &testDesc)
		sizes := []int{70 << 10, 200 << 10, 600 << 10}
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 12 {
					size := sizes[(g+i)%len(sizes)]
					text := strings.Repeat(string(rune('a'+(g*12+i)%26)), size)
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					resp, err := echoMethod.Invoke(ctx, obj, &echoMsg{Text: text, N: int32(i)})
					cancel()
					if err != nil {
						errs <- fmt.Errorf("call %d of %d: %w", i, g, err)
						return
					}
					if resp.Text != text || resp.N != int32(i)+1 {
						errs <- fmt.Errorf("call %d of goroutine %d: the reply (n %d, %d bytes) is not the echo of the request (n %d, %d bytes of %q)", i, g, resp.N, len(resp.Text), i, len(text), text[:1])
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
