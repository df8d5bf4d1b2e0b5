package hostile

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// TestBusyClients keeps the bus as busy as a few clients can: each pipelines calls to the bus
// driver as fast as the replies come back, as a buggy or hostile client polling in a loop
// would. Nothing here breaks a limit, so no limit can stop it: the bus can only share itself
// fairly, and the well-behaved client must be served without a failure. Its rate is
// reported, not asserted: on a two-core machine the busy clients, the well-behaved one and
// the bus compete for the same processors, and every bus loses most of the well-behaved
// client's rate (kdbusd keeps more of it than dbus-daemon).
func TestBusyClients(t *testing.T) {
	const busy = 2
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			calls := Size(2000, 20000)
			before := Measure(t, b.Address, calls, 5*time.Second)

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range busy {
				c, err := runtime.Dial(ctx, b.Address)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				// Sixteen calls in flight per client, each one sent as soon as one returns.
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for ctx.Err() == nil {
							c.GetNameOwner(ctx, "org.freedesktop.DBus")
						}
					}()
				}
			}
			during := Measure(t, b.Address, calls, 5*time.Second)
			cancel()
			wg.Wait()
			b.MustRun()
			Report(t, "busy clients", kind, Figures{Rate: during,
				Note: fmt.Sprintf("%d clients with 16 driver calls in flight each; alone: %v", busy, before)})
			if during.Failed > 0 {
				t.Errorf("%d of the well-behaved client's calls failed while two clients kept the bus busy", during.Failed)
			}
		})
	}
}
