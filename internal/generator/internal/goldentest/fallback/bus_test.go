package fallbackpb_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	fallbackpb "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/fallback"
	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// server echoes what it is sent, keeps the assistance data it is given and streams it back.
type server struct {
	fallbackpb.UnimplementedFallbackServer
	injected chan *fallbackpb.GnssAssistance
}

func (s *server) Inject(_ context.Context, req *fallbackpb.GnssAssistance) (*emptypb.Empty, error) {
	s.injected <- req
	return &emptypb.Empty{}, nil
}

func (*server) Configure(_ context.Context, req *fallbackpb.Wide) (*fallbackpb.Wide, error) {
	return req, nil
}

func (*server) Descend(_ context.Context, req *fallbackpb.Deep0) (*fallbackpb.Deep0, error) {
	return req, nil
}

func (*server) Choose(_ context.Context, req *fallbackpb.Choice) (*fallbackpb.Choice, error) {
	return req, nil
}

func (s *server) Follow(_ *emptypb.Empty, stream runtime.ServerStreamingServer[fallbackpb.GnssAssistance]) error {
	for pick := range 2 {
		if err := stream.Send(roundtrip.Full[fallbackpb.GnssAssistance](pick)); err != nil {
			return err
		}
	}
	return nil
}

// serve serves the Fallback service on bus and returns a client of it, the emitter and the
// server's connection.
func serve(t *testing.T, ctx context.Context, addr string) (fallbackpb.FallbackClient, *fallbackpb.FallbackEmitter, *server, *runtime.Conn) {
	t.Helper()
	srv, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	impl := &server{injected: make(chan *fallbackpb.GnssAssistance, 1)}
	store := fallbackpb.NewFallbackPropertyStore(&fallbackpb.FallbackState{Bulk: roundtrip.Full[fallbackpb.Bulk](0), Name: "n"})
	if err := fallbackpb.RegisterFallbackServer(srv, impl, store); err != nil {
		t.Fatal(err)
	}
	cli, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return fallbackpb.NewFallbackClient(cli, runtime.WithDestination(srv.UniqueName())), fallbackpb.NewFallbackEmitter(srv), impl, srv
}

// TestOverTheBus calls every method, reads the property and receives every signal of the
// Fallback service, whose messages travel in part or whole serialized, on every kind of bus.
func TestOverTheBus(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, emit, impl, _ := serve(t, ctx, bus.Address)

		gnss := roundtrip.Full[fallbackpb.GnssAssistance](0)
		if _, err := c.Inject(ctx, gnss); err != nil {
			t.Fatalf("Inject: %v", err)
		}
		if got := <-impl.injected; !proto.Equal(got, gnss) {
			t.Errorf("Inject delivered other data:\n got: %v\nwant: %v", got, gnss)
		}
		wide := roundtrip.Full[fallbackpb.Wide](0)
		if got, err := c.Configure(ctx, wide); err != nil || !proto.Equal(got, wide) {
			t.Errorf("Configure: %v, %v", got, err)
		}
		deep := roundtrip.Full[fallbackpb.Deep0](0)
		if got, err := c.Descend(ctx, deep); err != nil || !proto.Equal(got, deep) {
			t.Errorf("Descend: %v, %v", got, err)
		}
		for pick := range 3 {
			choice := roundtrip.Full[fallbackpb.Choice](pick)
			if got, err := c.Choose(ctx, choice); err != nil || !proto.Equal(got, choice) {
				t.Errorf("Choose %d: %v, %v", pick, got, err)
			}
		}
		stream, err := c.Follow(ctx, &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for pick := 0; ; pick++ {
			frame, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if pick != 2 {
					t.Errorf("Follow ended after %d frames, want 2", pick)
				}
				break
			}
			if err != nil {
				t.Fatalf("Follow: %v", err)
			}
			if want := roundtrip.Full[fallbackpb.GnssAssistance](pick); !proto.Equal(frame, want) {
				t.Errorf("Follow frame %d differs", pick)
			}
		}
		if got, err := c.GetBulk(ctx); err != nil || !proto.Equal(got, roundtrip.Full[fallbackpb.Bulk](0)) {
			t.Errorf("GetBulk: %v, %v", got, err)
		}

		wides, err := c.SubscribeWideEvent(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer wides.Close()
		surges, err := c.SubscribeSurge(ctx, fallbackpb.MatchSurgeSource("kept"))
		if err != nil {
			t.Fatal(err)
		}
		defer surges.Close()
		event := roundtrip.Full[fallbackpb.WideEvent](0)
		if err := emit.EmitWideEvent(event); err != nil {
			t.Fatal(err)
		}
		surge := roundtrip.Full[fallbackpb.Surge](0)
		surge.Source = "dropped"
		if err := emit.EmitSurge(surge); err != nil {
			t.Fatal(err)
		}
		surge = roundtrip.Full[fallbackpb.Surge](1)
		surge.Source = "kept"
		if err := emit.EmitSurge(surge); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-wides.C():
			if !proto.Equal(s.Args, event) {
				t.Errorf("WideEvent differs")
			}
		case <-ctx.Done():
			t.Fatal("no WideEvent signal")
		}
		select {
		case s := <-surges.C():
			if !proto.Equal(s.Args, surge) {
				t.Errorf("Surge: got the signal with source %q, want the one with %q", s.Args.GetSource(), surge.GetSource())
			}
		case <-ctx.Done():
			t.Fatal("no Surge signal")
		}
	})
}

// TestBusctlCallsWhole calls Configure, whose request and reply travel whole as ay, by hand with
// busctl: the bytes are the serialized message.
func TestBusctlCallsWhole(t *testing.T) {
	busctl := dbustest.RequireTool(t, "busctl")
	bus := dbustest.Start(t, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, _, srv := serve(t, ctx, bus.Address)

	wide := &fallbackpb.Wide{F1: "by hand", F2: 2.5, F300: 7}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(wide)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--address=" + bus.Address, "call", srv.UniqueName(), fallbackpb.Fallback_ObjectPath, fallbackpb.Fallback_Interface, "Configure", "ay", strconv.Itoa(len(b))}
	for _, x := range b {
		args = append(args, strconv.Itoa(int(x)))
	}
	out, err := exec.CommandContext(ctx, busctl, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("busctl call: %v\n%s", err, out)
	}
	// busctl prints: ay N b1 b2 ...
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "ay" {
		t.Fatalf("busctl printed %q, want an ay", out)
	}
	var reply []byte
	for _, f := range fields[2:] {
		x, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("busctl printed %q: %v", out, err)
		}
		reply = append(reply, byte(x))
	}
	got := new(fallbackpb.Wide)
	if err := proto.Unmarshal(reply, got); err != nil || !proto.Equal(got, wide) {
		t.Errorf("the reply holds %v (%v), want %v", got, err, wide)
	}
}
