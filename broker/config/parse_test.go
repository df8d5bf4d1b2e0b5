package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestElements(t *testing.T) {
	c := parse(t, `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- a comment -->
<busconfig>
  <type>system</type>
  <user>messagebus</user>
  <fork/>
  <keep_umask/>
  <syslog/>
  <allow_anonymous/>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <listen>
    tcp:host=localhost,port=0
  </listen>
  <auth>EXTERNAL</auth>
  <auth>ANONYMOUS</auth>
  <pidfile>/run/dbus/pid</pidfile>
  <servicedir>/usr/share/dbus-1/system-services</servicedir>
  <servicedir>relative/services</servicedir>
  <servicehelper>helper</servicehelper>
  <selinux>
    <associate own="org.example.A" context="a_t"/>
    <associate own="org.example.B" context="b_t"/>
  </selinux>
  <apparmor mode="disabled"/>
</busconfig>`)
	want := &Config{
		Type:           "system",
		User:           "messagebus",
		Fork:           true,
		KeepUmask:      true,
		Syslog:         true,
		AllowAnonymous: true,
		Listen:         []string{"unix:path=/run/dbus/system_bus_socket", "tcp:host=localhost,port=0"},
		Auth:           []string{"EXTERNAL", "ANONYMOUS"},
		PIDFile:        "/run/dbus/pid",
		ServiceHelper:  "/etc/helper",
		ServiceDirs: []ServiceDir{
			{Path: "/usr/share/dbus-1/system-services"},
			{Path: "/etc/relative/services"},
		},
		Limits:   DefaultLimits(),
		AppArmor: "disabled",
		Files:    []string{"/etc/test.conf"},
	}
	got := *c
	got.Policy, got.SELinux, got.Warnings = nil, nil, nil
	want.Policy = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", &got, want)
	}
	wantAssoc := []Association{
		{Own: "org.example.A", Context: "a_t", Pos: Position{"/etc/test.conf", 23, 5}},
		{Own: "org.example.B", Context: "b_t", Pos: Position{"/etc/test.conf", 24, 5}},
	}
	if !reflect.DeepEqual(c.SELinux, wantAssoc) {
		t.Errorf("SELinux = %+v, want %+v", c.SELinux, wantAssoc)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("unexpected warnings:\n%s", warningsText(c))
	}
}

func TestEntitiesAndCDATA(t *testing.T) {
	c := parse(t, `<busconfig>
  <listen>unix:path=/tmp/a&#98;c</listen>
  <type><![CDATA[cus]]>tom<!-- split -->bus</type>
  <user>&#49;000</user>
  <policy context="&#100;efault"><allow own="org.example.&#65;"/></policy>
</busconfig>`)
	if c.Listen[0] != "unix:path=/tmp/abc" || c.Type != "custombus" || c.User != "1000" {
		t.Errorf("Listen %q, Type %q, User %q", c.Listen, c.Type, c.User)
	}
	if !c.Policy.CanOwn(Subject{UID: 5}, "org.example.A") {
		t.Error("entity in attribute values not decoded")
	}
}

func TestLatin1(t *testing.T) {
	text := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><busconfig>" + listen + "<type>caf\xe9</type></busconfig>"
	c := parse(t, text)
	if c.Type != "café" {
		t.Errorf("Type = %q", c.Type)
	}
}

func TestByteOrderMark(t *testing.T) {
	c := parse(t, "\xef\xbb\xbf"+wrap("<type>bom</type>"))
	if c.Type != "bom" {
		t.Errorf("Type = %q", c.Type)
	}
}

func TestRelativeNameCycle(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"self.conf": wrap(`<include>self.conf</include>`)})
	t.Chdir(dir)
	data, err := os.ReadFile("self.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = testOptions().Parse(strings.NewReader(string(data)), "self.conf", "")
	if err == nil || !strings.Contains(err.Error(), "circular inclusion") {
		t.Errorf("got %v", err)
	}
}

func TestLimits(t *testing.T) {
	c := parse(t, wrap(`
<limit name="max_incoming_bytes">1</limit>
<limit name="max_incoming_unix_fds">2</limit>
<limit name="max_outgoing_bytes">3</limit>
<limit name="max_outgoing_unix_fds">4</limit>
<limit name="max_message_size">5</limit>
<limit name="max_message_unix_fds">6</limit>
<limit name="service_start_timeout">7</limit>
<limit name="auth_timeout">8</limit>
<limit name="pending_fd_timeout">9</limit>
<limit name="max_completed_connections">10</limit>
<limit name="max_incomplete_connections">11</limit>
<limit name="max_connections_per_user">12</limit>
<limit name="max_pending_service_starts">13</limit>
<limit name="max_names_per_connection">14</limit>
<limit name="max_match_rules_per_connection">15</limit>
<limit name="max_match_rules_per_user">22</limit>
<limit name="max_replies_per_connection">16</limit>
<limit name="reply_timeout">17</limit>
<limit name="max_containers">18</limit>
<limit name="max_containers_per_user">19</limit>
<limit name="max_container_metadata_bytes">20</limit>
<limit name="max_connections_per_container">21</limit>
<limit name="max_message_size"> 0 </limit>
<limit name="max_incoming_bytes">+5000000000</limit>
`))
	ms := time.Millisecond
	want := Limits{5000000000, 2, 3, 4, 0, 6, 7 * ms, 8 * ms, 9 * ms, 10, 11, 12, 13, 14, 15, 22, 16, 17 * ms, 18, 19, 20, 21}
	if c.Limits != want {
		t.Errorf("Limits =\n%+v, want\n%+v", c.Limits, want)
	}
	if len(limitDefs) != 22 {
		t.Errorf("%d limit names, want 22", len(limitDefs))
	}
}

