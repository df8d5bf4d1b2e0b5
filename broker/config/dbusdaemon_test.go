package config

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// These tests hold kdbusd's reading of configurations against dbus-daemon itself: the same
// text must be accepted or rejected by both, and under the same policy both must let the
// same names be owned and the same calls through.

// startDaemon runs dbus-daemon on the configuration text. It returns the bus address, or ""
// and dbus-daemon's complaint when dbus-daemon refuses the configuration.
func startDaemon(t *testing.T, dir, text string) (addr, complaint string) {
	t.Helper()
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case addr = <-line:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("dbus-daemon neither started nor failed within 20s: %s", stderr.String())
	}
	if addr == "" {
		<-done
		return "", stderr.String()
	}
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return addr, ""
}

func TestAcceptanceMatchesDbusDaemon(t *testing.T) {
	dbustest.RequireTool(t, "dbus-daemon")
	type tc struct {
		name string
		body string // inside <busconfig>, after a <listen>; DIR is the test directory
		ok   bool   // dbus-daemon accepts it
		// ours, when set, is kdbusd's deliberate difference (see the package documentation).
		ours *bool
	}
	no := false
	cases := []tc{
		{"minimal", ``, true, nil},
		{"session settings", `<type>x</type><keep_umask/><syslog/><allow_anonymous/><auth>EXTERNAL</auth><servicedir>rel</servicedir><standard_session_servicedirs/><standard_system_servicedirs/><servicehelper>/h</servicehelper>`, true, nil},
		{"entities", `<type>a&amp;b&#33;</type><policy context="&#100;efault"><allow own="a.&#98;"/></policy>`, true, nil},
		{"limits", `<limit name="max_incoming_bytes">3123123123</limit><limit name="reply_timeout">5</limit><limit name="max_containers">3</limit><limit name="auth_timeout"> 7 </limit>`, true, nil},
		{"every rule attribute", `<policy context="default">
<allow send_interface="*" send_member="M"/>
<allow send_destination="a.b" send_interface="a.I" send_member="M" send_path="/p" send_type="method_call" send_requested_reply="false" eavesdrop="true" min_fds="0" max_fds="3" log="true"/>
<deny send_error="a.E" send_destination_prefix="a" send_broadcast="false"/>
<allow send_broadcast="true" send_destination="*"/>
<allow receive_interface="a.I" receive_member="M" receive_sender="a.b" receive_path="/p" receive_type="signal" receive_requested_reply="true"/>
<deny receive_error="a.E"/><allow eavesdrop="true"/><allow own="a.b"/><allow own_prefix="a"/><allow user="*"/><deny group="*"/></policy>`, true, nil},
		{"unknown user and group", `<policy user="no-such-user-here"><allow user="x"/></policy><policy group="no-such-group-here"/><policy context="default"><allow user="no-such-user-here"/><allow group="no-such-group-here"/></policy>`, true, nil},
		{"invalid names", `<policy context="default"><allow own="bad..name"/><deny send_interface="x" send_destination="a.b"/><allow send_path="/trailing/"/></policy>`, true, nil},
		{"at_console", `<policy at_console="true"><allow own="a.b"/><allow user="*"/></policy><policy at_console="false"/>`, true, nil},
		{"selinux and apparmor", `<selinux><associate own="a.b" context="c_t"/></selinux><apparmor mode="disabled"/>`, true, nil},
		{"optional includes", `<include ignore_missing="yes">nope.conf</include><includedir>nope.d</includedir><include if_selinux_enabled="yes" selinux_root_relative="yes">contexts/x</include>`, true, nil},
		{"broken file in includedir", `<includedir>DIR/d</includedir>`, true, nil},

		{"unknown element", `<bees/>`, false, nil},
		{"unknown attribute", `<policy context="default"><allow species="stoat"/></policy>`, false, nil},
		{"duplicate attribute", `<limit name="max_message_size" name="max_message_size">5</limit>`, false, nil},
		{"text in fork", `<keep_umask>yes</keep_umask>`, false, nil},
		{"empty type", `<type></type>`, false, nil},
		{"unknown limit", `<limit name="max_bees">5</limit>`, false, nil},
		{"non-numeric limit", `<limit name="max_message_size">bees</limit>`, false, nil},
		{"negative limit", `<limit name="max_message_size">-1</limit>`, false, nil},
		{"int limit too large", `<limit name="max_names_per_connection">3123123123</limit>`, false, nil},
		{"policy without attribute", `<policy/>`, false, nil},
		{"policy with two attributes", `<policy user="root" at_console="true"/>`, false, nil},
		{"bad context", `<policy context="sometimes"/>`, false, nil},
		{"bad at_console", `<policy at_console="nearby"/>`, false, nil},
		{"rule without attributes", `<policy context="default"><allow/></policy>`, false, nil},
		{"rule with only max_fds", `<policy context="default"><allow max_fds="1"/></policy>`, false, nil},
		{"member without interface", `<policy context="default"><deny send_member="Reboot"/></policy>`, false, nil},
		{"send and receive", `<policy context="default"><allow send_destination="a.b" receive_type="signal"/></policy>`, false, nil},
		{"own and user", `<policy context="default"><allow own="a.b" user="*"/></policy>`, false, nil},
		{"eavesdrop and own", `<policy context="default"><allow own="a.b" eavesdrop="true"/></policy>`, false, nil},
		{"send_error and member", `<policy context="default"><allow send_error="a.E" send_interface="a.I"/></policy>`, false, nil},
		{"destination and prefix", `<policy context="default"><allow send_destination="a.b" send_destination_prefix="a"/></policy>`, false, nil},
		{"broadcast with destination", `<policy context="default"><allow send_destination="a.b" send_broadcast="true"/></policy>`, false, nil},
		{"bad type", `<policy context="default"><allow send_type="call"/></policy>`, false, nil},
		{"bad eavesdrop", `<policy context="default"><allow eavesdrop="yes"/></policy>`, false, nil},
		{"bad requested_reply", `<policy context="default"><allow receive_requested_reply="1"/></policy>`, false, nil},
		{"bad max_fds", `<policy context="default"><allow send_type="*" max_fds="-1"/></policy>`, false, nil},
		{"user rule in user policy", `<policy user="root"><allow user="*"/></policy>`, false, nil},
		{"associate without context", `<selinux><associate own="a.b"/></selinux>`, false, nil},
		{"bad apparmor mode", `<apparmor mode="plaintive"/>`, false, nil},
		{"bad ignore_missing", `<include ignore_missing="y">x.conf</include>`, false, nil},
		{"selinux_root_relative", `<include selinux_root_relative="yes">contexts/x</include>`, false, nil},
		{"missing include", `<include>nope.conf</include>`, false, nil},
		{"include cycle", `<include>bus.conf</include>`, false, nil},
		{"bad listen address", `<listen>unix:path</listen>`, false, nil},
		{"text outside root", `</busconfig>text<busconfig>`, false, nil},

		{"trailing garbage in limit", `<limit name="auth_timeout">12abc</limit>`, true, &no},
		{"log=yes", `<policy context="default"><allow own="a.b" log="yes"/></policy>`, true, &no},
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"d/bad.conf": "<busconfig><bees/></busconfig>", "d/good.conf": "<busconfig/>"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := strings.ReplaceAll(c.body, "DIR", dir)
			text := fmt.Sprintf("<busconfig><listen>unix:tmpdir=%s</listen>%s</busconfig>", dir, body)
			addr, complaint := startDaemon(t, dir, text)
			if got := addr != ""; got != c.ok {
				t.Fatalf("dbus-daemon accepted = %v, the test expects %v (%s)", got, c.ok, complaint)
			}
			want := c.ok
			if c.ours != nil {
				want = *c.ours
			}
			o := Options{Getenv: fakeEnv(nil)}
			_, err := o.Load(filepath.Join(dir, "bus.conf"))
			if got := err == nil; got != want {
				t.Errorf("kdbusd accepted = %v, want %v (error: %v; dbus-daemon: %s)", got, want, err, complaint)
			}
		})
	}
}

