package greeterv1_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	greeterv1 "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/greeter"
	scalarspb "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/scalars"
	wktpb "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/wkt"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

type kitchen struct {
	scalarspb.UnimplementedKitchenServer
}

func (kitchen) Choose(_ context.Context, req *scalarspb.Choice) (*scalarspb.Choice, error) {
	return req, nil
}

type known struct{ wktpb.UnimplementedKnownServer }

func (known) Echo(_ context.Context, req *structpb.Value) (*structpb.Value, error) { return req, nil }

type greeter struct {
	greeterv1.UnimplementedGreeterServer
	notes chan string
}

func (g *greeter) SayHello(_ context.Context, req *greeterv1.HelloRequest) (*greeterv1.HelloReply, error) {
	switch req.GetName() {
	case "":
		return nil, greeterv1.ErrGreeterNotReady
	case "crowd":
		return nil, runtime.NewError(greeterv1.Greeter_Error_TooMany, "one at a time")
	}
	return &greeterv1.HelloReply{Message: "Hello, " + req.GetName()}, nil
}

func (g *greeter) Notify(_ context.Context, req *greeterv1.HelloRequest) (*emptypb.Empty, error) {
	g.notes <- req.GetName()
	return &emptypb.Empty{}, nil
}

func (g *greeter) Ping(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// TestEndToEnd serves the generated Greeter on a private dbus-daemon and calls it through the
// generated client and through busctl: the generated code, the runtime and the introspection
// XML work together.
func TestEndToEnd(t *testing.T) {
	bus := dbustest.Start(t, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	impl := &greeter{notes: make(chan string, 1)}
	props := greeterv1.NewGreeterPropertyStore(&greeterv1.GreeterProperties{Greetings: 3})
	if err := greeterv1.RegisterGreeterServer(srv, impl, props); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(ctx, greeterv1.Greeter_BusName, 0); err != nil {
		t.Fatal(err)
	}
	if err := scalarspb.RegisterKitchenServer(srv, kitchen{}); err != nil {
		t.Fatal(err)
	}
	if err := wktpb.RegisterKnownServer(srv, known{}); err != nil {
		t.Fatal(err)
	}
	cli, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c := greeterv1.NewGreeterClient(cli)

	reply, err := c.SayHello(ctx, &greeterv1.HelloRequest{Name: "World"})
	if err != nil || reply.GetMessage() != "Hello, World" {
		t.Fatalf("SayHello: %v, %v", reply, err)
	}
	if _, err := c.SayHello(ctx, &greeterv1.HelloRequest{}); !errors.Is(err, greeterv1.ErrGreeterNotReady) {
		t.Errorf("SayHello(\"\"): %v, want ErrGreeterNotReady", err)
	}
	if _, err := c.SayHello(ctx, &greeterv1.HelloRequest{Name: "crowd"}); !errors.Is(err, greeterv1.ErrGreeterTooMany) || runtime.CodeOf(err) != runtime.ResourceExhausted {
		t.Errorf("SayHello(crowd): %v (code %v), want ErrGreeterTooMany with its declared code ResourceExhausted", err, runtime.CodeOf(err))
	}
	if _, err := c.Ping(ctx, &emptypb.Empty{}); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if _, err := c.Undocumented(ctx, &greeterv1.Nothing{}); runtime.CodeOf(err) != runtime.Unimplemented {
		t.Errorf("Undocumented: %v, want Unimplemented", err)
	}
	if _, err := c.Notify(ctx, &greeterv1.HelloRequest{Name: "note"}); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	// Oneofs, optional fields and dynamic values through the bus.
	maybe := "m"
	choice := &scalarspb.Choice{Before: "b", Pick: &scalarspb.Choice_Inner{Inner: &scalarspb.Inner{Name: "i"}}, Maybe: &maybe, Second: &scalarspb.Choice_Flag{}}
	kc := scalarspb.NewKitchenClient(cli, runtime.WithDestination(srv.UniqueName()))
	if got, err := kc.Choose(ctx, choice); err != nil || !proto.Equal(got, choice) {
		t.Errorf("Choose: %v, %v", got, err)
	}
	v, _ := structpb.NewValue(map[string]any{"list": []any{1.0, "x", nil}, "ok": true})
	wc := wktpb.NewKnownClient(cli, runtime.WithDestination(srv.UniqueName()))
	if got, err := wc.Echo(ctx, v); err != nil || !proto.Equal(got, v) {
		t.Errorf("Echo: %v, %v", got, err)
	}

	select {
	case n := <-impl.notes:
		if n != "note" {
			t.Errorf("Notify delivered %q", n)
		}
	case <-ctx.Done():
		t.Fatal("the no-reply call never arrived")
	}

	// busctl sees the generated introspection data and can call by hand.
	busctl, err := exec.LookPath("busctl")
	if err != nil {
		t.Log("busctl not installed; skipping the busctl part")
		return
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, busctl, append([]string{"--address=" + bus.Address}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("busctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	xml := run("introspect", "--xml-interface", greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath)
	// The object also serves its descriptors, on an interface listed first.
	if want := introspect.Document([]string{runtime.ReflectionXML, greeterv1.Greeter_ServiceDesc.XML}, nil); strings.TrimSpace(xml) != strings.TrimSpace(want) {
		t.Errorf("the served introspection differs from Greeter_IntrospectXML:\n%s", xml)
	}
	for _, c := range []struct {
		path, iface, member string
		args                []string
		want                string
	}{
		{greeterv1.Greeter_ObjectPath, greeterv1.Greeter_Interface, "SayHello", []string{"ss", "busctl", ""}, `s "Hello, busctl"`},
		// A oneof by hand: the member's name and a variant; an unset one: "" and an empty string.
		{scalarspb.Kitchen_ObjectPath, scalarspb.Kitchen_Interface, "Choose",
			[]string{"s(sv)u(sv)as(sv)", "b", "number", "x", "42", "7", "", "s", "", "1", "maybe", "", "s", ""},
			`s(sv)u(sv)as(sv) "b" "number" x 42 7 "" s "" 1 "maybe" "" s ""`},
		// A google.protobuf.Value by hand, with a type busctl users reach for.
		{wktpb.Known_ObjectPath, wktpb.Known_Interface, "Echo", []string{"v", "i", "5"}, `v d 5`},
	} {
		out := run(append([]string{"call", greeterv1.Greeter_BusName, c.path, c.iface, c.member}, c.args...)...)
		if strings.TrimSpace(out) != c.want {
			t.Errorf("busctl call %s: %q, want %q", c.member, strings.TrimSpace(out), c.want)
		}
	}
}
