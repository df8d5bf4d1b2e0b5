package runtime

import (
	"io"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

func BenchmarkServerStream32B(b *testing.B)   { benchServerStream(b, 32) }
func BenchmarkServerStream64KiB(b *testing.B) { benchServerStream(b, 64<<10) }

// benchServerStream streams b.N frames of size bytes from a server to a client on each kind of
// bus, and reports frames per second.
func benchServerStream(b *testing.B, size int) {
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			d := bustest.Start(b, kind, dbustest.Config{})
			payload := make([]byte, size)
			serveStreams(b, d, &streamImpl{watch: func(req *echoMsg, st ServerStreamingServer[frameMsg]) error {
				f := &frameMsg{Data: payload}
				for i := range uint32(req.N) {
					f.Seq = i
					if err := st.Send(f); err != nil {
						return err
					}
				}
				return nil
			}})
			cli := dialB(b, d)
			obj := NewObject(cli, &streamDesc_)
			ctx := ctxFor(b, 10*time.Minute)
			b.SetBytes(int64(size))
			b.ResetTimer()
			st, err := watchMethod.OpenServerStream(ctx, obj, &echoMsg{N: int32(b.N)})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				if _, err := st.Recv(); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := st.Recv(); err != io.EOF {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			b.ReportMetric(float64(cli.Stats().Received)/float64(b.N), "msgs/frame")
		})
	}
}

func dialB(b *testing.B, d *bustest.Bus) *Conn {
	ctx := ctxFor(b, 10*time.Second)
	c, err := Dial(ctx, d.Address)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}
