package hostile

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/types/known/emptypb"
)

// soakServer echoes calls and checks that the one-way messages of each sender arrive in the
// order sent, with none missing.
type soakServer struct {
	bench.Server
	mu    sync.Mutex
	next  map[string]uint64 // the sequence number expected next, by sender
	wrong []string          // what arrived out of order
}

func (s *soakServer) Notify(ctx context.Context, req *benchv1.NotifyRequest) (*emptypb.Empty, error) {
	p := req.GetPayload()
	if len(p) != 8 {
		return nil, runtime.Errorf(runtime.InvalidArgument, "payload of %d bytes, want 8", len(p))
	}
	seq := binary.LittleEndian.Uint64(p)
	from := runtime.CallerFrom(ctx).Sender
	s.mu.Lock()
	if want := s.next[from]; seq != want && len(s.wrong) < 10 {
		s.wrong = append(s.wrong, fmt.Sprintf("%s sent #%d, expected #%d", from, seq, want))
	}
	s.next[from] = seq + 1
	s.mu.Unlock()
	s.Count()
	return &emptypb.Empty{}, nil
}

// received returns how many one-way messages sender's have arrived in order.
func (s *soakServer) received(sender string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next[sender]
}

// busStats reads the bus's Debug.Stats counters (kdbusd reports its goroutines there).
func busStats(tb testing.TB, c *runtime.Conn) map[string]any {
	tb.Helper()
	m, _, err := c.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus",
		Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetStats"}, nil)
	if err != nil {
		tb.Fatalf("GetStats: %v", err)
	}
	v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]any{}
	for _, ent := range v[0].([]wire.DictEntry) {
		out[ent.Key.(string)] = ent.Value.(wire.Variant).Value
	}
	return out
}

// TestSoak runs calls, ordered one-way messages and signals between native and classic
// clients in every direction for a while, and then checks that nothing was lost or reordered
// and that the bus went back to the descriptors, goroutines and (roughly) the memory it had
// before: a leak per message or per connection shows up here.
func TestSoak(t *testing.T) {
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative, bustest.KdbusdNativeRouted} {
		t.Run(kind, func(t *testing.T) { soak(t, kind) })
	}
}

