// Package dbustest starts private bus daemons (dbus-daemon, or kdbusd, which takes the same
// command line and configuration) for tests.
//
// Each daemon runs with its own configuration in a temporary directory, listens on a socket
// there, and is killed when the test ends. A test that needs dbus-daemon skips when it is not
// installed, except under CI=true, where a missing daemon fails the test.
package dbustest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
)

// Config adjusts the daemon's configuration.
type Config struct {
	// MaxMessageSize, when positive, sets the bus's max_message_size limit in bytes.
	MaxMessageSize int
	// Extra is XML inserted verbatim into the <busconfig> element.
	Extra string
	// Native adds a kdbus: socket for the native transport, listed first (kdbusd only).
	Native bool
	// Args are further command-line arguments for the daemon, after dbus-daemon's own (for
	// kdbusd's flags, such as --no-lanes).
	Args []string
}

// Daemon is a running dbus-daemon.
type Daemon struct {
	// Address is the bus address the daemon printed, for clients to dial.
	Address string
	// Dir is the temporary directory holding the configuration and the socket.
	Dir string

	cmd  *exec.Cmd
	done chan struct{}
}

// RequireTool returns the path of the named program, skipping the test when it is missing
// on a developer's machine and failing it under CI=true, where every tool must be installed.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required under CI=true but was not found in PATH: install it (see .ci/run)", name)
	}
	tb.Skipf("%s not installed; skipping (install it to run this test)", name)
	return ""
}

// Start starts a private dbus-daemon and stops it when the test ends.
func Start(tb testing.TB, cfg Config) *Daemon {
	tb.Helper()
	RequireTool(tb, "dbus-daemon")
	d, err := Launch(tb.TempDir(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Kill)
	return d
}

// Launch starts a private dbus-daemon whose configuration and socket live in dir. The caller
// stops it with Kill.
func Launch(dir string, cfg Config) (*Daemon, error) {
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("dbus-daemon is not installed (Debian: apt-get install dbus-daemon): %w", err)
	}
	return LaunchBinary(bin, dir, cfg)
}

// LaunchBinary starts the bus daemon bin, which takes dbus-daemon's command line and
// configuration (dbus-daemon itself, or kdbusd), with its configuration and socket in dir.
func LaunchBinary(bin, dir string, cfg Config) (*Daemon, error) {
	name := filepath.Base(bin)
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(configXML(dir, cfg)), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"--config-file=" + conf, "--nofork", "--nopidfile", "--print-address=1"}, cfg.Args...)
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &Daemon{Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case d.Address = <-line:
	case <-time.After(20 * time.Second):
		d.Kill()
		return nil, fmt.Errorf("%s printed no address within 20s; stderr: %s", name, stderr.String())
	}
	if d.Address == "" {
		<-d.done
		return nil, fmt.Errorf("%s exited without printing an address; stderr: %s", name, stderr.String())
	}
	return d, nil
}

// PID returns the daemon's process ID.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Exited is closed once the daemon's process has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.done }

// Kill stops the daemon at once and waits for it to exit.
func (d *Daemon) Kill() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
	}
	<-d.done
}

func configXML(dir string, cfg Config) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
`)
	if cfg.Native {
		fmt.Fprintf(&b, "  <listen>kdbus:path=%s</listen>\n", address.Escape(filepath.Join(dir, "native")))
	}
	fmt.Fprintf(&b, "  <listen>unix:path=%s</listen>\n", address.Escape(filepath.Join(dir, "bus")))
	b.WriteString(`  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
`)
	if cfg.MaxMessageSize > 0 {
		fmt.Fprintf(&b, "  <limit name=\"max_message_size\">%d</limit>\n", cfg.MaxMessageSize)
	}
	b.WriteString(cfg.Extra)
	b.WriteString("</busconfig>\n")
	return b.String()
}
