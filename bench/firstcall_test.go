package bench_test

import (
	"context"
	"testing"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
)

// firstCallSize is the payload of the first call, as the unary call's.
const firstCallSize = 32

// BenchmarkFirstCall times the first call of a fresh connection to a server that is already
// running: the cost a short-lived client pays for each peer it talks to. On native that
// call includes the setting up of the lane between the two; native-routed and dbus-daemon
// show the same first call through the bus. Each iteration dials a new connection with the
// timer stopped, times its first call alone, and closes it with the timer stopped again,
// so the run takes several times -benchtime. The bus's CPU time is not reported: most of it
// would be the connections' opening and closing, which are not timed.
func BenchmarkFirstCall(b *testing.B) {
	b.Run(sizeName(firstCallSize), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.NativeRouted, bench.DBusDaemon} {
			b.Run(target, func(b *testing.B) { benchmarkFirstCall(b, target) })
		}
	})
}

func benchmarkFirstCall(b *testing.B, target string) {
	s := serve(b, target)
	ctx := context.Background()
	req := &benchv1.PingRequest{Payload: payload(firstCallSize)}
	// The service's own client calls once, so that the first timed call finds the server
	// as warm as every later one does.
	if _, err := s.client.ping(ctx, req.Payload); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		c, err := s.open()
		if err != nil {
			b.Fatal(err)
		}
		client := benchv1.NewBenchClient(c)
		b.StartTimer()
		r, err := client.Ping(ctx, req)
		b.StopTimer()
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
		checkEcho(b, r.GetPayload(), req.Payload)
		b.StartTimer()
	}
}
