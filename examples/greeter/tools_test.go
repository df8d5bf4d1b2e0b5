package greeter_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// TestBusctlMonitor checks that busctl monitor sees a generated call and its reply.
func TestBusctlMonitor(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			cmd := exec.Command(dbustest.RequireTool(t, "busctl"), "--address="+addr, "monitor")
			stdout, _ := cmd.StdoutPipe()
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			// busctl says it is monitoring only once the bus made it a monitor.
			ready := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					if strings.Contains(sc.Text(), "Monitoring") {
						close(ready)
						break
					}
				}
				for sc.Scan() {
				}
			}()
			var mu sync.Mutex
			var out strings.Builder
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					mu.Lock()
					out.WriteString(sc.Text() + "\n")
					mu.Unlock()
				}
			}()
			select {
			case <-ready:
			case <-time.After(10 * time.Second):
				t.Fatal("busctl monitor never started monitoring")
			}
			c := client(t, addr)
			if _, err := c.SayHello(context.Background(), &greeterv1.HelloRequest{Name: "monitor"}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				got := out.String()
				mu.Unlock()
				if strings.Contains(got, "Member=SayHello") && strings.Contains(got, "Type=method_return") && strings.Contains(got, `"Hello, monitor!"`) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("busctl monitor did not show the call and its reply:\n%s", got)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestBusctlListAndStatus checks the bus-level views busctl gives.
func TestBusctlListAndStatus(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			bus := "--address=" + addr
			list := run(t, "busctl", bus, "list")
			if !strings.Contains(list, greeterv1.Greeter_BusName) || !strings.Contains(list, "org.freedesktop.DBus") {
				t.Errorf("busctl list lacks the greeter or the bus:\n%s", list)
			}
			status := run(t, "busctl", bus, "status", greeterv1.Greeter_BusName)
			if !strings.Contains(status, fmt.Sprintf("PID=%d", os.Getpid())) {
				t.Errorf("busctl status does not show this process's pid %d:\n%s", os.Getpid(), status)
			}
			feat := run(t, "busctl", bus, "get-property", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Interfaces")
			if !strings.HasPrefix(strings.TrimSpace(feat), "as ") || !strings.Contains(feat, "org.freedesktop.DBus.Monitoring") {
				t.Errorf("busctl get-property Interfaces: %q", feat)
			}
		})
	}
}

// TestDBusPython calls the greeter from dbus-python.
func TestDBusPython(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import dbus").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dbus-python is required under CI=true (Debian: python3-dbus): %v", err)
		}
		t.Skip("dbus-python not installed")
	}
	script := `
import sys, dbus
bus = dbus.bus.BusConnection(sys.argv[1])
obj = bus.get_object("example.greeter.v1", "/example/greeter/v1/Greeter")
g = dbus.Interface(obj, "example.greeter.v1.Greeter")
print(g.SayHello("python"))
print(g.Add(dbus.Int64(40), dbus.Int64(2)))
try:
    g.SayHello("")
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name())
`
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			out, err := exec.Command(python, "-c", script, addr).CombinedOutput()
			if err != nil {
				t.Fatalf("dbus-python: %v\n%s", err, out)
			}
			want := "Hello, python!\n42\n" + greeterv1.Greeter_Error_NoName + "\n"
			if string(out) != want {
				t.Fatalf("dbus-python printed:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}