func TestDefaultLimits(t *testing.T) {
	c := parse(t, wrap(""))
	if c.Limits != DefaultLimits() {
		t.Errorf("Limits = %+v", c.Limits)
	}
	d := DefaultLimits()
	if d.MaxIncomingBytes != 133169152 || d.MaxMessageSize != 33554432 || d.MaxIncomingUnixFDs != 64 ||
		d.MaxMessageUnixFDs != 16 || d.AuthTimeout != 30*time.Second || d.ReplyTimeout != NoTimeout ||
		d.MaxCompletedConnections != 2048 || d.MaxRepliesPerConnection != 128 {
		t.Errorf("DefaultLimits = %+v", d)
	}
}

func TestStandardServiceDirs(t *testing.T) {
	o := testOptions()
	o.Getenv = fakeEnv(map[string]string{
		"XDG_RUNTIME_DIR": "/run/user/1000",
		"HOME":            "/home/alice",
		"XDG_DATA_DIRS":   "/opt/share::relative:/usr/share",
	})
	c, err := o.Parse(strings.NewReader(wrap(`<servicedir>/first</servicedir><standard_session_servicedirs/><standard_system_servicedirs/>`)), "/etc/x.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []ServiceDir{
		{Path: "/first"},
		{Path: "/run/user/1000/dbus-1/services", StrictNaming: true, NoWatch: true},
		{Path: "/home/alice/.local/share/dbus-1/services"},
		{Path: "/opt/share/dbus-1/services"},
		{Path: "/usr/share/dbus-1/services"},
		{Path: "/usr/local/share/dbus-1/system-services"},
		{Path: "/usr/share/dbus-1/system-services"},
		{Path: "/lib/dbus-1/system-services"},
	}
	if !reflect.DeepEqual(c.ServiceDirs, want) {
		t.Errorf("ServiceDirs =\n%+v\nwant\n%+v", c.ServiceDirs, want)
	}

	o.Getenv = fakeEnv(map[string]string{"XDG_DATA_HOME": "/xdg/data"})
	c, err = o.Parse(strings.NewReader(wrap(`<standard_session_servicedirs/>`)), "/etc/x.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	want = []ServiceDir{
		{Path: "/xdg/data/dbus-1/services"},
		{Path: "/usr/local/share/dbus-1/services"},
		{Path: "/usr/share/dbus-1/services"},
	}
	if !reflect.DeepEqual(c.ServiceDirs, want) {
		t.Errorf("ServiceDirs =\n%+v\nwant\n%+v", c.ServiceDirs, want)
	}
	if !strings.Contains(warningsText(c), "XDG_RUNTIME_DIR is not set") {
		t.Errorf("no warning about the transient directory:\n%s", warningsText(c))
	}
}

func TestWarnings(t *testing.T) {
	c := parse(t, wrap(`<policy user="nobody-here"><allow own="org.example.A"/></policy>
<policy group="nogroup-here"><allow own="org.example.B"/></policy>
<policy context="default">
  <allow user="nobody-here"/>
  <allow group="nogroup-here"/>
  <allow send_destination="org.example.C"
         send_interface="not an interface"/>
  <allow own="bad..name"/>
  <deny send_type="signal" min_fds="3" max_fds="2"/>
</policy>
<policy at_console="true"><allow own="org.example.D"/><allow user="*"/></policy>
<apparmor mode="required"/>
`))
	got := warningsText(c)
	for _, want := range []string{
		`/etc/test.conf:2:9: unknown user "nobody-here": the rules of this <policy> are ignored`,
		`/etc/test.conf:3:9: unknown group "nogroup-here": the rules of this <policy> are ignored`,
		`/etc/test.conf:5:10: unknown user "nobody-here": this rule is ignored`,
		`/etc/test.conf:6:10: unknown group "nogroup-here": this rule is ignored`,
		`/etc/test.conf:8:10: <allow>: invalid D-Bus interface name "not an interface"`,
		`/etc/test.conf:9:10: <allow>: invalid D-Bus well-known name "bad..name"`,
		`/etc/test.conf:10:28: min_fds=3 is above max_fds=2`,
		`/etc/test.conf:12:1: at_console policies are deprecated`,
		`/etc/test.conf:12:55: user rules have no effect in <policy at_console="true">`,
		`/etc/test.conf:13:1: <apparmor mode="required">: kdbusd does not mediate`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q; got:\n%s", want, got)
		}
	}
	// The dropped policies and rules are not in the policy.
	if c.Policy.CanOwn(Subject{UID: 1000}, "org.example.A") || len(c.Policy.connect) != 0 {
		t.Error("rules of an unknown user or group were kept")
	}
}

