//go:build unix

package sasl

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
)

// socketPair returns the two ends of a connected unix stream socket pair.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatalf("FileConn: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		conns[i] = c
	}
	return conns[0], conns[1]
}

// TestClientSocketPipelined has the server send all its lines and the
// first bytes of the message stream in a single write before the client
// even starts, as a kernel socket buffer would hold them. The client must
// leave the message bytes in the socket.
func TestClientSocketPipelined(t *testing.T) {
	client, server := socketPair(t)
	const extra = "l\x02\x01\x01\x00\x00\x00\x00"
	if _, err := io.WriteString(server, "OK "+testGUID+"\r\nAGREE_UNIX_FD\r\n"+extra); err != nil {
		t.Fatal(err)
	}
	res, err := Client(client, ClientConfig{UID: "1000", NegotiateUnixFD: true})
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	if res != (Result{GUID: testGUID, UnixFD: true}) {
		t.Errorf("Client = %+v", res)
	}
	got := make([]byte, len(extra))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != extra {
		t.Errorf("bytes after the last line = %q, %v; want %q", got, err, extra)
	}
	sent := make([]byte, 256)
	n, _ := server.Read(sent)
	if want := "\x00AUTH EXTERNAL 31303030\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n"; string(sent[:n]) != want {
		t.Errorf("client sent %q, want %q", sent[:n], want)
	}
}

// startDaemon runs a private dbus-daemon listening in a temporary
// directory and returns its address.
func startDaemon(t *testing.T) address.Address {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/dbus-daemon"); serr == nil {
			daemon, err = "/usr/bin/dbus-daemon", nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dbus-daemon is required when CI=true, but it was not found in PATH: %v; install it (for example the dbus-daemon or dbus package)", err)
		}
		t.Skipf("dbus-daemon not found, skipping the test against a real bus: %v", err)
	}
	dir := t.TempDir()
	config := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=` + address.Escape(filepath.Join(dir, "bus")) + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
	configFile := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+configFile, "--print-address", "--nofork")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", daemon, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	var printed string
	select {
	case printed = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("dbus-daemon printed no address within 20s; stderr: %s", stderr.String())
	}
	if printed == "" {
		t.Fatalf("dbus-daemon exited without printing an address; stderr: %s", stderr.String())
	}
	list, err := address.Parse(printed)
	if err != nil {
		t.Fatalf("dbus-daemon printed an address we cannot parse: %v", err)
	}
	return list[0]
}

func dialDaemon(t *testing.T, a address.Address) net.Conn {
	t.Helper()
	network, addr, err := a.DialTarget()
	if err != nil {
		t.Fatalf("DialTarget(%s): %v", a, err)
	}
	conn, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", a, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// helloMessage returns a little-endian method call of
// org.freedesktop.DBus.Hello, the first message a bus expects.
func helloMessage() []byte {
	b := []byte{'l', 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	pad := func(n int) {
		for len(b)%n != 0 {
			b = append(b, 0)
		}
	}
	field := func(code, sig byte, value string) {
		pad(8)
		b = append(b, code, 1, sig, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
		b = append(b, value...)
		b = append(b, 0)
	}
	field(1, 'o', "/org/freedesktop/DBus")
	field(6, 's', "org.freedesktop.DBus")
	field(2, 's', "org.freedesktop.DBus")
	field(3, 's', "Hello")
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	pad(8)
	return b
}

func TestClientRealDaemon(t *testing.T) {
	a := startDaemon(t)
	for _, tt := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"initial response", ClientConfig{NegotiateUnixFD: true}},
		{"empty initial response", ClientConfig{EmptyInitialResponse: true, NegotiateUnixFD: true}},
		{"no fd negotiation", ClientConfig{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn := dialDaemon(t, a)
			res, err := Client(conn, tt.cfg)
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			if !IsGUID(res.GUID) {
				t.Errorf("GUID %q is not 32 hexadecimal digits", res.GUID)
			}
			if !strings.EqualFold(res.GUID, a.GUID()) {
				t.Errorf("GUID %q differs from the one in the printed address %s", res.GUID, a)
			}
			if res.UnixFD != tt.cfg.NegotiateUnixFD {
				t.Errorf("UnixFD = %v, want %v", res.UnixFD, tt.cfg.NegotiateUnixFD)
			}

			// The connection is now a D-Bus message stream: Hello
			// must get a method return.
			if _, err := conn.Write(helloMessage()); err != nil {
				t.Fatalf("sending Hello: %v", err)
			}
			hdr := make([]byte, 16)
			if _, err := io.ReadFull(conn, hdr); err != nil {
				t.Fatalf("reading the reply to Hello: %v", err)
			}
			if hdr[0] != 'l' && hdr[0] != 'B' || hdr[1] != 2 {
				t.Errorf("reply to Hello starts with % x, want a method return", hdr)
			}
		})
	}

	t.Run("wrong uid rejected", func(t *testing.T) {
		conn := dialDaemon(t, a)
		uid := "4242"
		if os.Getuid() == 4242 {
			uid = "4243"
		}
		_, err := Client(conn, ClientConfig{UID: uid})
		var rej *RejectedError
		if !errors.As(err, &rej) {
			t.Fatalf("error %v (%T), want *RejectedError", err, err)
		}
		if !strings.Contains(strings.Join(rej.Mechanisms, " "), "EXTERNAL") {
			t.Errorf("server offers %q, expected EXTERNAL among them", rej.Mechanisms)
		}
	})
}