func soak(t *testing.T, kind string) {
	bus := Start(t, kind, dbustest.Config{})
	ctx := context.Background()
	dial := func(addr string) *runtime.Conn { return Dial(t, addr) }
	// One service reached natively where the bus has a native socket, one classically.
	addrs := []string{bus.Address, bus.ClassicAddress}
	servers := make([]*soakServer, len(addrs))
	names := []string{"org.kdbusgo.Soak.A", "org.kdbusgo.Soak.B"}
	var emitters []*benchv1.BenchEmitter
	for i, addr := range addrs {
		c := dial(addr)
		defer c.Close()
		servers[i] = &soakServer{Server: *bench.NewServer(), next: map[string]uint64{}}
		if err := benchv1.RegisterBenchServer(c, servers[i]); err != nil {
			t.Fatal(err)
		}
		if r, err := c.RequestName(ctx, names[i], runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
			t.Fatalf("RequestName %s: %v %v", names[i], r, err)
		}
		emitters = append(emitters, benchv1.NewBenchEmitter(c))
	}
	probe := dial(bus.ClassicAddress)
	defer probe.Close()
	stats := func() map[string]any {
		if kind == bustest.DBusDaemon {
			return nil
		}
		return busStats(t, probe)
	}

	rounds := Size(150, 6000)
	const clientsPerAddr = 3
	type client struct {
		conn *runtime.Conn
		subs []*runtime.Signals[benchv1.Tick]
	}
	var clients []*client
	connect := func() {
		for _, addr := range addrs {
			for range clientsPerAddr {
				c := &client{conn: dial(addr)}
				for i := range servers {
					s, err := benchv1.NewBenchClient(c.conn).SubscribeTick(ctx, runtime.FromSender(names[i]), runtime.Buffer(2*rounds+8))
					if err != nil {
						t.Fatal(err)
					}
					c.subs = append(c.subs, s)
				}
				clients = append(clients, c)
			}
		}
	}
	// A first connection and round warm the bus up; the baseline is taken after it.
	warm := dial(bus.Address)
	if _, err := benchv1.NewBenchClient(warm, runtime.WithDestination(names[0])).Ping(ctx, &benchv1.PingRequest{Payload: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	gone := warm.UniqueName()
	warm.Close()
	WaitFor(t, "the warm-up client to be gone", 30*time.Second, func() bool {
		_, err := probe.GetNameOwner(ctx, gone)
		return err != nil
	})
	baseFDs, baseRSS := bus.FDs(), bus.RSS()
	baseStats := stats()

	connect()
	var peakRSS int64
	var peakFDs int
	sampled := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peakRSS, peakFDs = max(peakRSS, bus.RSS()), max(peakFDs, bus.FDs())
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for ci, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stubs := make([]benchv1.BenchClient, len(names))
			for i, n := range names {
				stubs[i] = benchv1.NewBenchClient(c.conn, runtime.WithDestination(n))
			}
			payload := make([]byte, 8)
			for r := range rounds {
				for i, s := range stubs {
					binary.LittleEndian.PutUint64(payload, uint64(r))
					if _, err := s.Notify(ctx, &benchv1.NotifyRequest{Payload: payload}); err != nil {
						errs <- fmt.Errorf("client %d: Notify #%d to %s: %v", ci, r, names[i], err)
						return
					}
					want := fmt.Sprintf("%d/%d/%d", ci, r, i)
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					got, err := s.Ping(cctx, &benchv1.PingRequest{Payload: []byte(want)})
					cancel()
					if err != nil {
						errs <- fmt.Errorf("client %d: Ping #%d to %s: %v", ci, r, names[i], err)
						return
					}
					if string(got.GetPayload()) != want {
						errs <- fmt.Errorf("client %d: Ping #%d to %s echoed %q", ci, r, names[i], got.GetPayload())
						return
					}
				}
			}
		}()
	}
	// Signals go out while the calls run, one per round from each service.
	for r := range rounds {
		for _, e := range emitters {
			if err := e.EmitTick(&benchv1.Tick{Channel: "soak", Seq: uint64(r)}); err != nil {
				t.Fatalf("EmitTick #%d: %v", r, err)
			}
		}
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Every client got every signal of both services, in order; every server got every
	// one-way message of every client, in order.
	for ci, c := range clients {
		for si, s := range c.subs {
			for want := range uint64(rounds) {
				var sig runtime.Signal[benchv1.Tick]
				select {
				case sig = <-s.C():
				case <-time.After(30 * time.Second):
					t.Fatalf("client %d: signal #%d of %s never arrived", ci, want, names[si])
				}
				if sig.Lost != 0 || sig.Args.GetSeq() != want {
					t.Fatalf("client %d: signal of %s #%d (lost %d), expected #%d", ci, names[si], sig.Args.GetSeq(), sig.Lost, want)
				}
			}
		}
		for si, s := range servers {
			WaitFor(t, fmt.Sprintf("%s to receive client %d's one-way messages", names[si], ci), 30*time.Second, func() bool {
				return s.received(c.conn.UniqueName()) == uint64(rounds)
			})
		}
	}
	for i, s := range servers {
		s.mu.Lock()
		if len(s.wrong) > 0 {
			t.Errorf("%s saw one-way messages out of order: %v", names[i], s.wrong)
		}
		s.mu.Unlock()
	}

	// The soak's clients leave: the bus gives back their descriptors and goroutines.
	for _, c := range clients {
		c.conn.Close()
	}
	recovered := WaitFor(t, "the bus to give back the soak's descriptors", 30*time.Second, func() bool { return bus.FDs() <= baseFDs })
	if baseStats != nil {
		var got any
		WaitFor(t, "the bus's goroutines to return to their number before the soak", 30*time.Second, func() bool {
			got = stats()["Goroutines"]
			return got.(uint32) <= baseStats["Goroutines"].(uint32)
		})
	}
	rss := bus.RSS()
	// Memory: the bus may keep some of what it grew to, but not in proportion to the traffic.
	if limit := baseRSS + 64<<20; rss > limit {
		t.Errorf("the bus holds %.1f MB after the soak, %.1f MB before it", float64(rss)/1e6, float64(baseRSS)/1e6)
	}
	msgs := len(clients) * rounds * len(servers) * 2
	Report(t, "soak", kind, Figures{RSS: peakRSS, FDs: peakFDs, Recover: recovered,
		Note: fmt.Sprintf("%d calls, %d one-way, %d signals delivered; RSS %.1f MB before, %.1f MB after; %d fds before",
			msgs/2, msgs/2, len(clients)*len(servers)*rounds, float64(baseRSS)/1e6, float64(rss)/1e6, baseFDs)})
}
