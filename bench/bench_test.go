package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/transport/memfd"
)

// Sizes of the echo benchmark: the 32-byte unary call and the copy-path echoes.
var pingSizes = []int{32, 4 << 10, 64 << 10, 1 << 20}

// BenchmarkPing times a unary call whose request and reply carry the same payload: the 32-byte
// call and the 4 KiB, 64 KiB and 1 MiB echoes. Bytes per op count the payload twice (there and
// back). The bus targets also report the bus process's CPU time per call and reply
// (bus-cpu-µs/op).
func BenchmarkPing(b *testing.B) {
	for _, size := range pingSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			for _, target := range busTargets {
				b.Run(target, func(b *testing.B) { benchmarkPing(b, target, size) })
			}
			b.Run(bench.UnixSocket, func(b *testing.B) { benchmarkRawEcho(b, size) })
			if size >= 4<<10 {
				b.Run(bench.Memcpy, func(b *testing.B) { benchmarkMemcpy(b, size) })
			}
		})
	}
}

func benchmarkPing(b *testing.B, target string, size int) {
	s := serve(b, target)
	ctx := context.Background()
	want := payload(size)
	b.SetBytes(2 * int64(size))
	cpu := s.cpu(b)
	var got []byte
	for b.Loop() {
		p, err := s.client.ping(ctx, want)
		if err != nil {
			b.Fatal(err)
		}
		got = p
	}
	s.reportBusCPU(b, cpu)
	checkEcho(b, got, want)
}

// oneWaySize is the payload of each one-way message.
const oneWaySize = 32

// oneWayWindow is how many one-way messages may be in flight: sent but not yet handled. It
// stays well below what kdbusd's native transport lets one sender leave unread in a
// receiver's pool (1024 messages, some of them handled but not yet handed back): past it the
// bus refuses sends, as kdbus did, where dbus-daemon queues without bound.
const oneWayWindow = 128

// BenchmarkOneWay times pipelined one-way messages from one sender: no-reply calls of a 32-byte
// payload, up to oneWayWindow of them in flight. It reports msgs/s, counted from the server's
// side: the run ends when the server has handled every message.
func BenchmarkOneWay(b *testing.B) {
	b.Run(sizeName(oneWaySize), func(b *testing.B) {
		for _, target := range busTargets {
			b.Run(target, func(b *testing.B) { benchmarkOneWay(b, target) })
		}
		b.Run(bench.UnixSocket, func(b *testing.B) { benchmarkRawOneWay(b, oneWaySize) })
	})
}

func benchmarkOneWay(b *testing.B, target string) {
	s := serve(b, target)
	p := payload(oneWaySize)
	cpu := s.cpu(b)
	var sent int64
	handled := &s.server.Notified
	for b.Loop() {
		for sent-handled.Load() >= oneWayWindow {
			select {
			case <-s.server.Progress:
			case <-time.After(time.Minute):
				b.Fatalf("the server handled %d of %d one-way messages and then nothing for a minute", handled.Load(), sent)
			}
		}
		if err := s.client.notify(p); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	s.undelivered(b, sent)
	timeout := time.After(time.Minute)
	for handled.Load() < sent {
		select {
		case <-s.server.Progress:
		case <-timeout:
			b.Fatalf("the server handled %d of %d one-way messages within a minute", handled.Load(), sent)
		}
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	s.reportBusCPU(b, cpu)
}

// payloadSize is the size of the large payload: the largest D-Bus array, which a message
// (at most 128 MiB) can hold inline.
const payloadSize = 64 << 20

// BenchmarkInline times a 64 MiB payload sent inline, as a byte array, whose receiver answers
// with its size and a sample of its bytes. A bus that refuses so large a message skips. godbus
// is left out: it decodes a byte array one element at a time, about 17 s for this payload.
func BenchmarkInline(b *testing.B) {
	b.Run(sizeName(payloadSize), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.NativeRouted, bench.KdbusdClassic, bench.DBusDaemon} {
			b.Run(target, func(b *testing.B) { benchmarkInline(b, target, payloadSize) })
		}
		b.Run(bench.UnixSocket, func(b *testing.B) { benchmarkRawSink(b, payloadSize) })
		b.Run(bench.Memcpy, func(b *testing.B) { benchmarkMemcpy(b, payloadSize) })
	})
}

func benchmarkInline(b *testing.B, target string, size int) {
	s := serve(b, target)
	ctx := context.Background()
	data := payload(size)
	want := bench.Sample(data)
	if _, err := s.client.sink(ctx, data); err != nil {
		b.Skipf("%s does not carry a %s payload inline: %v", target, sizeName(size), err)
	}
	b.SetBytes(int64(size))
	cpu := s.cpu(b)
	for b.Loop() {
		r, err := s.client.sink(ctx, data)
		if err != nil {
			b.Fatal(err)
		}
		if r.GetSize() != uint64(size) || r.GetSample() != want {
			b.Fatalf("the server saw %d bytes (sample %x), want %d (sample %x)", r.GetSize(), r.GetSample(), size, want)
		}
	}
	s.reportBusCPU(b, cpu)
}

// BenchmarkMemfd times the same 64 MiB payload as BenchmarkInline, sent as a sealed memfd: the
// client fills a memfd.Writer once and every call sends its descriptor, which the server maps
// read-only, samples and unmaps. Nothing copies the payload, so the time should not depend on
// its size beyond the cost of mapping it. Classic buses pass the descriptor too.
func BenchmarkMemfd(b *testing.B) {
	b.Run(sizeName(payloadSize), func(b *testing.B) {
		for _, target := range []string{bench.Native, bench.NativeRouted, bench.KdbusdClassic, bench.DBusDaemon} {
			b.Run(target, func(b *testing.B) { benchmarkMemfd(b, target, payloadSize) })
		}
		b.Run(bench.Memcpy, func(b *testing.B) { benchmarkMemcpy(b, payloadSize) })
	})
}

func benchmarkMemfd(b *testing.B, target string, size int) {
	s := serve(b, target)
	w, err := memfd.New("bench-payload", size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	data := w.Bytes()
	copy(data, payload(size))
	want := bench.Sample(data)
	ctx := context.Background()
	b.SetBytes(int64(size))
	cpu := s.cpu(b)
	for b.Loop() {
		r, err := s.stubs.Blob(ctx, &benchv1.BlobRequest{Data: data})
		if err != nil {
			b.Fatal(err)
		}
		if r.GetSize() != uint64(size) || r.GetSample() != want {
			b.Fatalf("the server saw %d bytes (sample %x), want %d (sample %x)", r.GetSize(), r.GetSample(), size, want)
		}
	}
	s.reportBusCPU(b, cpu)
}
