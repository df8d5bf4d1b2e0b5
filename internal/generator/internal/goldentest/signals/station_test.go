package signalspb_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	signalspb "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/signals"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type station struct {
	signalspb.UnimplementedStationServer
}

// connect starts an embedded bus (native and classic) and returns a served station, its
// store, its emitter and a client connection, native or classic.
func connect(t *testing.T, native bool) (*signalspb.StationPropertyStore, *signalspb.StationEmitter, signalspb.StationClient, *runtime.Conn) {
	t.Helper()
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := bus.ClassicAddress
	if native {
		addr = bus.NativeAddress
	}
	srv, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cli, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	store := signalspb.NewStationPropertyStore(initial())
	if err := signalspb.RegisterStationServer(srv, station{}, store); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(ctx, signalspb.Station_BusName, 0); err != nil {
		t.Fatal(err)
	}
	return store, signalspb.NewStationEmitter(srv), signalspb.NewStationClient(cli), cli
}

func initial() *signalspb.StationProperties {
	extra, _ := structpb.NewStruct(map[string]any{"open": true, "tracks": []any{1.0, "two"}})
	return &signalspb.StationProperties{
		Name:      "Central",
		Mood:      signalspb.Mood_MOOD_CALM,
		Delay:     proto.Int32(-3),
		Platforms: []*signalspb.Platform{{Name: "1", Tracks: []uint32{1, 2}}, {Name: "2"}},
		Load:      map[string]float64{"1": 0.5, "2": 1},
		Opened:    timestamppb.New(time.Unix(1700000000, 5)),
		Extra:     extra,
		Home:      "/stations/central",
		Token:     []byte("never read"),
		Main:      &signalspb.Platform{Name: "1"},
	}
}

func eachTransport(t *testing.T, f func(t *testing.T, native bool)) {
	t.Run("classic", func(t *testing.T) { f(t, false) })
	t.Run("native", func(t *testing.T) { f(t, true) })
}

