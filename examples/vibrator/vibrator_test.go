package vibrator_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/vibrator"
	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/types/known/emptypb"
)

// childEnv names the bus address a re-executed test binary connects to as the app whose
// process dies while it owns a vibration.
const childEnv = "KDBUS_VIBRATOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(child(addr))
	}
	os.Exit(m.Run())
}

// child starts a long vibration with a callback it serves, says so, and waits to be killed.
func child(addr string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, addr)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	ref, err := vib.ExportIVibratorCallbackServer(conn, vibrator.NewCallback(1))
	if err != nil {
		fmt.Println("export:", err)
		return 1
	}
	motor := vib.NewIVibratorClient(conn, runtime.WithDestination(vibrator.BusName))
	if _, err := motor.On(ctx, &vib.IVibratorOnRequest{TimeoutMs: vib.IVibrator_MAX_ON_MS, Callback: ref}); err != nil {
		fmt.Println("on:", err)
		return 1
	}
	fmt.Println("vibrating")
	<-ctx.Done()
	return 0
}

// serve runs a motor on bus and returns it and the log it writes.
func serve(t *testing.T, bus *bustest.Bus) (*vibrator.Motor, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	logs := &syncBuffer{}
	motor := vibrator.NewMotor(conn, newLogger(logs))
	if err := vib.RegisterIVibratorServer(conn, motor); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.RequestName(ctx, vibrator.BusName, runtime.NameDoNotQueue); err != nil {
		t.Fatal(err)
	}
	return motor, logs
}

// TestDemo runs the client's whole session against the motor: waiting for the service,
// constants, callbacks, the AIDL defaults, ordered oneway pulses, and the caller's identity in
// the server's log.
func TestDemo(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cli, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		// The client starts first and waits for the service, as an app waits for a HAL.
		var out strings.Builder
		done := make(chan error, 1)
		go func() {
			done <- vibrator.Demo(ctx, cli, 10*time.Second, func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) })
		}()
		time.Sleep(20 * time.Millisecond)
		_, logs := serve(t, bus)
		if err := <-done; err != nil {
			t.Fatalf("demo: %v\n%s", err, out.String())
		}
		text := out.String()
		for _, want := range []string{
			"capabilities: 0xf (on-callback true, amplitude true)",
			"supported effects: [EFFECT_CLICK EFFECT_DOUBLE_CLICK EFFECT_TICK EFFECT_THUD EFFECT_POP EFFECT_HEAVY_CLICK]",
			"perform(THUD, STRONG): 120 ms, onComplete",
			"compose(COMPOSITE_PRIMITIVE_CLICK x2): onComplete",
			"pulses sent [5 1 4 2 3], played [5 1 4 2 3]",
			"on(60 s) refused: ",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("the demo did not print %q:\n%s", want, text)
			}
		}
		who := fmt.Sprintf("asked by %s (uid %d, pid %d)", cli.UniqueName(), os.Getuid(), os.Getpid())
		if !strings.Contains(logs.String(), "on for 200 ms at amplitude 0.50, "+who) {
			t.Errorf("the server did not log the caller's identity %q:\n%s", who, logs.String())
		}
	})
}

// TestOwnerDeathStopsVibration kills the process that owns a vibration: the motor, linked to
// the death of the callback's process, stops.
func TestOwnerDeathStopsVibration(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		motor, logs := serve(t, bus)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+bus.Address)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		line := make([]byte, len("vibrating\n"))
		if _, err := io.ReadFull(out, line); err != nil || string(line) != "vibrating\n" {
			t.Fatalf("child said %q, %v", line, err)
		}
		if on, _ := motor.Vibrating(); !on {
			t.Fatal("the motor is not vibrating after the child's On")
		}
		if !strings.Contains(logs.String(), fmt.Sprintf("pid %d)", cmd.Process.Pid)) {
			t.Errorf("the server did not log the child's pid %d:\n%s", cmd.Process.Pid, logs.String())
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The server stops the motor and then logs it: wait for the log line, the later of
		// the two effects, and then check the motor.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), "died: stopped") {
			if time.Now().After(deadline) {
				on, _ := motor.Vibrating()
				t.Fatalf("the server did not log the owner's death within 10 s (motor vibrating: %v):\n%s", on, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		if on, _ := motor.Vibrating(); on {
			t.Errorf("the server logged the owner's death but the motor still vibrates:\n%s", logs.String())
		}
	})
}

// TestBusctl calls the converted interface by hand: busctl sees the AIDL methods with typed
// arguments, and calls them.
func TestBusctl(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		motor, _ := serve(t, bus)
		busctl := dbustest.RequireTool(t, "busctl")
		addr := "--address=" + bus.ClassicAddress
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(busctl, append([]string{addr}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("busctl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		table := run("introspect", vibrator.BusName, vib.IVibrator_ObjectPath, vib.IVibrator_Interface)
		for _, want := range []string{".On", "ia(so)", ".Pulse", ".GetCapabilities"} {
			if !strings.Contains(table, want) {
				t.Errorf("busctl introspect lacks %q:\n%s", want, table)
			}
		}
		if got := strings.TrimSpace(run("call", vibrator.BusName, vib.IVibrator_ObjectPath, vib.IVibrator_Interface, "GetCapabilities")); got != "i 15" {
			t.Errorf("GetCapabilities: %q, want i 15", got)
		}
		run("call", vibrator.BusName, vib.IVibrator_ObjectPath, vib.IVibrator_Interface, "On", "ia(so)", "5000", "0")
		if on, _ := motor.Vibrating(); !on {
			t.Error("On from busctl did not start a vibration")
		}
		run("call", vibrator.BusName, vib.IVibrator_ObjectPath, vib.IVibrator_Interface, "Off")
		if on, _ := motor.Vibrating(); on {
			t.Error("Off from busctl did not stop the vibration")
		}
	})
}

// TestErrors checks the motor's refusals arrive as typed errors.
func TestErrors(t *testing.T) {
	bus := bustest.Start(t, bustest.Embedded, dbustest.Config{})
	serve(t, bus)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	motor := vib.NewIVibratorClient(cli, runtime.WithDestination(vibrator.BusName))
	if _, err := motor.SetAmplitude(ctx, &vib.IVibratorSetAmplitudeRequest{Amplitude: 2}); runtime.CodeOf(err) != runtime.InvalidArgument {
		t.Errorf("amplitude 2: %v, want InvalidArgument", err)
	}
	if _, err := motor.Perform(ctx, &vib.IVibratorPerformRequest{Effect: vib.Effect_EFFECT_CLICK}); runtime.CodeOf(err) != runtime.InvalidArgument {
		t.Errorf("perform without a strength: %v, want InvalidArgument", err)
	}
	if _, err := motor.Compose(ctx, &vib.IVibratorComposeRequest{}); runtime.CodeOf(err) != runtime.InvalidArgument {
		t.Errorf("empty composition: %v, want InvalidArgument", err)
	}
	if _, err := motor.Off(ctx, &emptypb.Empty{}); err != nil {
		t.Errorf("off: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(b *syncBuffer) *log.Logger { return log.New(b, "", 0) }
