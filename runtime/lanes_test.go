package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// The bus numbers every message it routes, and none that a lane carries straight from its
// sender: a call's sequence number tells which way it came. Calls between two native peers
// soon take a lane, unless the caller was dialled WithLanes(false) or the bus grants no lanes
// (the routed kind, kdbusd --no-lanes).
func TestWithLanes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kind  string
		lanes bool
	}{
		{"lanes", bustest.KdbusdNative, true},
		{"caller without lanes", bustest.KdbusdNative, false},
		{"bus without lanes", bustest.KdbusdNativeRouted, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bustest.Start(t, tc.kind, dbustest.Config{})
			seqnums := make(chan uint64, 1)
			serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
				seqnums <- CallerFrom(ctx).Seqnum()
				return m, nil
			}})
			obj := NewObject(dial(t, d, WithLanes(tc.lanes)), &testDesc)
			laned := func() bool {
				if _, err := echoMethod.Invoke(ctx5s(t), obj, &echoMsg{}); err != nil {
					t.Fatal(err)
				}
				return <-seqnums == 0
			}
			if !tc.lanes || tc.kind == bustest.KdbusdNativeRouted {
				for i := range 100 {
					if laned() {
						t.Fatalf("call %d came over a lane", i)
					}
				}
				return
			}
			start := time.Now()
			for n := 1; !laned(); n++ {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("none of %d calls in %v came over a lane", n, time.Since(start))
				}
			}
		})
	}
}