func TestNumericIDs(t *testing.T) {
	o := testOptions()
	o.LookupUser = func(string) (uint32, error) { t.Error("numeric uid looked up"); return 0, errors.New("x") }
	o.LookupGroup = func(string) (uint32, error) { t.Error("numeric gid looked up"); return 0, errors.New("x") }
	c, err := o.Parse(strings.NewReader(wrap(`
<policy user="4242"><allow own="org.example.U"/></policy>
<policy group="77"><allow own="org.example.G"/></policy>
<policy context="default"><allow user="4243"/><allow group="78"/></policy>`)), "/etc/t.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy
	if !p.CanOwn(Subject{UID: 4242}, "org.example.U") || !p.CanOwn(Subject{UID: 1, GIDs: []uint32{77}}, "org.example.G") {
		t.Error("numeric user or group policy does not apply")
	}
	if !p.CanConnect(Subject{UID: 4243}, 0) || !p.CanConnect(Subject{UID: 9, GIDs: []uint32{78}}, 0) {
		t.Error("numeric user or group rule does not apply")
	}
}

func TestRealUserLookup(t *testing.T) {
	// The default lookups go to the system's user database, where root is uid 0.
	c, err := Parse(strings.NewReader(wrap(`<policy user="root"><allow own="org.example.R"/></policy>`)), "/etc/t.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 {
		t.Skipf("no root user here: %s", warningsText(c))
	}
	if !c.Policy.CanOwn(Subject{UID: 0}, "org.example.R") {
		t.Error("user root did not resolve to uid 0")
	}
	if gids, err := LookupGroups(0); err != nil || len(gids) == 0 || gids[0] != 0 {
		t.Errorf("LookupGroups(0) = %v, %v", gids, err)
	}
}

func TestIncludes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.conf": `<busconfig>
  <type>session</type>
  <user>alice</user>
  <listen>unix:path=/tmp/one</listen>
  <auth>EXTERNAL</auth>
  <limit name="max_message_size">100</limit>
  <policy context="default"><deny own="org.example.A"/></policy>
  <include>sub/inc.conf</include>
  <include ignore_missing="yes">missing.conf</include>
  <includedir>conf.d</includedir>
  <includedir>no-such.d</includedir>
  <limit name="max_names_per_connection">9</limit>
  <listen>unix:path=/tmp/three</listen>
</busconfig>`,
		"sub/inc.conf": `<busconfig>
  <type>system</type>
  <fork/>
  <listen>unix:path=/tmp/two</listen>
  <auth>ANONYMOUS</auth>
  <limit name="max_names_per_connection">5</limit>
  <servicedir>svc</servicedir>
  <include>nested.conf</include>
  <policy context="default"><allow own="org.example.A"/></policy>
</busconfig>`,
		"sub/nested.conf": `<busconfig><syslog/><pidfile>/run/p</pidfile><limit name="auth_timeout">7</limit></busconfig>`,
		"conf.d/b.conf":   `<busconfig><policy context="default"><deny own="org.example.A"/></policy><user>bob</user></busconfig>`,
		"conf.d/a.conf":   `<busconfig><policy context="default"><allow own="org.example.B"/></policy></busconfig>`,
		"conf.d/c.txt":    `not a configuration file`,
		"conf.d/d.conf":   `<busconfig><keep_umask/></busconfig>`,
	})
	o := testOptions()
	c, err := o.Load(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "system" || c.User != "bob" || !c.Fork || !c.Syslog || !c.KeepUmask || c.PIDFile != "/run/p" {
		t.Errorf("single values: %+v", c)
	}
	if want := []string{"unix:path=/tmp/one", "unix:path=/tmp/two", "unix:path=/tmp/three"}; !reflect.DeepEqual(c.Listen, want) {
		t.Errorf("Listen = %q", c.Listen)
	}
	if want := []string{"EXTERNAL", "ANONYMOUS"}; !reflect.DeepEqual(c.Auth, want) {
		t.Errorf("Auth = %q", c.Auth)
	}
	if c.Limits.MaxMessageSize != 100 || c.Limits.MaxNamesPerConnection != 9 || c.Limits.AuthTimeout != 7*time.Millisecond {
		t.Errorf("limits: %+v", c.Limits)
	}
	if want := []ServiceDir{{Path: filepath.Join(dir, "sub/svc")}}; !reflect.DeepEqual(c.ServiceDirs, want) {
		t.Errorf("ServiceDirs = %+v", c.ServiceDirs)
	}
	wantFiles := []string{"main.conf", "sub/inc.conf", "sub/nested.conf", "conf.d/a.conf", "conf.d/b.conf", "conf.d/d.conf"}
	for i := range wantFiles {
		wantFiles[i] = filepath.Join(dir, wantFiles[i])
	}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", c.Files, wantFiles)
	}
	if want := []string{filepath.Join(dir, "conf.d")}; !reflect.DeepEqual(c.IncludeDirs, want) {
		t.Errorf("IncludeDirs = %q", c.IncludeDirs)
	}
	// Policies accumulate in order: main denies A, inc allows it, conf.d/b denies it again.
	s := Subject{UID: 1000}
	if c.Policy.CanOwn(s, "org.example.A") || !c.Policy.CanOwn(s, "org.example.B") {
		t.Error("policies did not accumulate in include order")
	}
}

func TestIncludeLimitsInheritAndReturn(t *testing.T) {
	// The included file starts from the including file's limits and hands its own back.
	fsys := fstest.MapFS{
		"etc/inc.conf": {Data: []byte(`<busconfig><limit name="max_match_rules_per_connection">2</limit></busconfig>`)},
	}
	o := testOptions()
	o.FS = fsys
	c, err := o.Parse(strings.NewReader(wrap(`
<limit name="max_match_rules_per_connection">1</limit>
<limit name="max_replies_per_connection">3</limit>
<include>inc.conf</include>`)), "/etc/main.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxMatchRulesPerConnection != 2 || c.Limits.MaxRepliesPerConnection != 3 {
		t.Errorf("limits %+v", c.Limits)
	}
}

func TestIncludeDirSkipsBrokenFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/d/1-good.conf":   {Data: []byte(`<busconfig><policy context="default"><allow own="org.example.Good"/></policy></busconfig>`)},
		"etc/d/2-broken.conf": {Data: []byte(`<busconfig><policy context="default"><allow own="org.example.Broken"/></policy><bees/></busconfig>`)},
		"etc/d/3-cycle.conf":  {Data: []byte(`<busconfig><include>/etc/main.conf</include></busconfig>`)},
	}
	o := testOptions()
	o.FS = fsys
	text := wrap(`<includedir>d</includedir>`)
	c, err := o.Parse(strings.NewReader(text), "/etc/main.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	w := warningsText(c)
	if !strings.Contains(w, "skipped /etc/d/2-broken.conf, which does not load: /etc/d/2-broken.conf:1:") ||
		!strings.Contains(w, "circular inclusion: /etc/main.conf -> /etc/d/3-cycle.conf -> /etc/main.conf") {
		t.Errorf("warnings:\n%s", w)
	}
	if !c.Policy.CanOwn(Subject{}, "org.example.Good") || c.Policy.CanOwn(Subject{}, "org.example.Broken") {
		t.Error("a broken file under <includedir> contributed rules, or a good one did not")
	}

	o.Strict = true
	e := parseErr(t, o, text)
	if e.Pos.File != "/etc/d/2-broken.conf" || len(e.IncludedFrom) != 1 || e.IncludedFrom[0].Line != 2 {
		t.Errorf("strict: %v", e)
	}
}

func TestShippedConfigs(t *testing.T) {
	for _, name := range []string{"/usr/share/dbus-1/session.conf", "/usr/share/dbus-1/system.conf"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			if _, err := os.Stat(name); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is missing; CI installs dbus-daemon: %v", name, err)
				}
				t.Skipf("dbus-daemon's configuration is not installed: %v", err)
			}
			c, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Listen) == 0 || len(c.Auth) == 0 {
				t.Errorf("Listen %q, Auth %q", c.Listen, c.Auth)
			}
			for _, w := range c.Warnings {
				t.Log("warning:", w)
			}
			switch c.Type {
			case "session":
				s := Subject{UID: 1000, GIDs: []uint32{1000}}
				sp := c.Policy.For(s)
				m := &Message{Type: 1, Path: "/", Interface: "a.b", Member: "M", Destination: "org.example.X"}
				if !sp.CanOwn("org.example.X") || !sp.CanSend(m, []string{":1.1"}) || !sp.CanReceive(m, []string{":1.2"}, true) {
					t.Error("the session bus should allow everything, eavesdropping included")
				}
				if c.Limits.MaxMessageSize != 1000000000 {
					t.Errorf("max_message_size %d", c.Limits.MaxMessageSize)
				}
			case "system":
				if c.User == "" || !c.Fork || !c.Syslog || c.PIDFile == "" || c.ServiceHelper == "" {
					t.Errorf("system settings: %+v", c)
				}
				if len(c.Files) < 2 {
					t.Errorf("no files included from system.d: %q", c.Files)
				}
				if c.Policy.CanOwn(Subject{UID: 1000}, "org.example.X") {
					t.Error("the system bus lets anybody own names")
				}
				if !c.Policy.CanConnect(Subject{UID: 1000}, 100) {
					t.Error("the system bus should let anybody connect")
				}
			default:
				t.Errorf("Type = %q", c.Type)
			}
		})
	}
}

func TestOptionsFS(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/share/dbus-1/system.conf":     {Data: []byte(wrap(`<includedir>system.d</includedir><include>/etc/extra.conf</include>`))},
		"usr/share/dbus-1/system.d/x.conf": {Data: []byte(`<busconfig><type>from-dir</type></busconfig>`)},
		"etc/extra.conf":                   {Data: []byte(`<busconfig><user>from-etc</user></busconfig>`)},
	}
	o := testOptions()
	o.FS = fsys
	c, err := o.Load("/usr/share/dbus-1/system.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != "from-dir" || c.User != "from-etc" {
		t.Errorf("Type %q User %q", c.Type, c.User)
	}
}

// TestErrors checks every kind of error, with its position and element.
func TestErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/self.conf":  {Data: []byte(`<busconfig><include>self.conf</include></busconfig>`)},
		"etc/a.conf":     {Data: []byte(`<busconfig><include>b.conf</include></busconfig>`)},
		"etc/b.conf":     {Data: []byte(`<busconfig><include>a.conf</include></busconfig>`)},
		"etc/bad.conf":   {Data: []byte("<busconfig>\n  <bees/>\n</busconfig>")},
		"etc/dir.conf/x": {Data: []byte(`x`)},
		"etc/deep0.conf": {Data: []byte(`<busconfig><include>deep1.conf</include></busconfig>`)},
		"etc/deep1.conf": {Data: []byte(`<busconfig><include>deep2.conf</include></busconfig>`)},
		"etc/deep2.conf": {Data: []byte(`<busconfig><include>deep3.conf</include></busconfig>`)},
		"etc/deep3.conf": {Data: []byte(`<busconfig></busconfig>`)},
	}
	tests := []struct {
		name      string
		text      string
		opts      func(*Options)
		line, col int
		elem      string
		msg       string
	}{
		// XML
		{name: "malformed", text: "<busconfig>\n<user>x</foo>\n</busconfig>", line: 2, msg: "malformed XML: element <user> closed by </foo>"},
		{name: "truncated", text: "<busconfig>\n<include ignore_missing=\"y", line: 2, msg: "malformed XML: unexpected EOF"},
		{name: "unclosed", text: "<busconfig>" + listen, line: 1, msg: "malformed XML: unexpected EOF"},
		{name: "empty document", text: "", line: 1, col: 1, msg: "no <busconfig> element"},
		{name: "bad encoding", text: `<?xml version="1.0" encoding="EBCDIC"?><busconfig/>`, line: 1, msg: `unsupported encoding "EBCDIC"`},
		{name: "bad utf-8", text: "<busconfig><type>\xff</type></busconfig>", line: 1, msg: "malformed XML: invalid UTF-8"},
		// Structure
		{name: "wrong root", text: "\n <config/>", line: 2, col: 2, elem: "<config>", msg: "the root element must be <busconfig>"},
		{name: "second root", text: wrap("") + "\n<busconfig/>", line: 4, col: 1, elem: "<busconfig>", msg: "a second root element"},
		{name: "text outside root", text: wrap("") + "\nhello", line: 3, col: 13, msg: "text outside <busconfig>"},
		{name: "busconfig attribute", text: `<busconfig version="1"/>`, line: 1, col: 12, elem: "<busconfig>", msg: `attribute "version" is not allowed: <busconfig> takes no attributes`},
		{name: "unknown element", text: "<busconfig>\n  <bees/>\n</busconfig>", line: 2, col: 3, elem: "<bees>", msg: "not a configuration element; inside <busconfig> the elements are <allow_anonymous>"},
		{name: "namespaced element", text: `<busconfig><x:type xmlns:x="urn:x">a</x:type></busconfig>`, line: 1, col: 12, elem: "<urn:x:type>", msg: "not a configuration element"},
		{name: "element in policy", text: wrap(`<policy context="default"><include>x</include></policy>`), line: 2, col: 27, elem: "<include>", msg: "not allowed inside <policy>"},
		{name: "element in text element", text: wrap(`<type><b/></type>`), line: 2, col: 7, elem: "<b>", msg: "not allowed inside <type>, which holds only text"},
		{name: "element in rule", text: wrap(`<policy context="default"><allow own="a.b"><deny own="a.b"/></allow></policy>`), line: 2, col: 44, elem: "<deny>", msg: "not allowed inside <allow>, which holds no elements"},
		{name: "element in selinux", text: wrap(`<selinux><allow own="a.b"/></selinux>`), line: 2, col: 10, elem: "<allow>", msg: "not allowed inside <selinux>"},
		{name: "text in fork", text: wrap("<fork>yes</fork>"), line: 2, col: 7, elem: "<fork>", msg: `text is not allowed here (found "yes")`},
		{name: "text in policy", text: wrap(`<policy context="default">allow all</policy>`), line: 2, col: 27, elem: "<policy>", msg: "text is not allowed here"},
		{name: "empty listen", text: "<busconfig>\n  <listen>  </listen>\n</busconfig>", line: 2, col: 3, elem: "<listen>", msg: "is empty; write a D-Bus server address"},
		{name: "empty type", text: wrap("<type/>"), line: 2, col: 1, elem: "<type>", msg: "is empty"},
		{name: "bad address", text: "<busconfig>\n  <listen>unix:path</listen>\n</busconfig>", line: 2, col: 11, elem: "<listen>", msg: `invalid D-Bus address "unix:path"`},
		{name: "no listen", text: "<busconfig>\n  <type>x</type>\n</busconfig>", line: 1, col: 1, elem: "<busconfig>", msg: "no <listen> element"},
		{name: "unknown attribute", text: "<busconfig>\n  <listen carefully=\"yes\">unix:path=/x</listen>\n</busconfig>", line: 2, col: 11, elem: "<listen>", msg: `attribute "carefully" is not allowed`},
		{name: "duplicate attribute", text: wrap("<limit name=\"max_message_size\"\n  name=\"max_message_size\">5</limit>"), line: 3, col: 3, elem: "<limit>", msg: `attribute "name" given twice`},
		// Limits
		{name: "limit without name", text: wrap(`<limit>5</limit>`), line: 2, col: 1, elem: "<limit>", msg: "needs a name attribute"},
		{name: "limit bad attribute", text: wrap(`<limit wildebeest="gnu">5</limit>`), line: 2, col: 8, elem: "<limit>", msg: `attribute "wildebeest" is not allowed on <limit>; the attributes are name`},
		{name: "unknown limit", text: wrap(`<limit name="max_bees">5</limit>`), line: 2, col: 8, elem: "<limit>", msg: `there is no limit called "max_bees"; the limits are auth_timeout, `},
		{name: "non-numeric limit", text: wrap(`<limit name="max_names_per_connection">bees</limit>`), line: 2, col: 40, elem: `<limit name="max_names_per_connection">`, msg: `"bees" is not a whole number`},
		{name: "trailing garbage", text: wrap(`<limit name="auth_timeout">12abc</limit>`), line: 2, col: 28, elem: `<limit name="auth_timeout">`, msg: "is not a whole number"},
		{name: "negative limit", text: wrap(`<limit name="max_names_per_connection">-1</limit>`), line: 2, col: 40, msg: "must not be negative"},
		{name: "int limit too large", text: wrap(`<limit name="max_names_per_connection">3123123123</limit>`), line: 2, col: 40, msg: "3123123123 is too large; the largest value is 2147483647"},
		{name: "timeout too large", text: wrap(`<limit name="reply_timeout">2147483648</limit>`), msg: "is too large"},
		{name: "long limit overflow", text: wrap(`<limit name="max_incoming_bytes">99999999999999999999</limit>`), msg: "99999999999999999999 is too large"},
		// Policy
		{name: "policy without attribute", text: wrap("<policy/>"), line: 2, col: 1, elem: "<policy>", msg: "needs exactly one of context="},
		{name: "policy with two attributes", text: wrap(`<policy user="root" at_console="true"/>`), line: 2, col: 1, elem: "<policy>", msg: "needs exactly one of"},
		{name: "policy bad attribute", text: wrap(`<policy hat="top"/>`), line: 2, col: 9, elem: "<policy>", msg: `attribute "hat" is not allowed on <policy>`},
		{name: "policy bad context", text: wrap(`<policy context="apropos"/>`), line: 2, col: 9, elem: "<policy>", msg: `must be "default" or "mandatory", not "apropos"`},
		{name: "policy bad at_console", text: wrap(`<policy at_console="nearby"/>`), line: 2, col: 9, elem: "<policy>", msg: `must be "true" or "false", not "nearby"`},
		// Rules
		{name: "rule without attributes", text: wrap(`<policy context="default"><allow/></policy>`), line: 2, col: 27, elem: "<allow>", msg: "needs attributes saying what it is about"},
		{name: "rule with only log", text: wrap(`<policy context="default"><allow log="true"/></policy>`), line: 2, col: 27, elem: "<allow>", msg: "needs attributes"},
		{name: "rule with only max_fds", text: wrap(`<policy context="default"><deny max_fds="0"/></policy>`), line: 2, col: 33, elem: "<deny>", msg: "max_fds only modifies a send_* or receive_* rule"},
		{name: "rule bad attribute", text: wrap(`<policy context="default"><allow species="stoat"/></policy>`), line: 2, col: 34, elem: "<allow>", msg: `attribute "species" is not allowed on <allow>`},
		{name: "member without interface", text: wrap(`<policy context="default"><deny send_member="Reboot"/></policy>`), line: 2, col: 33, elem: "<deny>", msg: "send_member needs send_interface or send_path"},
		{name: "receive member without interface", text: wrap(`<policy context="default"><deny receive_member="Reboot"/></policy>`), line: 2, col: 33, msg: "receive_member needs receive_interface or receive_path"},
		{name: "send and receive", text: wrap("<policy context=\"default\">\n  <allow send_destination=\"a.b\"\n         receive_type=\"signal\"/></policy>"), line: 4, col: 10, elem: "<allow>", msg: "mixes send_destination with receive_type"},
		{name: "own and user", text: wrap(`<policy context="default"><allow own="a.b" user="*"/></policy>`), line: 2, col: 44, elem: "<allow>", msg: "user cannot be combined with own"},
		{name: "own and own_prefix", text: wrap(`<policy context="default"><allow own="a.b" own_prefix="a"/></policy>`), line: 2, col: 44, msg: "own_prefix cannot be combined with own"},
		{name: "eavesdrop and own", text: wrap(`<policy context="default"><allow eavesdrop="true" own="a.b"/></policy>`), msg: "own cannot be combined with eavesdrop"},
		{name: "send_error and member", text: wrap(`<policy context="default"><allow send_error="a.E" send_interface="a.b" send_member="M"/></policy>`), line: 2, col: 34, msg: "send_error cannot be combined with send_member or send_interface"},
		{name: "receive_error and interface", text: wrap(`<policy context="default"><allow receive_error="a.E" receive_interface="a.b"/></policy>`), msg: "receive_error cannot be combined"},
		{name: "destination and prefix", text: wrap(`<policy context="default"><allow send_destination="a.b" send_destination_prefix="a"/></policy>`), line: 2, col: 57, msg: "send_destination_prefix cannot be combined with send_destination"},
		{name: "broadcast with destination", text: wrap(`<policy context="default"><allow send_broadcast="true" send_destination="com.example.Bees"/></policy>`), line: 2, col: 34, msg: `send_broadcast="true" with send_destination="com.example.Bees" can never match`},
		{name: "bad send_type", text: wrap(`<policy context="default"><allow send_type="call"/></policy>`), line: 2, col: 34, msg: `unknown message type "call"`},
		{name: "bad receive_type", text: wrap(`<policy context="default"><allow receive_type="method-call"/></policy>`), msg: `unknown message type "method-call"`},
		{name: "bad eavesdrop", text: wrap(`<policy context="default"><allow eavesdrop="yes"/></policy>`), line: 2, col: 34, msg: `eavesdrop must be "true" or "false", not "yes"`},
		{name: "bad send_requested_reply", text: wrap(`<policy context="default"><allow send_requested_reply="1"/></policy>`), msg: `send_requested_reply must be "true" or "false"`},
		{name: "bad receive_requested_reply", text: wrap(`<policy context="default"><allow receive_requested_reply="no"/></policy>`), msg: `receive_requested_reply must be "true" or "false"`},
		{name: "bad send_broadcast", text: wrap(`<policy context="default"><allow send_broadcast="maybe"/></policy>`), msg: `send_broadcast must be "true" or "false"`},
		{name: "bad log", text: wrap(`<policy context="default"><allow own="a.b" log="yes"/></policy>`), msg: `log must be "true" or "false"`},
		{name: "bad max_fds", text: wrap(`<policy context="default"><allow send_type="signal" max_fds="-1"/></policy>`), msg: `max_fds must be a whole number from 0 to 33554432, not "-1"`},
		{name: "huge min_fds", text: wrap(`<policy context="default"><allow receive_type="signal" min_fds="33554433"/></policy>`), msg: "min_fds must be a whole number"},
		{name: "user rule in user policy", text: wrap(`<policy user="root"><deny user="alice"/></policy>`), line: 2, col: 27, elem: "<deny>", msg: `user rules decide who may connect to the bus and can only be in <policy context="default"> or <policy context="mandatory">, not in <policy user="root">`},
		{name: "group rule in group policy", text: wrap(`<policy group="wheel"><allow group="*"/></policy>`), msg: "group rules decide who may connect"},
		// SELinux and AppArmor
		{name: "associate without context", text: wrap(`<selinux><associate own="a.b"/></selinux>`), line: 2, col: 10, elem: "<associate>", msg: `needs both own="bus.name" and context=`},
		{name: "associate bad attribute", text: wrap(`<selinux><associate own="a.b" context="c" user="x"/></selinux>`), msg: `attribute "user" is not allowed on <associate>`},
		{name: "selinux attribute", text: wrap(`<selinux enforcing="1"/>`), msg: `<selinux> takes no attributes`},
		{name: "apparmor bad mode", text: wrap(`<apparmor mode="plaintive"/>`), line: 2, col: 11, elem: "<apparmor>", msg: `must be "enabled", "disabled" or "required", not "plaintive"`},
		{name: "apparmor bad attribute", text: wrap(`<apparmor enforcement_style="Judge Dredd"/>`), msg: `attribute "enforcement_style" is not allowed on <apparmor>`},
		// Includes
		{name: "bad ignore_missing", text: wrap(`<include ignore_missing="y">x.conf</include>`), line: 2, col: 10, elem: "<include>", msg: `must be "yes" or "no", not "y"`},
		{name: "bad if_selinux_enabled", text: wrap(`<include if_selinux_enabled="moo">x.conf</include>`), msg: `must be "yes" or "no", not "moo"`},
		{name: "bad selinux_root_relative", text: wrap(`<include selinux_root_relative="jomoma">x.conf</include>`), msg: `must be "yes" or "no", not "jomoma"`},
		{name: "selinux_root_relative", text: wrap(`<include selinux_root_relative="yes">contexts/x</include>`), line: 2, col: 1, elem: "<include>", msg: `selinux_root_relative="yes" needs the SELinux policy root`},
		{name: "include attribute on includedir", text: wrap(`<includedir ignore_missing="yes">d</includedir>`), msg: `<includedir> takes no attributes`},
		{name: "missing include", text: wrap(`<include>nope.conf</include>`), line: 2, col: 1, elem: "<include>", msg: `cannot read /etc/nope.conf: it does not exist; fix the path, or add ignore_missing="yes"`},
		{name: "include of a directory", text: wrap(`<include ignore_missing="yes">dir.conf</include>`), elem: "<include>", msg: "is not a regular file"},
		{name: "include cycle", text: wrap(`<include>self.conf</include>`), elem: "<include>", msg: "circular inclusion: /etc/self.conf -> /etc/self.conf"},
		{name: "include cycle through two files", text: wrap(`<include>a.conf</include>`), elem: "<include>", msg: "circular inclusion: /etc/a.conf -> /etc/b.conf -> /etc/a.conf"},
		{name: "include of the top file", text: wrap(`<include>test.conf</include>`), elem: "<include>", msg: "circular inclusion: /etc/test.conf -> /etc/test.conf"},
		{name: "error in included file", text: wrap(`<include>bad.conf</include>`), line: 2, col: 3, elem: "<bees>", msg: "not a configuration element"},
		{name: "includes disabled", text: wrap(`<include>a.conf</include>`), opts: func(o *Options) { o.NoIncludes = true }, line: 2, col: 1, elem: "<include>", msg: "includes are disabled"},
		{name: "includedir disabled", text: wrap(`<includedir>d</includedir>`), opts: func(o *Options) { o.NoIncludes = true }, elem: "<includedir>", msg: "includes are disabled"},
		{name: "include too deep", text: wrap(`<include>deep0.conf</include>`), opts: func(o *Options) { o.MaxIncludeDepth = 3 }, elem: "<include>", msg: "includes nest more than 3 deep"},
		{name: "too many files", text: wrap(`<include>deep0.conf</include>`), opts: func(o *Options) { o.MaxFiles = 3 }, elem: "<include>", msg: "more than 3 files"},
		{name: "too many bytes", text: wrap(`<include>deep0.conf</include>`), opts: func(o *Options) { o.MaxBytes = 150 }, elem: "<include>", msg: "more than 150 bytes"},
		{name: "input too large", text: wrap(""), opts: func(o *Options) { o.MaxBytes = 10 }, msg: "larger than 10 bytes"},
		// Strict
		{name: "strict name", text: wrap(`<policy context="default"><allow send_destination="a.b"
 send_path="/trailing/"/></policy>`), opts: func(o *Options) { o.Strict = true }, line: 3, col: 2, elem: "<allow>", msg: `invalid D-Bus object path "/trailing/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			o.FS = fsys
			if tt.opts != nil {
				tt.opts(&o)
			}
			e := parseErr(t, o, tt.text)
			if !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("Msg = %q, want it to contain %q", e.Msg, tt.msg)
			}
			if tt.line != 0 && e.Pos.Line != tt.line || tt.col != 0 && e.Pos.Col != tt.col {
				t.Errorf("at %d:%d, want %d:%d (%v)", e.Pos.Line, e.Pos.Col, tt.line, tt.col, e)
			}
			if tt.elem != "" && e.Element != tt.elem {
				t.Errorf("Element = %q, want %q", e.Element, tt.elem)
			}
			if e.Pos.File == "" {
				t.Errorf("no file in %v", e)
			}
			s := e.Error()
			if !strings.HasPrefix(s, e.Pos.File+":") {
				t.Errorf("Error() = %q does not start with the file", s)
			}
		})
	}
}

