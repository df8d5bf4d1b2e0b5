package hostile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// victimEnv makes the test binary a service that never answers (see runVictim): its value is
// the bus address.
const victimEnv = "KDBUS_HOSTILE_VICTIM"

const victimName = "org.kdbusgo.Hostile.Victim"

// stuckServer takes every Ping and never answers it, after saying so on standard output.
type stuckServer struct{ bench.Server }

func (*stuckServer) Ping(context.Context, *benchv1.PingRequest) (*benchv1.PingReply, error) {
	fmt.Println("called")
	select {} // a handler that never returns: only the process's death ends the call
}

// runVictim serves stuckServer on the bus at addr until the process is killed.
func runVictim(addr string) {
	ctx := context.Background()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := benchv1.RegisterBenchServer(c, &stuckServer{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if r, err := c.RequestName(ctx, victimName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		fmt.Fprintln(os.Stderr, "RequestName:", r, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

// TestPeerDeathMidCall kills a service while it holds a call: the caller hears at once, from
// the bus, that the call will get no reply, instead of waiting for its deadline.
func TestPeerDeathMidCall(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := Start(t, kind, dbustest.Config{})
			child := exec.Command(os.Args[0], "-test.run=^$")
			child.Env = append(os.Environ(), victimEnv+"="+bus.Address)
			child.Stderr = os.Stderr
			out, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			defer child.Process.Kill()
			lines := bufio.NewScanner(out)
			expect := func(want string) {
				t.Helper()
				if !lines.Scan() || lines.Text() != want {
					t.Fatalf("the service said %q (%v), expected %q", lines.Text(), lines.Err(), want)
				}
			}
			expect("ready")

			c, err := runtime.Dial(context.Background(), bus.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			stub := benchv1.NewBenchClient(c, runtime.WithDestination(victimName))
			// The deadline only bounds a hang; the bus must answer long before it.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := stub.Ping(ctx, &benchv1.PingRequest{})
				done <- err
			}()
			expect("called")
			killed := time.Now()
			child.Process.Kill()
			child.Wait()
			err = <-done
			took := time.Since(killed)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || runtime.CodeOf(err) != runtime.Unavailable {
				t.Fatalf("the call to a service that died: %v (code %v), want the bus's NoReply (Unavailable)", err, runtime.CodeOf(err))
			}
			Report(t, "peer death mid-call", kind, Figures{Recover: took, Note: "caller told: " + firstLine(err.Error())})
		})
	}
}

// TestBusDeathMidCall kills the bus while a call is in flight: the call fails at once with
// ErrDisconnected, saying the bus went away rather than blaming the message.
func TestBusDeathMidCall(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := Start(t, kind, dbustest.Config{})
			srv, err := runtime.Dial(context.Background(), bus.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			called := make(chan struct{}, 1)
			if err := benchv1.RegisterBenchServer(srv, &signalingStuck{called: called}); err != nil {
				t.Fatal(err)
			}
			if r, err := srv.RequestName(context.Background(), victimName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
				t.Fatalf("RequestName: %v %v", r, err)
			}
			c, err := runtime.Dial(context.Background(), bus.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := benchv1.NewBenchClient(c, runtime.WithDestination(victimName)).Ping(ctx, &benchv1.PingRequest{Payload: make([]byte, 512)})
				done <- err
			}()
			<-called
			killed := time.Now()
			bus.Kill()
			err = <-done
			took := time.Since(killed)
			if !errors.Is(err, runtime.ErrDisconnected) {
				t.Fatalf("a call in flight when the bus died: %v, want ErrDisconnected", err)
			}
			if strings.Contains(err.Error(), "max_message_size") {
				t.Errorf("the bus's death is blamed on the message size: %v", err)
			}
			select {
			case <-c.Done():
			case <-time.After(time.Minute):
				t.Fatal("the connection did not report its end after the bus died")
			}
			Report(t, "bus death mid-call", kind, Figures{Recover: took, Note: "caller told: " + firstLine(err.Error())})
		})
	}
}

// signalingStuck never answers Ping and says when one arrived.
type signalingStuck struct {
	bench.Server
	called chan struct{}
}

func (s *signalingStuck) Ping(ctx context.Context, _ *benchv1.PingRequest) (*benchv1.PingReply, error) {
	s.called <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
