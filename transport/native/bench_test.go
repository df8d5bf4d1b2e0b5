package native

import (
	"fmt"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// BenchmarkSendPath measures one message from a client's Send to the receiver's Recv and
// Release, through the bus side's copy into the receiver's pool (a relay goroutine stands in
// for the broker), for messages sent inline in the control packet and through the send area.
// It answers where the inline threshold belongs.
func BenchmarkSendPath(b *testing.B) {
	for _, size := range []int{64, 512, 2048, 8192, 65536} {
		for _, mode := range []struct {
			name   string
			inline int
		}{{"inline", 1 << 20}, {"area", -1}} {
			if mode.inline > 0 && size > 32<<10 {
				continue // an inline packet is bounded by the socket's buffer
			}
			b.Run(fmt.Sprintf("%s/%d", mode.name, size), func(b *testing.B) {
				sender, sbus := pair(b, Options{InlineMax: mode.inline})
				receiver, rbus := pair(b, Options{})
				go func() {
					for {
						if _, err := sender.Recv(); err != nil {
							return
						}
					}
				}()
				go func() {
					for relay(b, sbus, rbus) == nil {
					}
				}()
				go func() {
					// The receiver's bus side takes its releases.
					for {
						if _, err := rbus.Recv(); err != nil {
							return
						}
					}
				}()
				body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, size))
				m := &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/t", Interface: "org.kdbusgo.T", Member: "S", Signature: "ay", Body: body}
				b.SetBytes(int64(size))
				b.ResetTimer()
				for range b.N {
					m.Serial = 0
					if err := sender.Send(m, nil); err != nil {
						b.Fatal(err)
					}
					r, err := receiver.Recv()
					if err != nil {
						b.Fatal(err)
					}
					receiver.Release(&r)
				}
			})
		}
	}
}
