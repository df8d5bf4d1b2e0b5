package hostile

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// busyEnv makes the test binary a set of busy clients (see runBusy): its value is the bus
// address.
const busyEnv = "KDBUS_HOSTILE_BUSY"

// Busy clients: how many, and how many calls each keeps in flight.
const (
	busyClients  = 2
	busyInFlight = 16
)

// runBusy connects busyClients clients to addr, each keeping busyInFlight calls to the bus
// driver in flight, sending the next as soon as one returns, until the process is killed.
func runBusy(addr string) {
	ctx := context.Background()
	for range busyClients {
		c, err := runtime.Dial(ctx, addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for range busyInFlight {
			go func() {
				for {
					c.GetNameOwner(ctx, "org.freedesktop.DBus")
				}
			}()
		}
	}
	fmt.Println("busy")
	select {}
}

// TestBusyClients keeps the bus as busy as a few clients can, from a process of their own:
// each pipelines calls to the bus driver as fast as the replies come back, as a buggy or
// hostile client polling in a loop would. Nothing here breaks a limit, so no limit can stop
// it: the bus can only share itself fairly between connections, and a well-behaved client
// must be served without a failure. Its rate is reported, not asserted: on a two-core
// machine the busy process, the well-behaved one and the bus compete for the same
// processors, so what it keeps depends on the machine as much as on the bus.
func TestBusyClients(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			calls := Size(2000, 20000)
			before := Measure(t, b.Address, calls, 5*time.Second)

			busy := exec.Command(os.Args[0], "-test.run=^$")
			busy.Env = append(os.Environ(), busyEnv+"="+b.Address)
			busy.Stderr = os.Stderr
			out, err := busy.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := busy.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				busy.Process.Kill()
				busy.Wait()
			}()
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "busy\n" {
				t.Fatalf("the busy clients said %q (%v)", line, err)
			}
			during := Measure(t, b.Address, calls, 5*time.Second)
			b.MustRun()
			Report(t, "busy clients", kind, Figures{Rate: during,
				Note: fmt.Sprintf("%d clients in another process with %d driver calls in flight each; alone: %v", busyClients, busyInFlight, before)})
			if during.Failed > 0 {
				t.Errorf("%d of the well-behaved client's calls failed while other clients kept the bus busy", during.Failed)
			}
		})
	}
}