func TestErrorChain(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/one.conf": {Data: []byte("<busconfig>\n<include>two.conf</include></busconfig>")},
		"etc/two.conf": {Data: []byte("<busconfig>\n\n<fork>x</fork></busconfig>")},
	}
	o := testOptions()
	o.FS = fsys
	e := parseErr(t, o, "<busconfig>"+listen+"\n\n\n<include>one.conf</include></busconfig>")
	want := `/etc/two.conf:3:7: <fork>: text is not allowed here (found "x"); <fork> holds no text (included from /etc/one.conf:2:1) (included from /etc/test.conf:4:1)`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	var err error = e
	if !errors.Is(err, e) || errors.Unwrap(err) != nil {
		t.Error("unexpected wrapping")
	}
}

func TestTooLargeIsMatchable(t *testing.T) {
	o := testOptions()
	o.MaxBytes = 10
	_, err := o.Parse(strings.NewReader(wrap("")), "x", "")
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("error %v does not match ErrTooLarge", err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.conf"))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(e.Msg, "does not exist") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestIncludeDirUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read any directory")
	}
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	if err := os.Mkdir(d, 0); err != nil {
		t.Fatal(err)
	}
	_, err := testOptions().Parse(strings.NewReader(wrap(`<includedir>d</includedir>`)), filepath.Join(dir, "m.conf"), "")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("got %v", err)
	}
}