// busClient is a connection used to probe a running dbus-daemon.
type busClient struct {
	t *testing.T
	c *classic.Conn
}

func dialBus(t *testing.T, addr string) *busClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := classic.Dial(ctx, addr, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &busClient{t, c}
}

// call sends m and waits for its reply, skipping other messages.
func (b *busClient) call(m *wire.Message) *wire.Message {
	b.t.Helper()
	if err := b.c.Send(m, nil); err != nil {
		b.t.Fatal(err)
	}
	for {
		r, err := b.c.Recv()
		if err != nil {
			b.t.Fatal(err)
		}
		if r.Msg.ReplySerial == m.Serial && (r.Msg.Type == wire.MethodReturn || r.Msg.Type == wire.Error) {
			return r.Msg
		}
	}
}

// requestName reports whether dbus-daemon let the connection own name.
func (b *busClient) requestName(name string) bool {
	b.t.Helper()
	e := wire.NewEncoder(nil, wire.NativeOrder)
	e.String(name)
	e.Uint32(4) // DBUS_NAME_FLAG_DO_NOT_QUEUE
	reply := b.call(&wire.Message{
		Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: "RequestName", Signature: "su", Body: e.Bytes(),
	})
	if reply.Type == wire.Error {
		if reply.ErrorName != "org.freedesktop.DBus.Error.AccessDenied" {
			b.t.Fatalf("RequestName(%s): %s", name, reply.ErrorName)
		}
		return false
	}
	return true
}

