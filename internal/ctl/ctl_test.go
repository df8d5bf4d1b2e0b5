package ctl_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/examples/vibrator"
	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/ctl"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// serveExamples serves the greeter, the vehicle and the vibrator on one connection to bus.
func serveExamples(t *testing.T, bus *bustest.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := greeterv1.RegisterGreeterServer(conn, greeter.Server{}); err != nil {
		t.Fatal(err)
	}
	if _, err := vehicle.Serve(conn); err != nil {
		t.Fatal(err)
	}
	if err := vib.RegisterIVibratorServer(conn, vibrator.NewMotor(conn, nil)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{greeterv1.Greeter_BusName, vehiclev1.Vehicle_BusName, vibrator.BusName} {
		if r, err := conn.RequestName(ctx, name, 0); err != nil || r != runtime.NamePrimaryOwner {
			t.Fatalf("RequestName %s: %v, %v", name, r, err)
		}
	}
}

// kdbusctl runs the command against bus and returns its output and exit status.
func kdbusctl(t *testing.T, bus *bustest.Bus, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	status = ctl.Run(append([]string{"-address", bus.Address, "-timeout", "10s"}, args...), &out, &errb)
	return out.String(), errb.String(), status
}

// ok runs the command, expects success and returns its standard output.
func ok(t *testing.T, bus *bustest.Bus, args ...string) string {
	t.Helper()
	out, errs, status := kdbusctl(t, bus, args...)
	if status != 0 {
		t.Fatalf("kdbusctl %s: status %d\n%s%s", strings.Join(args, " "), status, out, errs)
	}
	return out
}

// jsonEqual checks that got is one line of JSON equal to want.
func jsonEqual(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("%s = %s, want %s", what, gb, wb)
	}
}

func TestExamples(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		serveExamples(t, bus)

		list := ok(t, bus, "list")
		for _, want := range []string{greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath, greeterv1.Greeter_Interface, vehiclev1.Vehicle_Interface, vib.IVibrator_Interface} {
			if !strings.Contains(list, want) {
				t.Errorf("kdbusctl list does not show %s:\n%s", want, list)
			}
		}

		desc := ok(t, bus, "describe", greeterv1.Greeter_BusName)
		for _, want := range []string{"service Greeter", "rpc Describe ( DescribeRequest ) returns ( DescribeReply )", "message Person", "is proto service example.greeter.v1.Greeter"} {
			if !strings.Contains(desc, want) {
				t.Errorf("kdbusctl describe does not show %q:\n%s", want, desc)
			}
		}

		jsonEqual(t, "SayHello", ok(t, bus, "call", greeterv1.Greeter_BusName, "SayHello", `{"name": "Ada"}`), `{"message": "Hello, Ada!"}`)
		jsonEqual(t, "Add", ok(t, bus, "call", greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath, "example.greeter.v1.Greeter.Add", `{"a": "40", "b": 2}`), `{"sum": "42"}`)
		jsonEqual(t, "Describe",
			ok(t, bus, "call", greeterv1.Greeter_BusName, "Describe", `{"person": {"name": "Ada", "age": 36, "tags": ["math"]}, "scores": {"b": 2, "a": 1}, "mood": "MOOD_HAPPY"}`),
			`{"summary": "Ada (36) [math] is happy; scores: a=1 b=2", "people": [{"name": "Ada", "age": 36, "tags": ["math"]}]}`)

		_, errs, status := kdbusctl(t, bus, "call", greeterv1.Greeter_BusName, "SayHello", `{}`)
		if status != 1 || !strings.Contains(errs, greeterv1.Greeter_Error_NoName) || !strings.Contains(errs, "InvalidArgument") || !strings.Contains(errs, "tell me your name") {
			t.Errorf("a failing call: status %d, %q; want 1 with the code, name and message", status, errs)
		}
		_, errs, status = kdbusctl(t, bus, "call", "org.example.Nobody", "Ping", `{}`)
		if status != 1 || !strings.Contains(errs, "no service org.example.Nobody on the bus; kdbusctl list shows the names") {
			t.Errorf("a call to no service: status %d, %q", status, errs)
		}
		_, errs, status = kdbusctl(t, bus, "call", greeterv1.Greeter_BusName, "SayHello", `{"nom": "x"}`)
		if status != 1 || !strings.Contains(errs, "example.greeter.v1.HelloRequest") {
			t.Errorf("a call with a bad request: status %d, %q", status, errs)
		}

		// An interface without descriptors: JSON arrays of D-Bus values.
		owner := ok(t, bus, "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.GetNameOwner", `["`+greeterv1.Greeter_BusName+`"]`)
		var names []string
		if err := json.Unmarshal([]byte(owner), &names); err != nil || len(names) != 1 || !strings.HasPrefix(names[0], ":") {
			t.Errorf("GetNameOwner printed %q (%v), want an array of one unique name", owner, err)
		}

		// The vibrator's generated code came from AIDL through aidl2proto.
		jsonEqual(t, "GetCapabilities", ok(t, bus, "call", vibrator.BusName, "GetCapabilities"), `{"result": `+itoa(int(vib.IVibrator_CAP_ALL))+`}`)
		ok(t, bus, "call", vibrator.BusName, "SetAmplitude", `{"amplitude": 0.5}`)
		if _, errs, status = kdbusctl(t, bus, "call", vibrator.BusName, "SetAmplitude", `{"amplitude": 2}`); status != 1 || !strings.Contains(errs, "out of range") {
			t.Errorf("SetAmplitude(2): status %d, %q", status, errs)
		}

		// Properties, by proto JSON.
		jsonEqual(t, "SpeedKmh", ok(t, bus, "get", vehiclev1.Vehicle_BusName, "SpeedKmh"), `0`)
		ok(t, bus, "set", vehiclev1.Vehicle_BusName, "Gear", `"GEAR_DRIVE"`)
		jsonEqual(t, "Gear", ok(t, bus, "get", vehiclev1.Vehicle_BusName, "Gear"), `"GEAR_DRIVE"`)
		if _, errs, status = kdbusctl(t, bus, "set", vehiclev1.Vehicle_BusName, "SpeedKmh", `3`); status != 1 || !strings.Contains(errs, "error") {
			t.Errorf("setting a read-only property: status %d, %q", status, errs)
		}

		// Signals, as proto JSON lines.
		watched := make(chan string, 1)
		ready := newLineWaiter("watching signals")
		go func() {
			var out bytes.Buffer
			ctl.Run([]string{"-address", bus.Address, "watch", "-member", "DoorChanged", "-n", "1", vehiclev1.Vehicle_BusName}, &out, ready)
			watched <- out.String()
		}()
		ready.wait(t)
		ok(t, bus, "call", vehiclev1.Vehicle_BusName, "SetDoor", `{"door": "`+vehicle.Doors[0]+`", "open": true}`)
		var sig map[string]any
		if err := json.Unmarshal([]byte(<-watched), &sig); err != nil {
			t.Fatal(err)
		}
		args, _ := json.Marshal(sig["args"])
		if sig["member"] != "DoorChanged" || sig["type"] != "example.vehicle.v1.DoorChanged" || string(args) != `{"door":"`+vehicle.Doors[0]+`","open":true}` {
			t.Errorf("watched signal %v", sig)
		}

		// Monitoring: the call and its reply, decoded by the served descriptors.
		ctx, cancel := context.WithCancel(context.Background())
		lines := newLineWaiter("monitoring the bus")
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			ctl.RunContext(ctx, []string{"-address", bus.Address, "monitor"}, pw, lines)
			pw.Close()
		}()
		lines.wait(t)
		ok(t, bus, "call", greeterv1.Greeter_BusName, "SayHello", `{"name": "Bob"}`)
		sc := bufio.NewScanner(pr)
		var call, reply map[string]any
		for reply == nil && sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("monitor line %q: %v", sc.Text(), err)
			}
			switch {
			case m["member"] == "SayHello":
				call = m
			case call != nil && m["type"] == "method_return" && m["reply_serial"] == call["serial"]:
				reply = m
			}
		}
		cancel()
		go io.Copy(io.Discard, pr)
		<-done
		if call == nil || reply == nil {
			t.Fatalf("the monitor did not show the call and its reply")
		}
		ca, _ := json.Marshal(call["args"])
		ra, _ := json.Marshal(reply["args"])
		if string(ca) != `{"name":"Bob"}` || string(ra) != `{"message":"Hello, Bob!"}` || call["proto"] != "example.greeter.v1.HelloRequest" {
			t.Errorf("monitored call %v, reply %v", call, reply)
		}
		if bus.Native {
			if _, ok := call["seqnum"]; !ok {
				t.Errorf("on a native bus the monitor shows no sequence number: %v", call)
			}
			if _, ok := call["creds"]; !ok {
				t.Errorf("on a native bus the monitor shows no credentials: %v", call)
			}
		}
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// lineWaiter is a writer that signals when a line containing want is written.
type lineWaiter struct {
	want string
	mu   sync.Mutex
	buf  strings.Builder
	seen chan struct{}
	once sync.Once
}

