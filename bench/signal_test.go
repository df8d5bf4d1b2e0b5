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
	"github.com/kdbus-go/kdbus/runtime"
)

// The signal benchmark: one emitter, subscribers connections each subscribed to the Tick
// signal with a filter on its channel argument, of which matching ask for the channel every
// signal carries.
const (
	subscribers    = 1000
	matching       = 10
	signalChannel  = "hit"
	signalWindow   = 32   // signals in flight: emitted but not yet received by the slowest matching subscriber
	signalBuffer   = 1024 // a subscription's buffer
	dialers        = 8    // connections opened at once while setting up
	signalsTimeout = time.Minute
)

// BenchmarkSignal times a signal broadcast to 1000 subscribers of which 10 match, through the
// generated API (BenchEmitter.EmitTick, BenchClient.SubscribeTick with MatchTickChannel):
// signals/s, until every matching subscriber has every signal; wakeups/signal, the readers of
// all 1000 subscribers that woke up with data, per signal (on classic connections, which do
// not count wake-ups, the messages they read); false-wakeups/signal, the same for the 990
// that do not match; dropped/signal, the signals lost to full buffers or pools (the runtime
// and the bus count them; nothing is lost silently), per signal and matching subscriber; and
// the bus's CPU time per signal.
func BenchmarkSignal(b *testing.B) {
	b.Run(fmt.Sprintf("%dsubs", subscribers), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.KdbusdClassic, bench.DBusDaemon} {
			b.Run(target, func(b *testing.B) { benchmarkSignal(b, target) })
		}
	})
}

// subscriber is one of the signal's subscribers.
type subscriber struct {
	conn    *runtime.Conn
	signals *runtime.Signals[benchv1.Tick]
	match   bool
	// got counts the signals the subscriber received.
	got atomic.Int64
	// bad says what was wrong with the first signal that should not have arrived as it did:
	// a signal for a non-matching subscriber, of another channel, from another sender or
	// path, with a sequence number out of order, or with a Signal.Lost larger than the gap
	// before it.
	bad atomic.Pointer[string]
	// gaps counts the signals missing from the sequence that Signal.Lost does not account
	// for: those the bus dropped, which ConnStats.Dropped must cover.
	gaps atomic.Int64
}

// dropped returns how many signals the subscriber lost: to its subscription's full buffer,
// or because the bus could not fit them in its pool.
func (s *subscriber) dropped() int64 {
	return int64(s.signals.Lost() + s.conn.Stats().Dropped)
}

// wakeups returns what the benchmark counts as the subscriber's wake-ups so far.
func (s *subscriber) wakeups() uint64 {
	st := s.conn.Stats()
	if s.conn.Native() {
		return st.Wakeups
	}
	return st.Received
}

func (s *subscriber) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.bad.CompareAndSwap(nil, &msg)
}

func benchmarkSignal(b *testing.B, target string) {
	raiseFileLimit(b)
	bus := startBus(b, target)
	emitterConn := bus.dial(b)
	progress := make(chan struct{}, 1)
	subs := make([]*subscriber, subscribers)
	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	next := make(chan int)
	for range dialers {
		wg.Go(func() {
			for i := range next {
				s, err := subscribe(b, bus, i < matching, emitterConn.UniqueName(), progress)
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
	emitter := benchv1.NewBenchEmitter(emitterConn)

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
		sent++
		if err := emitter.EmitTick(&benchv1.Tick{Channel: signalChannel, Seq: uint64(sent)}); err != nil {
			b.Fatal(err)
		}
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
	for i, s := range subs {
		if bad := s.bad.Load(); bad != nil {
			b.Fatalf("subscriber %d: %s", i, *bad)
		}
		if s.match {
			lost += s.dropped()
			if got, d := s.got.Load(), s.dropped(); got+d != sent || s.gaps.Load() > int64(s.conn.Stats().Dropped) {
				b.Fatalf("subscriber %d received %d and lost %d of %d signals (%d missing from the sequence beyond Signal.Lost; the bus dropped %d)",
					i, got, d, sent, s.gaps.Load(), s.conn.Stats().Dropped)
			}
		}
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

// subscribe connects a subscriber and subscribes it to the Tick signals of a channel: the
// one every signal carries when match is set, one of its own otherwise. It subscribes to
// every sender, as the emitter does not own the service's bus name. A matching subscriber
// announces each signal on progress; every subscriber counts what it receives and checks it
// against what the emitter, of unique name emitter, sends.
func subscribe(b *testing.B, bus *bus, match bool, emitter string, progress chan struct{}) (*subscriber, error) {
	c, err := bus.connect(b)
	if err != nil {
		return nil, err
	}
	channel := signalChannel
	if !match {
		channel = fmt.Sprintf("miss-%s", c.UniqueName())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	signals, err := benchv1.NewBenchClient(c).SubscribeTick(ctx,
		benchv1.MatchTickChannel(channel), runtime.FromSender(""), runtime.Buffer(signalBuffer))
	if err != nil {
		return nil, err
	}
	s := &subscriber{conn: c, signals: signals, match: match}
	go func() {
		var last uint64
		for sig := range signals.C() {
			s.got.Add(1)
			seq := sig.Args.GetSeq()
			switch {
			case sig.Sender != emitter || sig.Path != benchv1.Bench_ObjectPath:
				s.fail("received a Tick from %s at %s, want %s at %s", sig.Sender, sig.Path, emitter, benchv1.Bench_ObjectPath)
			case !match || sig.Args.GetChannel() != channel:
				s.fail("received a Tick of channel %q, subscribed to %q", sig.Args.GetChannel(), channel)
			case seq <= last:
				s.fail("received Tick %d after %d", seq, last)
			case seq-last-1 < sig.Lost:
				s.fail("received Tick %d after %d with %d lost in between", seq, last, sig.Lost)
			default:
				s.gaps.Add(int64(seq - last - 1 - sig.Lost))
				last = seq
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}
	}()
	return s, nil
}
