package hostile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

const repliesService = "org.kdbusgo.Hostile.Echo"

// The attacks on services give each connection 1 MiB of incoming bytes, and room for more
// in its queue.
const repliesLimit = 1 << 20

var repliesConfig = fmt.Sprintf(`  <limit name="max_incoming_bytes">%d</limit>
  <limit name="max_outgoing_bytes">%d</limit>
`, repliesLimit, 64*repliesLimit)

// repliesServe serves the Bench service, whose Ping echoes, as repliesService on b.
func repliesServe(t *testing.T, b *Bus) *runtime.Conn {
	t.Helper()
	srv := Dial(t, b.Address)
	if err := benchv1.RegisterBenchServer(srv, bench.NewServer()); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.RequestName(context.Background(), repliesService, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return srv
}

// TestUnreadReplies calls a service again and again and never reads the replies. Replies are
// what their receiver asked for, so their cost is the caller's: the bus may stop reading the
// caller, but the service must go on answering everyone else. A bus that charged the replies
// to the service that sent them, as dbus-daemon does, stops reading the service once the
// caller holds max_incoming_bytes of them, and every other client's calls to it time out.
func TestUnreadReplies(t *testing.T) {
	for _, kind := range []string{bustest.Kdbusd, bustest.KdbusdNative, bustest.KdbusdNativeRouted, bustest.DBusDaemon} {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{Extra: repliesConfig})
			ctx := context.Background()
			repliesServe(t, b)
			well := Dial(t, b.Address)
			stub := benchv1.NewBenchClient(well, runtime.WithDestination(repliesService))
			ping := func(d time.Duration) error {
				ctx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				_, err := stub.Ping(ctx, &benchv1.PingRequest{Payload: []byte("hello")})
				return err
			}
			if err := ping(10 * time.Second); err != nil {
				t.Fatal(err)
			}

			// The attacker asks for four times max_incoming_bytes of replies and reads none.
			attacker, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer attacker.Close()
			payload := make([]byte, 32<<10)
			e := wire.NewEncoder(nil, wire.NativeOrder)
			e.ByteArray(payload)
			calls := 4 * repliesLimit / len(payload)
			go func() {
				for range calls {
					m := &wire.Message{Type: wire.MethodCall, Destination: repliesService, Path: benchv1.Bench_ObjectPath,
						Interface: benchv1.Bench_Interface, Member: "Ping", Signature: "ay", Body: e.Bytes()}
					if attacker.Send(m, nil) != nil {
						return
					}
				}
			}()
			// Wait until the bus holds at least half of max_incoming_bytes of unread replies for
			// the attacker: past that point a bus that charges them to the service may stop
			// reading it (kdbusd counts each live byte twice, for the garbage collector's
			// headroom).
			WaitFor(t, "the bus to hold the attacker's unread replies", time.Minute, func() bool {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				return floodStat(ctx, well, attacker.UniqueName(), "OutgoingBytes") >= repliesLimit/2
			})
			b.MustRun()

			// The service still answers a well-behaved client. The deadline only catches a
			// hang on kdbusd; dbus-daemon is known to stop reading the service here, so its
			// figure is taken with a short one.
			deadline := time.Minute
			if kind == bustest.DBusDaemon {
				deadline = 2 * time.Second
			}
			start := time.Now()
			err = ping(deadline)
			took := time.Since(start)
			note := fmt.Sprintf("%d replies of 32 KiB left unread, max_incoming_bytes 1 MiB; a call to the service then ", calls)
			if err != nil {
				note += "failed: " + firstLine(err.Error())
			} else {
				note += fmt.Sprintf("took %v", took.Round(10*time.Microsecond))
			}
			Report(t, "unread replies", kind, Figures{RSS: b.RSS(), Note: note})
			if err != nil && kind != bustest.DBusDaemon {
				t.Errorf("a caller that reads none of its replies stopped the service answering others: %v", err)
			}
		})
	}
}