func newLineWaiter(want string) *lineWaiter {
	return &lineWaiter{want: want, seen: make(chan struct{})}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *lineWaiter) wait(t *testing.T) {
	t.Helper()
	select {
	case <-w.seen:
	case <-time.After(20 * time.Second):
		w.mu.Lock()
		defer w.mu.Unlock()
		t.Fatalf("kdbusctl never wrote %q; it wrote:\n%s", w.want, w.buf.String())
	}
}

// TestCommand builds kdbusctl and runs it as a process against kdbusd and dbus-daemon.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kdbusctl")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kdbus-go/kdbus/cmd/kdbusctl").CombinedOutput(); err != nil {
		t.Fatalf("building kdbusctl: %v\n%s", err, out)
	}
	for _, kind := range []string{bustest.DBusDaemon, bustest.KdbusdNative} {
		t.Run(kind, func(t *testing.T) {
			bus := bustest.Start(t, kind, dbustest.Config{})
			serveExamples(t, bus)
			out, err := exec.Command(bin, "call", "-address", bus.Address, greeterv1.Greeter_BusName, "SayHello", `{"name":"Eve"}`).Output()
			if err != nil {
				t.Fatalf("kdbusctl call: %v", err)
			}
			jsonEqual(t, "SayHello", strings.TrimSpace(string(out)), `{"message":"Hello, Eve!"}`)
			cmd := exec.Command(bin, "-address", bus.Address, "call", greeterv1.Greeter_BusName, "SayHello", `{}`)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err = cmd.Run()
			if ee, isExit := err.(*exec.ExitError); !isExit || ee.ExitCode() != 1 || !strings.Contains(errb.String(), greeterv1.Greeter_Error_NoName) ||
				!strings.Contains(errb.String(), "error InvalidArgument") {
				// The code comes from the service's descriptors: the process has no generated
				// code that would have registered it.
				t.Fatalf("a failing call: %v, %q; want exit status 1, the error name and its declared code", err, errb.String())
			}
			help, err := exec.Command(bin, "help").Output()
			if err != nil || !strings.Contains(string(help), "monitor") {
				t.Fatalf("kdbusctl help: %v\n%s", err, help)
			}
		})
	}
}
