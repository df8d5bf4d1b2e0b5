package bench_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/runtime"
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
// process's resident memory grew per connection (KiB/conn). The timed loop then opens and
// closes one more connection at a time, so ns/op is the cost of a connection to a bus that
// holds 4096.
func BenchmarkIdleConns(b *testing.B) {
	b.Run(fmt.Sprint(idleConns), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.KdbusdClassic} {
			b.Run(target, func(b *testing.B) { benchmarkIdleConns(b, target) })
		}
	})
}

func benchmarkIdleConns(b *testing.B, target string) {
	raiseFileLimit(b)
	bus := startBus(b, target)
	time.Sleep(idleSettle)
	rss0, err := bench.ProcessRSS(bus.pid)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, idleConns)
	next := make(chan struct{})
	for range dialers {
		wg.Go(func() {
			for range next {
				if _, err := bus.connect(b); err != nil {
					errs <- err
				}
			}
		})
	}
	for range idleConns {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("opening %d connections: %v", idleConns, err)
	}
	time.Sleep(idleSettle)
	rss1, err := bench.ProcessRSS(bus.pid)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		c, err := runtime.Dial(ctx, bus.addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(float64(rss1-rss0)/1024/idleConns, "KiB/conn")
}
