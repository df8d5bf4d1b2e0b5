package vehicle_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// commandDir holds the server and client commands, built by the first test that needs them.
var commandDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if commandDir != "" {
		os.RemoveAll(commandDir)
	}
	os.Exit(code)
}

// commands builds the server and client commands once per test process.
var commands = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "vehicle-commands-")
	if err != nil {
		return "", err
	}
	commandDir = dir
	for _, cmd := range []string{"server", "client"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "./"+cmd).CombinedOutput()
		if err != nil {
			return "", &buildError{cmd, err, out}
		}
	}
	return dir, nil
})

type buildError struct {
	cmd string
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "building " + e.cmd + ": " + e.err.Error() + "\n" + string(e.out)
}

func command(t *testing.T, name string) string {
	t.Helper()
	dir, err := commands()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// process is a command running in the background, its output collected; it is killed when
// the test ends.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *output
	done           chan struct{}
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...))
}

// stop interrupts the process, as Ctrl-C would, and waits for it to exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Fatalf("%s did not exit on SIGINT", p.cmd.Path)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s exited with %d:\n%s\n%s", p.cmd.Path, code, p.stdout, p.stderr)
	}
}

func hasAll(wants ...string) func(string) bool {
	return func(s string) bool {
		for _, w := range wants {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
}

// TestCommands serves the vehicle with the server command on every kind of bus, watches it
// with one client command filtering on the trunk, and drives it with another.
func TestCommands(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := bustest.Start(t, kind, dbustest.Config{})
			server := startProcess(t, command(t, "server"), "-address="+bus.Address)
			if !server.stderr.waitFor(wait, hasAll("serving org.kdbusgo.Vehicle1 at /org/kdbusgo/Vehicle1")) {
				t.Fatalf("the server did not start:\n%s", server.stderr)
			}
			testClients(t, command(t, "client"), []string{"-address=" + bus.Address})
			server.stop(t)
		})
	}
}

// testClients watches the vehicle with a client filtering on the trunk while another drives.
func testClients(t *testing.T, client string, args []string) {
	t.Helper()
	watcher := startProcess(t, client, append(args, "-door", "trunk")...)
	// The watcher reads the state after subscribing.
	if !watcher.stdout.waitFor(wait, hasAll("watching DoorChanged of trunk", "state: ")) {
		t.Fatalf("the watching client did not start:\n%s\n%s", watcher.stdout, watcher.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, client, append(args, "-for", "1ns",
		"open", "front_left", "close", "front_left", "open", "trunk", "close", "trunk",
		"gear", "DRIVE", "drive", "30", "open", "rear_left", "drive", "0", "gear", "park")...).CombinedOutput()
	if err != nil {
		t.Fatalf("the driving client: %v\n%s", err, out)
	}
	for _, want := range []string{
		"state: speed 0 km/h, gear GEAR_PARK, doors all closed, VIN 1KDBUSG0XVEH00042, odometer ",
		"open front_left: done\n", "close trunk: done\n", "gear DRIVE: done\n", "drive 30: done\n",
		"open rear_left: org.kdbusgo.Vehicle1.Error.Moving: cannot open rear_left while moving\n",
		"gear park: done\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the driving client did not print %q:\n%s", want, out)
		}
	}
	wants := []string{
		"DoorChanged: trunk open=true", "DoorChanged: trunk open=false",
		"GearShifted: GEAR_PARK -> GEAR_DRIVE", "GearShifted: GEAR_DRIVE -> GEAR_PARK",
		"PropertiesChanged: SpeedKmh=30\n", "PropertiesChanged: SpeedKmh=0\n", "PropertiesChanged: Gear=GEAR_PARK\n",
		"PropertiesChanged: Doors changed\n  doors now: ",
	}
	if !watcher.stdout.waitFor(wait, hasAll(wants...)) {
		t.Fatalf("the watching client did not print %q:\n%s", wants, watcher.stdout)
	}
	watcher.stop(t)
	// One channel carries the DoorChanged signals in order: front_left's came first and were
	// never delivered.
	if s := watcher.stdout.String(); strings.Contains(s, "front_left open=") || strings.Contains(s, "rear_left open=") || strings.Contains(s, "lost") {
		t.Errorf("the client watching the trunk printed:\n%s", s)
	}
}

// TestEmbeddedDemo runs the one-command demo, the server on a bus of its own, and the
// commands it prints: busctl, and the client (built rather than run with go run).
func TestEmbeddedDemo(t *testing.T) {
	server := startProcess(t, command(t, "server"), "-embedded")
	if !server.stdout.waitFor(wait, hasAll("  go run ./examples/vehicle/client -address=\"$BUS\" -for 1s")) {
		t.Fatalf("the server did not print how to watch it:\n%s\n%s", server.stdout, server.stderr)
	}
	lines := strings.Split(server.stdout.String(), "\n")
	var export string
	var cmds []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "export BUS="):
			export = l
		case strings.HasPrefix(l, "busctl ") || strings.HasPrefix(l, "go run "):
			cmds = append(cmds, l)
		}
	}
	if export == "" || len(cmds) != 7 {
		t.Fatalf("the server printed:\n%s", server.stdout)
	}
	sh := func(ctx context.Context, line string) *exec.Cmd {
		line = strings.Replace(line, "go run ./examples/vehicle/client", command(t, "client"), 1)
		return exec.CommandContext(ctx, "/bin/sh", "-c", export+"\nexec "+line)
	}
	dbustest.RequireTool(t, "busctl")

	// busctl monitor, until busctl says it is monitoring.
	mon := startCmd(t, sh(context.Background(), cmds[0]))
	if !mon.stderr.waitFor(wait, hasAll("Monitoring")) {
		t.Fatalf("%s: never started monitoring:\n%s", cmds[0], mon.stderr)
	}
	runLine := func(line string, wants ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		out, err := sh(ctx, line).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		if !hasAll(wants...)(string(out)) {
			t.Errorf("%s printed\n%s\nwant %q", line, out, wants)
		}
		return string(out)
	}
	runLine(cmds[1], ".SpeedKmh", "emits-change writable", "const")
	runLine(cmds[2], "d 0\ni 1\na{sb} 5 ")
	watcher := startCmd(t, sh(context.Background(), cmds[5]))
	if !watcher.stdout.waitFor(wait, hasAll("state: ")) {
		t.Fatalf("%s did not start:\n%s\n%s", cmds[5], watcher.stdout, watcher.stderr)
	}
	runLine(cmds[3])
	runLine(cmds[4])
	runLine(cmds[6], "drive 0: done", "gear PARK: done", "open trunk: done", "close trunk: done", "GearShifted: GEAR_DRIVE -> GEAR_PARK")
	if !watcher.stdout.waitFor(wait, hasAll("GearShifted: GEAR_PARK -> GEAR_DRIVE", "SpeedKmh=30", "DoorChanged: trunk open=true", "DoorChanged: trunk open=false")) {
		t.Errorf("%s printed:\n%s", cmds[5], watcher.stdout)
	}
	if !mon.stdout.waitFor(wait, hasAll("Member=DoorChanged", "Member=GearShifted", "Member=PropertiesChanged", "Member=Drive")) {
		t.Errorf("%s printed:\n%s", cmds[0], mon.stdout)
	}
	server.stop(t) // an interrupted server closes its bus and removes the bus's directory
}

// startCmd starts cmd in the background, its output collected; it is killed when the test
// ends.
func startCmd(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, done: make(chan struct{})}
	so, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout, p.stderr = collect(so), collect(se)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	return p
}