// TestUnreadSignals subscribes to a service's signals and never reads them. Broadcasts are
// the subscriber's to keep up with: a bus may drop them for a subscriber that does not (it is
// told how many it lost), but must not stop reading the service that emits them, which would
// end its calls and its signals for everyone.
func TestUnreadSignals(t *testing.T) {
	for _, kind := range []string{bustest.Kdbusd, bustest.KdbusdNative, bustest.KdbusdNativeRouted, bustest.DBusDaemon} {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{Extra: repliesConfig})
			ctx := context.Background()
			srv := repliesServe(t, b)
			emitter := benchv1.NewBenchEmitter(srv)

			// The attacker subscribes to every signal and reads nothing.
			attacker, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer attacker.Close()
			rule, _ := wire.Marshal(wire.NativeOrder, "s", "type='signal'")
			if err := attacker.Send(&wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
				Interface: "org.freedesktop.DBus", Member: "AddMatch", Signature: "s", Body: rule}, nil); err != nil {
				t.Fatal(err)
			}
			well := Dial(t, b.Address)
			// The rule is in place once a signal emitted after it reaches a second subscriber.
			sub, err := benchv1.NewBenchClient(well).SubscribeTick(ctx, runtime.FromSender(repliesService), runtime.Buffer(16))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()

			// The service emits four times max_incoming_bytes of signals, each with a
			// 32 KiB channel name, while the attacker reads none.
			name := fmt.Sprintf("%032768d", 0)
			n := 4 * repliesLimit / len(name)
			emitted := make(chan error, 1)
			go func() {
				for i := range n {
					if err := emitter.EmitTick(&benchv1.Tick{Channel: name, Seq: uint64(i)}); err != nil {
						emitted <- err
						return
					}
				}
				emitted <- nil
			}()
			// kdbusd must let them all out; the bound only catches a hang. dbus-daemon is
			// known to stop reading the emitter, so its figure is taken after a short wait.
			wait := time.Minute
			if kind == bustest.DBusDaemon {
				wait = 3 * time.Second
			}
			var emitErr error
			select {
			case emitErr = <-emitted:
			case <-time.After(wait):
				emitErr = fmt.Errorf("the service's %d signals were still not all sent after %v", n, wait)
			}
			b.MustRun()
			stub := benchv1.NewBenchClient(well, runtime.WithDestination(repliesService))
			cctx, cancel := context.WithTimeout(ctx, wait)
			_, callErr := stub.Ping(cctx, &benchv1.PingRequest{Payload: []byte("hello")})
			cancel()
			note := fmt.Sprintf("%d signals of 32 KiB to a subscriber that reads none, max_incoming_bytes 1 MiB: ", n)
			switch {
			case emitErr != nil:
				note += "the service was blocked: " + firstLine(emitErr.Error())
			case callErr != nil:
				note += "calls to the service failed: " + firstLine(callErr.Error())
			default:
				note += "the service went on emitting and answering"
			}
			Report(t, "unread signals", kind, Figures{RSS: b.RSS(), Note: note})
			if kind != bustest.DBusDaemon {
				if emitErr != nil {
					t.Errorf("a subscriber that reads nothing blocked the emitter: %v", emitErr)
				}
				if callErr != nil {
					t.Errorf("a subscriber that reads nothing stopped the service answering: %v", callErr)
				}
			}
		})
	}
}

// TestUnreadRepliesManyConnections spreads the unread replies over many connections of one
// user, each of which stays under its own limit. What a user's connections asked for and did
// not read is bounded all together (the pool's worth, four times max_incoming_bytes in cost,
// that is twice it in bytes); past that the bus drops further replies to them instead of
// holding them.
func TestUnreadRepliesManyConnections(t *testing.T) {
	const conns = 16
	for _, kind := range []string{bustest.Kdbusd, bustest.DBusDaemon} {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{Extra: repliesConfig})
			ctx := context.Background()
			repliesServe(t, b)
			observer := Dial(t, b.ClassicAddress)
			payload := make([]byte, 32<<10)
			e := wire.NewEncoder(nil, wire.NativeOrder)
			e.ByteArray(payload)
			calls := 4 * repliesLimit / len(payload)
			var attackers []string
			for range conns {
				a, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				attackers = append(attackers, a.UniqueName())
				go func() {
					for range calls {
						m := &wire.Message{Type: wire.MethodCall, Destination: repliesService, Path: benchv1.Bench_ObjectPath,
							Interface: benchv1.Bench_Interface, Member: "Ping", Signature: "ay", Body: e.Bytes()}
						if a.Send(m, nil) != nil {
							return
						}
					}
				}()
			}
			held := func() int64 {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				var sum int64
				for _, name := range attackers {
					sum += max(floodStat(ctx, observer, name, "OutgoingBytes"), 0)
				}
				return sum
			}
			// What the bus may hold for the attackers' user: twice max_incoming_bytes, the
			// reply that crossed the line on each of the two routes (service, bus) at once, and
			// one reply for each connection that held none unread when the user was full.
			bound := int64(2*repliesLimit + (4+conns)*len(payload))
			var most int64
			note := ""
			if kind == bustest.DBusDaemon {
				// dbus-daemon charges the replies to the service, and stops reading it once
				// they pass its max_incoming_bytes: the bound holds, and the service stops.
				WaitFor(t, "dbus-daemon to hold the attackers' replies", time.Minute, func() bool { return held() >= int64(repliesLimit/2) })
				for range 20 {
					most = max(most, held())
				}
				note = "bounded by stopping the service"
			} else {
				dropped := func() int64 {
					v, _ := busStats(t, observer)["DroppedReplies"].(uint32)
					return int64(v)
				}
				WaitFor(t, "the bus to drop replies past the user's bound", time.Minute, func() bool {
					most = max(most, held())
					return dropped() > 0
				})
				for range 20 {
					most = max(most, held())
				}
				if most > bound {
					t.Errorf("the bus held %d bytes of replies %d connections of one user never read; the bound is %d", most, conns, bound)
				}
				note = fmt.Sprintf("bound %d KiB, %d replies dropped", bound>>10, dropped())
			}
			b.MustRun()
			Report(t, "unread replies, 16 connections", kind, Figures{RSS: b.RSS(),
				Note: fmt.Sprintf("%d connections of one user × %d replies of 32 KiB, max_incoming_bytes 1 MiB: the bus held %d KiB of them; %s", conns, calls, most>>10, note)})
		})
	}
}
