package bench_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// streamTargets are the targets of the server-stream benchmarks: the native transport with
// and without lanes, and dbus-daemon, all with the generated stubs. grpc-go's column comes
// from bench/grpccompare's benchmarks of the same names.
var streamTargets = []string{bench.Native, bench.NativeRouted, bench.DBusDaemon}

// BenchmarkStream32B times server-stream throughput of 32-byte frames: one op is one frame
// received with the generated client's Recv. It reports frames/s, bytes/s (payload bytes) and,
// through b.SetBytes, MB/s, as bench/grpccompare does.
func BenchmarkStream32B(b *testing.B) {
	for _, target := range streamTargets {
		b.Run(target, func(b *testing.B) { benchmarkStream(b, target, 32) })
	}
}

// BenchmarkStream64KiB is BenchmarkStream32B with 64 KiB frames.
func BenchmarkStream64KiB(b *testing.B) {
	for _, target := range streamTargets {
		b.Run(target, func(b *testing.B) { benchmarkStream(b, target, 64<<10) })
	}
}

// streamServer is bench.Server with the Stream method: it sends the frames it is asked for,
// each a PingReply with a payload of the size asked for.
type streamServer struct{ *bench.Server }

// Stream sends req.Frames frames of req.Size bytes, the same message each time.
func (streamServer) Stream(req *benchv1.StreamRequest, stream runtime.ServerStreamingServer[benchv1.PingReply]) error {
	frame := &benchv1.PingReply{Payload: payload(int(req.GetSize()))}
	for range req.GetFrames() {
		if err := stream.Send(frame); err != nil {
			return err
		}
	}
	return nil
}

// Warm-up before the timed stream, as bench/grpccompare does: a stream of streamWarmup bytes
// of frames, at most streamWarmupFrames of them, on the same connections.
const (
	streamWarmup       = 4 << 20
	streamWarmupFrames = 4096
)

// benchmarkStream times one stream of b.N frames of size bytes from the server, received with
// Recv, after a warm-up stream on the same connections (which also sets up the lane on
// native). The bus's CPU time per frame is reported as bus-cpu-µs/op.
func benchmarkStream(b *testing.B, target string, size int) {
	s := serveWith(b, target, func(srv *bench.Server) benchv1.BenchServer { return streamServer{srv} })
	ctx := context.Background()
	want := payload(size)
	receive := func(frames int) {
		stream, err := s.stubs.Stream(ctx, &benchv1.StreamRequest{Frames: uint64(frames), Size: uint32(size)})
		if err != nil {
			b.Fatal(err)
		}
		var last []byte
		for i := range frames {
			r, err := stream.Recv()
			if err != nil {
				b.Fatalf("frame %d of %d: %v", i+1, frames, err)
			}
			if len(r.GetPayload()) != size {
				b.Fatalf("frame %d of %d has %d bytes, want %d", i+1, frames, len(r.GetPayload()), size)
			}
			last = r.GetPayload()
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			b.Fatalf("after %d frames: Recv = %v, want io.EOF", frames, err)
		}
		if frames > 0 {
			checkEcho(b, last, want)
		}
	}
	receive(min(streamWarmupFrames, max(1, streamWarmup/size)))
	b.SetBytes(int64(size))
	cpu := s.cpu(b)
	b.ResetTimer()
	receive(b.N)
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "frames/s")
	b.ReportMetric(float64(b.N)*float64(size)/sec, "bytes/s")
	s.reportBusCPU(b, cpu)
}
