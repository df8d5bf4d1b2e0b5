package bench_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
)

// The signal benchmark: one emitter, subscribers connections each subscribed to the same
// signal with an arg0 filter, of which matching ask for the value every signal carries.
const (
	subscribers    = 1000
	matching       = 10
	signalMember   = "Tick"
	signalArg0     = "hit"
	signalWindow   = 32   // signals in flight: emitted but not yet received by the slowest matching subscriber
	signalBuffer   = 1024 // a subscription's buffer
	dialers        = 8    // connections opened at once while setting up
	signalsTimeout = time.Minute
)

// BenchmarkSignal times a signal broadcast to 1000 subscribers of which 10 match: signals/s,
// until every matching subscriber has every signal; wakeups/signal, the readers of all 1000
// subscribers that woke up with data, per signal (on classic connections, which do not count
// wake-ups, the messages they read); false-wakeups/signal, the same for the 990 that do not
// match; dropped/signal, the signals lost to full buffers or pools (the runtime and the bus
// count them; nothing is lost silently), per signal and matching subscriber; and the bus's CPU
// time per signal.
func BenchmarkSignal(b *testing.B) {
	b.Run(fmt.Sprintf("%dsubs", subscribers), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.KdbusdClassic, bench.DBusDaemon} {
			b.Run(target, func(b *testing.B) { benchmarkSignal(b, target) })
		}
	})
}

// subscriber is one of the signal's subscribers.
type subscriber struct {
	conn  *runtime.Conn
	sub   *runtime.Subscription
	match bool
	// got counts the signals a matching subscriber received.
	got atomic.Int64
}

// dropped returns how many signals the subscriber lost: to its subscription's full buffer,
// or because the bus could not fit them in its pool.
func (s *subscriber) dropped() int64 {
	return int64(s.sub.Dropped() + s.conn.Stats().Dropped)
}

// wakeups returns what the benchmark counts as the subscriber's wake-ups so far.
func (s *subscriber) wakeups() uint64 {
	st := s.conn.Stats()
	if s.conn.Native() {
		return st.Wakeups
	}
	return st.Received
}

func benchmarkSignal(b *testing.B, target string) {
	raiseFileLimit(b)
	bus := startBus(b, target)
	progress := make(chan struct{}, 1)
	subs := make([]*subscriber, subscribers)
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	next := make(chan int)
	for range dialers {
		wg.Go(func() {
			for i := range next {
				s, err := subscribe(b, bus, i < matching, progress)
				if err != nil {
					errs <- err
					continue
				}
				subs[i] = s
			}
		})
	}
	for i := range subscribers {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	emitter := bus.dial(b)
	body, err := wire.Marshal(wire.NativeOrder, "s", signalArg0)
	if err != nil {
		b.Fatal(err)
	}
	signal := wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: benchv1.Bench_ObjectPath,
		Interface: benchv1.Bench_Interface, Member: signalMember, Signature: "s", Body: body}

	before := make([]uint64, subscribers)
	for i, s := range subs {
		before[i] = s.wakeups()
	}
	// slowest returns the fewest signals a matching subscriber has received or lost.
	slowest := func() int64 {
		low := int64(math.MaxInt64)
		for _, s := range subs[:matching] {
			low = min(low, s.got.Load()+s.dropped())
		}
		return low
	}
	cpu := bus.cpu(b)
	var sent int64
	for b.Loop() {
		for sent-slowest() >= signalWindow {
			<-progress
		}
		m := signal
		if err := emitter.Send(&m, nil); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	timeout := time.After(signalsTimeout)
	for slowest() < sent {
		select {
		case <-progress:
		case <-time.After(10 * time.Millisecond): // drops are counted, not announced
		case <-timeout:
			var got, lost int64
			for _, s := range subs[:matching] {
				got, lost = got+s.got.Load(), lost+s.dropped()
			}
			b.Fatalf("matching subscribers received %d and lost %d of %d signals within %v", got, lost, sent*matching, signalsTimeout)
		}
	}
	elapsed := b.Elapsed()
	bus.reportBusCPU(b, cpu)
	var all, falses uint64
	var lost int64
	for _, s := range subs[:matching] {
		lost += s.dropped()
	}
	for i, s := range subs {
		w := s.wakeups() - before[i]
		all += w
		if !s.match {
			falses += w
		}
	}
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "signals/s")
	b.ReportMetric(float64(all)/float64(sent), "wakeups/signal")
	b.ReportMetric(float64(falses)/float64(sent), "false-wakeups/signal")
	b.ReportMetric(float64(lost)/float64(sent*matching), "dropped/signal")
}

// subscribe connects a subscriber and subscribes it to the signal with an arg0 filter that
// the signal matches when match is set. A matching subscriber counts what it receives and
// announces each on progress.
func subscribe(b *testing.B, bus *bus, match bool, progress chan struct{}) (*subscriber, error) {
	c, err := bus.connect(b)
	if err != nil {
		return nil, err
	}
	arg0 := signalArg0
	if !match {
		arg0 = fmt.Sprintf("miss-%s", c.UniqueName())
	}
	rule, err := parseRule(arg0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, rule, signalBuffer)
	if err != nil {
		return nil, err
	}
	s := &subscriber{conn: c, sub: sub, match: match}
	go func() {
		for range sub.C() {
			if match {
				s.got.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
	}()
	return s, nil
}

func parseRule(arg0 string) (*match.Rule, error) {
	return match.Parse(fmt.Sprintf("type='signal',path='%s',interface='%s',member='%s',arg0='%s'",
		benchv1.Bench_ObjectPath, benchv1.Bench_Interface, signalMember, arg0))
}
