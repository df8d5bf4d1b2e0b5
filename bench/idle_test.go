package bench_test

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
)

// idleConns is how many idle connections BenchmarkIdleConns opens to one kdbusd.
const idleConns = 4096

// idleSettle is how long the bus is left alone before its memory is read, for the work of
// accepting the connections to finish.
const idleSettle = 500 * time.Millisecond

// raiseFileLimit raises this process's soft limit on open files to its hard limit, for
// benchmarks that hold thousands of connections. Buses started afterwards inherit the raised
// limit (and kdbusd, a Go program, raises its own soft limit to the hard one anyway).
func raiseFileLimit(tb testing.TB) {
	tb.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		tb.Fatal(err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			tb.Fatal(err)
		}
	}
	// Each connection costs a few descriptors here (the socket, and on the native transport
	// its pool and send area) and one or more in the bus.
	if l.Cur < 4*idleConns {
		tb.Skipf("RLIMIT_NOFILE is %d; the benchmark needs %d (raise the hard limit: ulimit -Hn)", l.Cur, 4*idleConns)
	}
}

// BenchmarkIdleConns opens 4096 idle connections to one kdbusd and reports how much the bus
// process's resident memory grew per connection (KiB/conn). An iteration is a fresh kdbusd
// filled with connections; ns/op is the time to start it and open all of them.
func BenchmarkIdleConns(b *testing.B) {
	b.Run("4096", func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.KdbusdClassic} {
			b.Run(target, func(b *testing.B) { benchmarkIdleConns(b, target) })
		}
	})
}

func benchmarkIdleConns(b *testing.B, target string) {
	raiseFileLimit(b)
	var growth int64
	runs := 0
	for b.Loop() {
		growth += idleConnsGrowth(b, target)
		runs++
	}
	b.ReportMetric(float64(growth)/1024/float64(runs*idleConns), "KiB/conn")
}

// idleConnsGrowth starts a kdbusd, opens idleConns connections to it and returns how many
// bytes its resident set grew; the bus and the connections are gone when it returns.
func idleConnsGrowth(b *testing.B, target string) int64 {
	b.Helper()
	// A sub-test scope would cost a line of output per iteration; a cleanup list does the same.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	sc := &scope{TB: b, cleanups: &cleanups}
	bus := startBus(sc, target)
	b.StopTimer()
	time.Sleep(idleSettle)
	rss0, err := bench.ProcessRSS(bus.pid)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan struct{})
	for range dialers {
		wg.Go(func() {
			for range next {
				if _, err := bus.connect(sc); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for range idleConns {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.StopTimer()
	time.Sleep(idleSettle)
	rss1, err := bench.ProcessRSS(bus.pid)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	return rss1 - rss0
}

// scope runs a TB's cleanups when the caller says, rather than at the end of the benchmark.
type scope struct {
	testing.TB
	mu       sync.Mutex
	cleanups *[]func()
}

// Cleanup queues f to run when the scope ends.
func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.cleanups = append(*s.cleanups, f)
}
