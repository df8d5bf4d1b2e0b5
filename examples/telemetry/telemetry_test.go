package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/telemetry"
	"github.com/kdbus-go/kdbus/examples/telemetry/telemetryv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// serve serves the telemetry service on a new bus of the given kind and returns its address.
func serve(t *testing.T, kind string) string {
	t.Helper()
	d := bustest.Start(t, kind, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := runtime.Dial(ctx, d.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := telemetryv1.RegisterTelemetryServer(srv, telemetry.Server{}); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.RequestName(ctx, telemetryv1.Telemetry_BusName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return d.Address
}

// wantDemo is what Demo reports, the service's owner aside.
func wantDemo() []string {
	var want []string
	for seq := uint64(0); seq < 5; seq++ {
		want = append(want, fmt.Sprintf("reading cabin-temp #%d: %.2f", seq, telemetry.Sample("cabin-temp", seq)))
	}
	lo, hi, total := math.Inf(1), math.Inf(-1), 0.0
	for seq := uint64(0); seq < 1000; seq++ {
		v := telemetry.Sample("wheel-speed", seq)
		lo, hi, total = min(lo, v), max(hi, v), total+v
	}
	want = append(want, fmt.Sprintf("uploaded 1000 readings: min %.2f, max %.2f, mean %.2f", lo, hi, total/1000))
	for seq := 0; seq < 3; seq++ {
		want = append(want, fmt.Sprintf("echoed battery #%d (echoed=true)", seq))
	}
	return append(want, "done")
}

func TestDemoOnEveryBus(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := serve(t, kind)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := runtime.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var got []string
			if err := telemetry.Demo(ctx, conn, 10*time.Second, func(format string, args ...any) {
				got = append(got, fmt.Sprintf(format, args...))
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || !strings.HasPrefix(got[0], telemetryv1.Telemetry_BusName+" is served by :") {
				t.Fatalf("first line %q, want the service's owner", got)
			}
			if want := wantDemo(); strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
				t.Errorf("demo said\n%s\nwant\n%s", strings.Join(got[1:], "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestReadingsStopWhenTheCallerLeaves checks that an endless server stream ends on the server
// as soon as its caller cancels: the handler's context is cancelled.
func TestReadingsStopWhenTheCallerLeaves(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := serve(t, kind)
			conn, err := runtime.Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			client := telemetryv1.NewTelemetryClient(conn)
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := client.Readings(ctx, &telemetryv1.ReadingsRequest{Sensor: "endless", IntervalMs: 1})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := stream.Recv(); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			for {
				if _, err := stream.Recv(); err != nil {
					if runtime.CodeOf(err) != runtime.Canceled {
						t.Fatalf("after cancel, Recv says %v, want Canceled", err)
					}
					break
				}
			}
		})
	}
}

// TestCommands runs the server with a bus inside its own process, and the client against the
// address it prints, as the README shows them; busctl sees the stream-opening methods.
func TestCommands(t *testing.T) {
	busctl := dbustest.RequireTool(t, "busctl")
	dir := t.TempDir()
	for _, cmd := range []string{"server", "client"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "./"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", cmd, err, out)
		}
	}
	server := exec.Command(filepath.Join(dir, "server"), "-embedded")
	stdout, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	addrLine := regexp.MustCompile(`export BUS='([^']+)'`)
	var addr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := addrLine.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatal("the server printed no bus address")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	out, err := exec.Command(filepath.Join(dir, "client"), "-address="+addr).CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if want := wantDemo(); len(lines) < 1 || strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("client printed\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}

	classic := addr
	if i := strings.Index(addr, "unix:"); i >= 0 {
		classic = addr[i:]
	}
	intro, err := exec.Command(busctl, "--address="+classic, "introspect", telemetryv1.Telemetry_BusName, string(telemetryv1.Telemetry_ObjectPath)).CombinedOutput()
	if err != nil {
		t.Fatalf("busctl introspect: %v\n%s", err, intro)
	}
	for _, m := range []string{"Readings", "Upload", "Echo"} {
		if !regexp.MustCompile(`(?m)^\.` + m + `\s+method`).Match(intro) {
			t.Errorf("busctl introspect shows no method %s:\n%s", m, intro)
		}
	}
	// busctl can call the opening method, but it cannot take part in a stream: the service
	// says so instead of streaming at it.
	call, err := exec.Command(busctl, "--address="+classic, "call", telemetryv1.Telemetry_BusName, string(telemetryv1.Telemetry_ObjectPath),
		telemetryv1.Telemetry_Interface, "Readings", "suu", "cabin-temp", "3", "0").CombinedOutput()
	if err == nil || !strings.Contains(string(call), "stream") {
		t.Errorf("busctl call Readings: %v %s; want an error that names the method as a stream", err, call)
	}
}
