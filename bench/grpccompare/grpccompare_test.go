package grpccompare_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/bench/grpccompare"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// serverEnv makes this test binary a gRPC server on the listener it inherits as fd 3.
const serverEnv = "KDBUS_BENCH_GRPC_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		l, err := net.FileListener(os.NewFile(3, "listener"))
		if err == nil {
			err = serve(l)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "grpc server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serve(l net.Listener) error {
	s := grpc.NewServer()
	s.RegisterService(&grpccompare.ServiceDesc, grpccompare.Echo{})
	return s.Serve(l)
}

// dial connects a client to the server at path.
func dial(tb testing.TB, path string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// startServer starts the server in a child process and connects to it.
func startServer(tb testing.TB) *grpc.ClientConn {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "grpc")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		tb.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	defer l.Close()
	f, err := l.File()
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return dial(tb, path)
}

func TestPing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grpc")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go serve(l)
	t.Cleanup(func() { l.Close() })
	want := []byte("thirty-two bytes of payload, ok!")
	r, err := grpccompare.Ping(context.Background(), dial(t, path), &benchv1.PingRequest{Payload: want})
	if err != nil || !bytes.Equal(r.GetPayload(), want) {
		t.Fatalf("Ping = %q, %v; want %q", r.GetPayload(), err, want)
	}
}

func TestStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grpc")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go serve(l)
	t.Cleanup(func() { l.Close() })
	cc := dial(t, path)
	ctx := context.Background()
	for _, c := range []struct{ frames, size int }{{0, 32}, {3, 0}, {5, 32}, {2, 1 << 20}} {
		stream, err := grpccompare.Stream(ctx, cc, &benchv1.StreamRequest{Frames: uint64(c.frames), Size: uint32(c.size)})
		if err != nil {
			t.Fatalf("Stream(%d × %d B): %v", c.frames, c.size, err)
		}
		want := grpccompare.StreamPayload(c.size)
		for i := range c.frames {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("Stream(%d × %d B): frame %d: %v", c.frames, c.size, i+1, err)
			}
			if !bytes.Equal(r.GetPayload(), want) {
				t.Fatalf("Stream(%d × %d B): frame %d has %d bytes, not the pattern of %d", c.frames, c.size, i+1, len(r.GetPayload()), c.size)
			}
		}
		if r, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("Stream(%d × %d B): after the last frame Recv = %v, %v; want io.EOF", c.frames, c.size, r, err)
		}
	}
	stream, err := grpccompare.Stream(ctx, cc, &benchv1.StreamRequest{Frames: 1, Size: grpccompare.MaxStreamFrame + 1})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Stream of a frame over the limit: %v; want the server's error", err)
	}
}

// BenchmarkPing is bench.BenchmarkPing's grpc-go target: a unary call of the same payload
// sizes, from this process to a server in a child process over a unix socket. Bytes per op
// count the payload twice, as there.
func BenchmarkPing(b *testing.B) {
	for _, size := range []int{32, 4 << 10, 64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			b.Run("grpc-go", func(b *testing.B) {
				cc := startServer(b)
				ctx := context.Background()
				req := &benchv1.PingRequest{Payload: bytes.Repeat([]byte{0xa5}, size)}
				b.SetBytes(2 * int64(size))
				var got []byte
				for b.Loop() {
					r, err := grpccompare.Ping(ctx, cc, req)
					if err != nil {
						b.Fatal(err)
					}
					got = r.GetPayload()
				}
				if !bytes.Equal(got, req.GetPayload()) {
					b.Fatalf("echo returned %d bytes, want %d", len(got), size)
				}
			})
		})
	}
}

// BenchmarkStream32B is bench.BenchmarkStream32B's grpc-go target: server-stream throughput
// of 32-byte frames.
func BenchmarkStream32B(b *testing.B) {
	b.Run("grpc-go", func(b *testing.B) { benchmarkStream(b, 32) })
}

// BenchmarkStream64KiB is bench.BenchmarkStream64KiB's grpc-go target: server-stream
// throughput of 64 KiB frames.
func BenchmarkStream64KiB(b *testing.B) {
	b.Run("grpc-go", func(b *testing.B) { benchmarkStream(b, 64<<10) })
}

// streamWarmup is how many bytes of frames a stream benchmark receives on its connection
// before the timed stream (at most streamWarmupFrames frames), so that grpc-go's flow-control
// windows have grown to what the bandwidth asks for.
const (
	streamWarmup       = 4 << 20
	streamWarmupFrames = 4096
)

// benchmarkStream times one stream of b.N frames of size bytes from a server in a child
// process, received with Recv: one op is one frame. It reports frames/s and bytes/s (payload
// bytes), and MB/s through b.SetBytes.
func benchmarkStream(b *testing.B, size int) {
	cc := startServer(b)
	ctx := context.Background()
	want := grpccompare.StreamPayload(size)
	receive := func(frames int) {
		stream, err := grpccompare.Stream(ctx, cc, &benchv1.StreamRequest{Frames: uint64(frames), Size: uint32(size)})
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
		if frames > 0 && !bytes.Equal(last, want) {
			b.Fatalf("the last frame is not the payload sent")
		}
	}
	receive(min(streamWarmupFrames, max(1, streamWarmup/size)))
	b.SetBytes(int64(size))
	b.ResetTimer()
	receive(b.N)
	b.StopTimer()
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "frames/s")
	b.ReportMetric(float64(b.N)*float64(size)/s, "bytes/s")
}

// sizeName names a payload size as package bench does: 32B, 4KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
