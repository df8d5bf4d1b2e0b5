package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker/daemon"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

var kdbusd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kdbusd-test-")
	if err != nil {
		panic(err)
	}
	kdbusd = filepath.Join(dir, "kdbusd")
	if out, err := exec.Command("go", "build", "-o", kdbusd, "github.com/kdbus-go/kdbus/cmd/kdbusd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kdbusd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const header = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
`

// writeConfig writes a configuration listening in dir with the given policy body.
func writeConfig(t *testing.T, dir, policy string) string {
	t.Helper()
	conf := filepath.Join(dir, "bus.conf")
	body := header + "<busconfig><type>session</type><listen>unix:path=" + filepath.Join(dir, "bus") + "</listen><auth>EXTERNAL</auth>" + policy + "</busconfig>\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

const allowAll = `<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy>`

// start runs kdbusd with args plus --print-address and --print-pid on descriptors 3 and 4,
// and returns the address once it is ready.
func start(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	ar, aw, _ := os.Pipe()
	pr, pw, _ := os.Pipe()
	cmd := exec.Command(kdbusd, append(args, "--nofork", "--print-address=3", "--print-pid=4")...)
	cmd.ExtraFiles = []*os.File{aw, pw}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	pw.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(ar).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("kdbusd printed no address: %v; stderr:\n%s", err, stderr.String())
	}
	pid, _ := bufio.NewReader(pr).ReadString('\n')
	if strings.TrimSpace(pid) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("--print-pid printed %q, the process is %d", pid, cmd.Process.Pid)
	}
	return strings.TrimSpace(addr), cmd
}

func dial(t *testing.T, addr string) *runtime.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConfigFileAndCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	addr, cmd := start(t, "--config-file="+writeConfig(t, dir, allowAll))
	c := dial(t, addr)
	if r, err := c.RequestName(context.Background(), "org.kdbusgo.Daemon", 0); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kdbusd exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kdbusd did not exit after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join(dir, "bus")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is still there after shutdown: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not see the bus go away")
	}
}

func TestPolicy(t *testing.T) {
	dir := t.TempDir()
	policy := `<policy context="default">
  <allow user="*"/>
  <allow send_destination="*"/>
  <allow own="*"/>
  <deny own="org.kdbusgo.Forbidden"/>
  <deny send_interface="org.kdbusgo.Secret"/>
</policy>`
	addr, _ := start(t, "--config-file="+writeConfig(t, dir, policy))
	c := dial(t, addr)
	_, err := c.RequestName(context.Background(), "org.kdbusgo.Forbidden", 0)
	var e *runtime.Error
	if !errors.As(err, &e) || e.Name != runtime.ErrorAccessDenied {
		t.Fatalf("owning a denied name: %v, want AccessDenied", err)
	}
	if r, err := c.RequestName(context.Background(), "org.kdbusgo.Allowed", 0); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("owning an allowed name: %v %v", r, err)
	}
	out, err := exec.Command(dbustest.RequireTool(t, "dbus-send"), "--bus="+addr, "--print-reply", "--dest=org.kdbusgo.Allowed", "/", "org.kdbusgo.Secret.Peek").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "AccessDenied") {
		t.Fatalf("a call to a denied interface: %v %s", err, out)
	}
}

func TestFork(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(kdbusd, "--config-file="+writeConfig(t, dir, allowAll), "--fork", "--print-address", "--print-pid").Output()
	if err != nil {
		t.Fatalf("kdbusd --fork: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("kdbusd --fork printed %q, want the address and the pid", out)
	}
	pid, _ := strconv.Atoi(lines[1])
	defer syscall.Kill(pid, syscall.SIGTERM)
	dial(t, lines[0])
}

func TestSocketActivationAndReadiness(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "activated")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := l.File()
	l.SetUnlinkOnClose(false)
	l.Close()
	notifyPath := filepath.Join(dir, "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	// systemd sets LISTEN_PID to the service's own pid; a shell that execs kdbusd keeps it.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --config-file="$1" --nofork`, kdbusd, writeConfig(t, dir, allowAll))
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	f.Close()
	nl.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, err := nl.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Fatalf("no READY=1 notification: %q %v", buf[:n], err)
	}
	c := dial(t, "unix:path="+sock)
	if c.UniqueName() == "" {
		t.Fatal("no unique name on the activated socket")
	}
}

func TestParseArgs(t *testing.T) {
	o, err := daemon.ParseArgs([]string{"--session", "--print-address=5", "--print-pid", "--nofork", "--address=unix:tmpdir=/tmp"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Session || o.PrintAddress.String() != "5" || o.PrintPID.String() != "1" || !o.NoFork || o.Address != "unix:tmpdir=/tmp" {
		t.Fatalf("parsed %+v", o)
	}
	for _, bad := range [][]string{{"--session", "--system"}, {"--fork", "--nofork"}, {"--print-address=x"}, {"stray"}} {
		if _, err := daemon.ParseArgs(bad, &strings.Builder{}); err == nil {
			t.Errorf("ParseArgs(%q) succeeded", bad)
		}
	}
}