// answer replies to every method call the connection receives, until it closes.
func (b *busClient) answer() {
	go func() {
		for {
			r, err := b.c.Recv()
			if err != nil {
				return
			}
			if m := r.Msg; m.Type == wire.MethodCall {
				b.c.Send(&wire.Message{Type: wire.MethodReturn, Destination: m.Sender, ReplySerial: m.Serial}, nil)
			}
		}
	}()
}

func currentSubject() Subject {
	s := Subject{UID: uint32(os.Getuid()), GIDs: []uint32{uint32(os.Getgid())}}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			if !containsID(s.GIDs, uint32(g)) {
				s.GIDs = append(s.GIDs, uint32(g))
			}
		}
	}
	return s
}

// TestPolicyMatchesDbusDaemon runs each policy in dbus-daemon and in kdbusd and compares which
// names the test process may own and which calls between two of its connections get through.
// Both connections have the test process's credentials, so per-user and per-group policies
// name its uid and gid.
func TestPolicyMatchesDbusDaemon(t *testing.T) {
	dbustest.RequireTool(t, "dbus-daemon")
	me := currentSubject()
	uid, gid := fmt.Sprint(me.UID), fmt.Sprint(me.GIDs[0])
	const base = `<policy context="default">
  <allow user="*"/>
  <allow send_destination="org.freedesktop.DBus"/>
  <allow receive_sender="org.freedesktop.DBus"/>
  <allow send_type="method_return"/>
  <allow receive_type="method_return"/>
  <allow receive_type="error"/>
</policy>`
	ownCases := []string{
		`<policy context="default"><allow own="*"/><deny own="org.example.A"/></policy>`,
		`<policy context="default"><allow own_prefix="org.example"/><deny own="org.example.B"/><allow own_prefix="org.example.B.C"/></policy>`,
		// user over default, whatever the file order
		`<policy user="UID"><deny own="org.example.A"/></policy><policy context="default"><allow own="*"/></policy>`,
		// group under user, over default
		`<policy user="UID"><allow own="org.example.A"/></policy><policy group="GID"><deny own_prefix="org"/><allow own="org.example.B"/></policy><policy context="default"><allow own="*"/></policy>`,
		// mandatory over everything
		`<policy context="mandatory"><deny own="org.example.B"/></policy><policy user="UID"><allow own="*"/></policy>`,
		// at_console="false" applies to everybody here, between user and mandatory
		`<policy at_console="false"><deny own="org.example.A"/></policy><policy user="UID"><allow own="*"/></policy><policy at_console="true"><allow own="org.example.A"/></policy>`,
		// an unknown user's policy is dropped
		`<policy context="default"><allow own="*"/></policy><policy user="no-such-user-here"><deny own="*"/></policy>`,
	}
	names := []string{"org.example.A", "org.example.B", "org.example.B.C", "org.example.BC", "org.other.X"}
	for i, pol := range ownCases {
		t.Run(fmt.Sprintf("own%d", i), func(t *testing.T) {
			pol = strings.NewReplacer("UID", uid, "GID", gid).Replace(pol)
			dir := t.TempDir()
			text := fmt.Sprintf("<busconfig><listen>unix:tmpdir=%s</listen>%s%s</busconfig>", dir, base, pol)
			addr, complaint := startDaemon(t, dir, text)
			if addr == "" {
				t.Fatalf("dbus-daemon refused the configuration: %s", complaint)
			}
			cfg, err := Options{Getenv: fakeEnv(nil)}.Load(filepath.Join(dir, "bus.conf"))
			if err != nil {
				t.Fatal(err)
			}
			sp := cfg.Policy.For(me)
			b := dialBus(t, addr)
			for _, n := range names {
				if got, want := sp.CanOwn(n), b.requestName(n); got != want {
					t.Errorf("%s: kdbusd CanOwn = %v, dbus-daemon %v\npolicy: %s", n, got, want, pol)
				}
			}
		})
	}

	const svc = `<policy context="default"><allow own="*"/><allow receive_type="method_call"/></policy>`
	sendCases := []string{
		`<policy context="default"><allow send_destination="org.example.Svc"/></policy>`,
		`<policy context="default"><allow send_destination_prefix="org.example.Tree"/></policy>`,
		`<policy context="default"><allow send_type="method_call"/><deny send_interface="org.example.Secret"/></policy>`,
		`<policy context="default"><allow send_interface="org.example.Open"/></policy>`,
		`<policy context="default"><allow send_type="method_call"/><deny send_destination="org.example.Svc" send_interface="org.example.Secret" send_member="Read"/></policy>`,
		`<policy context="default"><allow send_path="/org/example/Open" send_member="Read"/></policy>`,
		`<policy context="default"><allow send_destination="*"/></policy><policy user="UID"><deny send_destination="org.example.Svc" send_interface="org.example.Secret"/></policy>`,
		`<policy context="default"><allow send_destination="*"/></policy><policy context="default"><deny receive_interface="org.example.Secret"/></policy>`,
		`<policy context="default"><allow send_type="*"/><deny send_destination="org.example.Tree.Leaf" send_type="method_call" max_fds="0"/></policy>`,
		`<policy context="default"><allow send_type="*"/><deny send_destination="org.example.Svc" min_fds="1"/></policy>`,
		`<policy group="GID"><allow send_destination="org.example.Svc" send_interface="org.example.Open"/></policy><policy context="default"><deny send_destination_prefix="org.example"/></policy>`,
	}
	calls := []*wire.Message{
		{Path: "/org/example/Open", Interface: "org.example.Open", Member: "Read"},
		{Path: "/org/example/Open", Interface: "org.example.Secret", Member: "Read"},
		{Path: "/org/example/Open", Interface: "org.example.Secret", Member: "Write"},
		{Path: "/org/example/Open", Member: "Read"},
		{Path: "/org/example/Hidden", Member: "Read"},
		{Path: "/org/example/Hidden", Interface: "org.example.Open", Member: "Write"},
	}
	for i, pol := range sendCases {
		t.Run(fmt.Sprintf("send%d", i), func(t *testing.T) {
			pol = strings.NewReplacer("UID", uid, "GID", gid).Replace(pol)
			dir := t.TempDir()
			text := fmt.Sprintf("<busconfig><listen>unix:tmpdir=%s</listen>%s%s%s</busconfig>", dir, base, svc, pol)
			addr, complaint := startDaemon(t, dir, text)
			if addr == "" {
				t.Fatalf("dbus-daemon refused the configuration: %s", complaint)
			}
			cfg, err := Options{Getenv: fakeEnv(nil)}.Load(filepath.Join(dir, "bus.conf"))
			if err != nil {
				t.Fatal(err)
			}
			sp := cfg.Policy.For(me)
			server, client := dialBus(t, addr), dialBus(t, addr)
			for _, n := range []string{"org.example.Svc", "org.example.Tree.Leaf"} {
				if !server.requestName(n) {
					t.Fatalf("cannot own %s", n)
				}
			}
			serverNames := []string{server.c.UniqueName(), "org.example.Svc", "org.example.Tree.Leaf"}
			clientNames := []string{client.c.UniqueName()}
			server.answer()
			for _, dest := range []string{"org.example.Svc", "org.example.Tree.Leaf", server.c.UniqueName()} {
				for _, tmpl := range calls {
					m := *tmpl
					m.Type, m.Destination = wire.MethodCall, dest
					pm := MessageOf(&m)
					want := sp.CanSend(&pm, serverNames) && sp.CanReceive(&pm, clientNames, false)
					reply := client.call(&m)
					got := reply.Type == wire.MethodReturn
					if reply.Type == wire.Error && reply.ErrorName != "org.freedesktop.DBus.Error.AccessDenied" {
						t.Fatalf("call %v: %s", &m, reply.ErrorName)
					}
					if got != want {
						t.Errorf("call %v: kdbusd allows = %v, dbus-daemon %v\npolicy: %s", &m, want, got, pol)
					}
				}
			}
		})
	}
}