func TestIfSELinuxEnabledIsSkipped(t *testing.T) {
	c := parse(t, wrap(`<include if_selinux_enabled="yes" selinux_root_relative="yes">contexts/dbus_contexts</include>
<include if_selinux_enabled="yes">/no/such/file</include>`))
	if len(c.Files) != 1 {
		t.Errorf("Files = %q", c.Files)
	}
}

func TestRuleString(t *testing.T) {
	c := parse(t, "<busconfig>"+listen+"\n<policy context=\"default\">\n  <deny send_destination=\"a.b\" send_interface=\"x&amp;y\"/></policy></busconfig>")
	r := c.Policy.def.send[0]
	want := `<deny send_destination="a.b" send_interface="x&amp;y"/> in <policy context="default"> at /etc/test.conf:3:3`
	if r.String() != want || r.Allow() || r.Log() || r.Pos() != (Position{"/etc/test.conf", 3, 3}) {
		t.Errorf("String() = %s", r.String())
	}
}

func TestPositionString(t *testing.T) {
	for _, tt := range []struct {
		p    Position
		want string
	}{
		{Position{"f", 1, 2}, "f:1:2"},
		{Position{"f", 1, 0}, "f:1"},
		{Position{"f", 0, 0}, "f"},
		{Position{"", 3, 4}, "<input>:3:4"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v: %q, want %q", tt.p, got, tt.want)
		}
	}
}