// TestPropertiesOfEveryType reads every kind of property back as it was set, writes the
// writable ones and watches the changes.
func TestPropertiesOfEveryType(t *testing.T) {
	eachTransport(t, func(t *testing.T, native bool) {
		store, _, client, _ := connect(t, native)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		got, err := client.GetProperties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := initial()
		want.Token = nil // write-only
		if !proto.Equal(got, want) {
			t.Fatalf("GetProperties = %v, want %v", got, want)
		}
		if d, err := client.GetDelay(ctx); err != nil || d == nil || *d != -3 {
			t.Fatalf("GetDelay = %v, %v", d, err)
		}
		if home, err := client.GetHome(ctx); err != nil || home != "/stations/central" {
			t.Fatalf("GetHome = %q, %v", home, err)
		}

		w, err := client.WatchProperties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		extra, _ := structpb.NewStruct(map[string]any{"closed": "soon"})
		if err := client.SetExtra(ctx, extra); err != nil {
			t.Fatal(err)
		}
		if err := client.SetDelay(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := client.SetToken(ctx, []byte("secret")); err != nil {
			t.Fatal(err)
		}
		if err := store.SetPlatforms([]*signalspb.Platform{{Name: "9"}}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetMain(&signalspb.Platform{Name: "9"}); err != nil { // announces nothing
			t.Fatal(err)
		}
		if err := store.SetLoad(map[string]float64{"9": 2}); err != nil {
			t.Fatal(err)
		}
		type change struct{ changed, invalidated []string }
		var seen []change
		var last *signalspb.StationProperties
		for len(seen) < 5 {
			select {
			case s := <-w.C():
				seen = append(seen, change{s.Args.Changed, s.Args.Invalidated})
				last = s.Args.Values
				switch {
				case slices.Equal(s.Args.Changed, []string{"Extra"}) && !proto.Equal(s.Args.Values.Extra, extra):
					t.Errorf("Extra changed to %v, want %v", s.Args.Values.Extra, extra)
				case slices.Equal(s.Args.Changed, []string{"Delay"}) && s.Args.Values.Delay != nil:
					t.Errorf("Delay changed to %v, want unset", *s.Args.Values.Delay)
				}
			case <-ctx.Done():
				t.Fatalf("saw %d changes: %v", len(seen), seen)
			}
		}
		want2 := []change{{[]string{"Extra"}, nil}, {[]string{"Delay"}, nil}, {nil, []string{"Token"}}, {nil, []string{"Platforms"}}, {[]string{"Load"}, nil}}
		for i := range want2 {
			if !slices.Equal(seen[i].changed, want2[i].changed) || !slices.Equal(seen[i].invalidated, want2[i].invalidated) {
				t.Fatalf("changes %v, want %v", seen, want2)
			}
		}
		if last.GetLoad()["9"] != 2 {
			t.Fatalf("Load changed to %v", last.GetLoad())
		}
		if tok := store.Token(); string(tok) != "secret" {
			t.Fatalf("the store holds token %q", tok)
		}
		if main, err := client.GetMain(ctx); err != nil || main.GetName() != "9" {
			t.Fatalf("GetMain = %v, %v", main, err)
		}
		// A const property cannot be written and cannot change while served.
		if err := store.Update(func(p *signalspb.StationProperties) { p.Name = "Renamed" }); err == nil {
			t.Fatal("a const property changed while served")
		}
		if err := client.SetMood(ctx, signalspb.Mood_MOOD_BUSY); err != nil {
			t.Fatal(err)
		} else if store.Mood() != signalspb.Mood_MOOD_BUSY {
			t.Fatalf("store mood %v", store.Mood())
		}
		if name, err := client.GetName(ctx, runtime.NoAutoStart()); err != nil || name != "Central" {
			t.Fatalf("GetName = %q, %v", name, err)
		}
	})
}

// TestSignalArgumentFilters subscribes with the generated filters for a string, an object
// path and a signature argument.
func TestSignalArgumentFilters(t *testing.T) {
	eachTransport(t, func(t *testing.T, native bool) {
		_, emit, client, _ := connect(t, native)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		subscribe := func(opts ...runtime.SubscribeOption) *runtime.Signals[signalspb.Arrived] {
			s, err := client.SubscribeArrived(ctx, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		byLine := subscribe(signalspb.MatchArrivedLine("S1"))
		byPlatform := subscribe(signalspb.MatchArrivedPlatform("/p/3"))
		byFormat := subscribe(signalspb.MatchArrivedFormat("a{sv}"))
		byNote := subscribe(signalspb.MatchArrivedNote("late"))
		departed, err := client.SubscribeDeparted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer departed.Close()
		arrivals := []*signalspb.Arrived{
			{Line: "S1", Platform: "/p/3", Format: "s", Cars: 1},
			{Line: "S2", Platform: "/p/3/a", Format: "a{sv}", Cars: 2, Note: "late"},
			{Line: "S1", Platform: "/", Format: "a{sv}", Cars: 3},
			{Line: "S3", Platform: "/p", Format: "ay", Cars: 4},
		}
		for _, a := range arrivals {
			if err := emit.EmitArrived(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := emit.EmitArrived(&signalspb.Arrived{Line: "S1", Platform: "not a path"}); err == nil {
			t.Fatal("a signal with an invalid object path was emitted")
		}
		at := timestamppb.New(time.Unix(1, 2))
		if err := emit.EmitDeparted(&signalspb.Departed{Lines: []string{"S1"}, At: at}); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-departed.C():
			if !proto.Equal(d.Args.At, at) || !slices.Equal(d.Args.Lines, []string{"S1"}) {
				t.Fatalf("Departed = %v", d.Args)
			}
		case <-ctx.Done():
			t.Fatal("no Departed signal")
		}
		// Departed left after every Arrived: they have all been delivered.
		for _, c := range []struct {
			name string
			s    *runtime.Signals[signalspb.Arrived]
			want []uint32
		}{{"line", byLine, []uint32{1, 3}}, {"platform", byPlatform, []uint32{1}}, {"format", byFormat, []uint32{2, 3}}, {"note", byNote, []uint32{2}}} {
			var got []uint32
			for len(c.s.C()) > 0 {
				got = append(got, (<-c.s.C()).Args.Cars)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("filter on %s: got cars %v, want %v", c.name, got, c.want)
			}
		}
	})
}
