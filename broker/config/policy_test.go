package config

import (
	"os"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// policyOf parses the <policy> elements in body.
func policyOf(t *testing.T, body string) *Policy {
	t.Helper()
	return parse(t, wrap(body)).Policy
}

var (
	alice     = Subject{UID: 1000, GIDs: []uint32{1000, 50}} // groups alice, staff
	bob       = Subject{UID: 1001, GIDs: []uint32{50, 10}}   // groups staff, wheel
	root      = Subject{UID: 0, GIDs: []uint32{0}}
	stranger  = Subject{UID: 4000, GIDs: []uint32{4000}}
	call      = &Message{Type: wire.MethodCall, Path: "/org/example/Obj", Interface: "org.example.Iface", Member: "Do", Destination: "org.example.Service"}
	signal    = &Message{Type: wire.Signal, Path: "/org/example/Obj", Interface: "org.example.Iface", Member: "Changed"}
	reply     = &Message{Type: wire.MethodReturn, Destination: ":1.7", ReplySerial: 3, RequestedReply: true}
	unreplied = &Message{Type: wire.MethodReturn, Destination: ":1.7", ReplySerial: 3}
	errReply  = &Message{Type: wire.Error, ErrorName: "org.example.Error.Failed", Destination: ":1.7", ReplySerial: 3, RequestedReply: true}
	service   = []string{":1.5", "org.example.Service"}
	other     = []string{":1.6", "org.example.Other"}
)

func TestEvaluationOrder(t *testing.T) {
	// Each scope overrides the earlier ones for org.example.A, whatever the file order.
	p := policyOf(t, `
<policy context="mandatory"><deny own="org.example.M"/></policy>
<policy user="alice"><deny own="org.example.A"/><allow own="org.example.M"/><allow own="org.example.U"/></policy>
<policy group="staff"><allow own="org.example.A"/><deny own="org.example.G"/></policy>
<policy context="default"><deny own="org.example.A"/><allow own="org.example.G"/><allow own="org.example.U"/><allow own="org.example.M"/></policy>
<policy group="wheel"><allow own="org.example.G"/></policy>
`)
	tests := []struct {
		s    Subject
		name string
		want bool
	}{
		{stranger, "org.example.A", false},                                   // default denies
		{stranger, "org.example.G", true},                                    // default allows
		{stranger, "org.example.M", false},                                   // mandatory overrides default
		{bob, "org.example.A", true},                                         // group staff overrides default
		{bob, "org.example.G", true},                                         // group wheel comes after group staff in bob's GIDs
		{Subject{UID: 1001, GIDs: []uint32{10, 50}}, "org.example.G", false}, // and the other way round
		{alice, "org.example.A", false},                                      // user overrides group
		{alice, "org.example.G", false},                                      // group staff overrides default
		{alice, "org.example.U", true},
		{alice, "org.example.M", false}, // mandatory overrides user
		{Subject{UID: 1000}, "org.example.A", false},
	}
	for _, tt := range tests {
		if got := p.CanOwn(tt.s, tt.name); got != tt.want {
			t.Errorf("CanOwn(%+v, %s) = %v, want %v", tt.s, tt.name, got, tt.want)
		}
	}
}

func TestLastMatchWins(t *testing.T) {
	p := policyOf(t, `<policy context="default">
  <allow own="*"/>
  <deny own="org.example.A"/>
  <allow own="org.example.A"/>
  <deny own_prefix="org.example.B"/>
</policy>
<policy context="default">
  <deny own="org.example.C"/>
</policy>`)
	sp := p.For(alice)
	for name, want := range map[string]bool{
		"org.example.A": true, "org.example.B": false, "org.example.B.x": false,
		"org.example.Bx": true, "org.example.C": false, "org.example.D": true,
	} {
		if v := sp.CheckOwn(name); v.Allowed != want || v.Rule == nil {
			t.Errorf("CheckOwn(%s) = %+v, want %v", name, v, want)
		}
	}
	v := sp.CheckOwn("org.example.B.x")
	if v.Rule.Pos().Line != 6 || !strings.Contains(v.Rule.String(), `<deny own_prefix="org.example.B"/>`) {
		t.Errorf("deciding rule %v", v.Rule)
	}
}

func TestDefaultDeny(t *testing.T) {
	for _, p := range []*Policy{nil, policyOf(t, "")} {
		sp := p.For(alice)
		if sp.CanOwn("org.example.A") || sp.CanSend(call, service) || sp.CanReceive(call, other, false) {
			t.Error("a policy without rules allows something")
		}
		if v := sp.CheckSend(call, service); v.Rule != nil {
			t.Errorf("verdict without a matching rule names %v", v.Rule)
		}
		if !p.CanConnect(Subject{UID: 7}, 7) || p.CanConnect(Subject{UID: 8}, 7) {
			t.Error("without connect rules only the bus's own user may connect")
		}
	}
}

func TestOwn(t *testing.T) {
	p := policyOf(t, `<policy context="default">
  <allow own_prefix="org.example"/>
  <deny own="org.example.Reserved"/>
  <allow own_prefix=""/>
</policy>`)
	for name, want := range map[string]bool{
		"org.example":            true,
		"org.example.A":          true,
		"org.example.A.B":        true,
		"org.examples":           false,
		"org.exampl":             false,
		"org.example.Reserved":   false,
		"org.example.Reserved.X": true,
		"com.example":            false,
	} {
		if got := p.CanOwn(alice, name); got != want {
			t.Errorf("CanOwn(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestSendDestination(t *testing.T) {
	p := policyOf(t, `<policy context="default">
  <allow send_destination="org.example.Service"/>
  <allow send_destination_prefix="org.example.Tree"/>
  <allow send_destination=":1.9"/>
</policy>`)
	sp := p.For(alice)
	tests := []struct {
		names []string
		want  bool
	}{
		{service, true},
		{[]string{":1.5", "org.example.Queued", "org.example.Service"}, true}, // any owned name counts
		{other, false},
		{nil, false},
		{[]string{":1.4", "org.example.Tree"}, true},
		{[]string{":1.4", "org.example.Tree.Leaf"}, true},
		{[]string{":1.4", "org.example.Trees"}, false},
		{[]string{":1.9"}, true}, // unique names are names too
	}
	for _, tt := range tests {
		if got := sp.CanSend(call, tt.names); got != tt.want {
			t.Errorf("CanSend(call, %q) = %v, want %v", tt.names, got, tt.want)
		}
	}
	// Broadcasts are checked per recipient, with the recipient's names.
	if !sp.CanSend(signal, service) || sp.CanSend(signal, other) {
		t.Error("send_destination does not apply to a broadcast's recipients")
	}
}

func TestSendDestinationWildcard(t *testing.T) {
	p := policyOf(t, `<policy context="default"><allow send_destination="*"/></policy>`)
	if !p.CanSend(alice, signal, nil) || !p.CanSend(alice, call, other) {
		t.Error(`send_destination="*" should match any message`)
	}
}

func TestSendFields(t *testing.T) {
	withoutIface := &Message{Type: wire.MethodCall, Path: "/org/example/Obj", Member: "Do", Destination: "org.example.Service"}
	fds := &Message{Type: wire.MethodCall, Path: "/", Interface: "org.example.Iface", Member: "Do", Destination: "org.example.Service", UnixFDs: 2}
	tests := []struct {
		name  string
		rules string
		m     *Message
		want  bool
	}{
		{"type", `<allow send_type="method_call"/>`, call, true},
		{"other type", `<allow send_type="signal"/>`, call, false},
		{"type wildcard", `<allow send_type="*"/>`, call, true},
		{"interface", `<allow send_interface="org.example.Iface"/>`, call, true},
		{"other interface", `<allow send_interface="org.example.Other"/>`, call, false},
		{"allow with interface needs one", `<allow send_interface="org.example.Iface"/>`, withoutIface, false},
		{"deny with interface hits messages without one", `<allow send_type="*"/><deny send_interface="org.example.Iface"/>`, withoutIface, false},
		{"deny with other interface", `<allow send_type="*"/><deny send_interface="org.example.Other"/>`, call, true},
		{"interface wildcard", `<allow send_interface="*"/>`, withoutIface, true},
		{"empty interface is not a wildcard", `<allow send_interface=""/>`, call, false},
		{"member", `<allow send_interface="org.example.Iface" send_member="Do"/>`, call, true},
		{"other member", `<allow send_interface="org.example.Iface" send_member="Undo"/>`, call, false},
		{"member rule matches a message without member", `<allow send_path="/org/example/Obj" send_member="Undo"/>`, &Message{Type: wire.MethodCall, Path: "/org/example/Obj"}, true},
		{"path", `<allow send_path="/org/example/Obj"/>`, call, true},
		{"other path", `<allow send_path="/org/example"/>`, call, false},
		{"path rule matches a reply, which has no path", `<allow send_path="/org/example"/>`, reply, true},
		{"error", `<allow send_error="org.example.Error.Failed"/>`, errReply, true},
		{"other error", `<allow send_error="org.example.Error.Other"/>`, errReply, false},
		{"error rule matches a message without error name", `<allow send_error="org.example.Error.Other"/>`, call, true},
		{"broadcast true", `<allow send_broadcast="true"/>`, signal, true},
		{"broadcast true, unicast", `<allow send_broadcast="true"/>`, call, false},
		{"broadcast false", `<allow send_broadcast="false"/>`, call, true},
		{"broadcast false, broadcast", `<allow send_broadcast="false"/>`, signal, false},
		{"unicast signal is not a broadcast", `<allow send_broadcast="true"/>`, &Message{Type: wire.Signal, Path: "/", Interface: "a.b", Member: "S", Destination: ":1.5"}, false},
		{"broadcast with wildcard destination", `<allow send_broadcast="true" send_destination="*"/>`, signal, true},
		{"max_fds", `<allow send_type="*"/><deny send_type="*" min_fds="1"/>`, fds, false},
		{"max_fds allows fewer", `<allow send_type="*"/><deny send_type="*" min_fds="3"/>`, fds, true},
		{"max_fds range", `<allow send_type="*" max_fds="2" min_fds="2"/>`, fds, true},
		{"max_fds below", `<allow send_type="*" max_fds="1"/>`, fds, false},
		{"all conditions", `<allow send_destination="org.example.Service" send_interface="org.example.Iface" send_member="Do" send_path="/org/example/Obj" send_type="method_call"/>`, call, true},
		{"one condition fails", `<allow send_destination="org.example.Service" send_interface="org.example.Iface" send_member="Do" send_path="/org/example/Obj" send_type="signal"/>`, call, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policyOf(t, `<policy context="default">`+tt.rules+`</policy>`)
			if got := p.CanSend(alice, tt.m, service); got != tt.want {
				t.Errorf("CanSend = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRequestedReply(t *testing.T) {
	tests := []struct {
		rules         string
		requested     bool // for a requested reply
		unrequested   bool // for an unrequested one
		notReplyToo   bool // for a method call: requested_reply does not apply
		receiveSuffix bool
	}{
		// <allow> defaults to requested_reply="true": only requested replies.
		{rules: `<allow send_type="method_return"/>`, requested: true, unrequested: false},
		{rules: `<allow send_type="method_return" send_requested_reply="false"/>`, requested: true, unrequested: true},
		{rules: `<allow send_type="method_return" send_requested_reply="true"/>`, requested: true, unrequested: false},
		// eavesdrop="true" makes an allow match unrequested replies too.
		{rules: `<allow send_type="method_return" eavesdrop="true"/>`, requested: true, unrequested: true},
		// <deny> defaults to requested_reply="false": only unrequested replies.
		{rules: `<allow send_type="*" send_requested_reply="false"/><deny send_type="method_return"/>`, requested: true, unrequested: false},
		{rules: `<allow send_type="*" send_requested_reply="false"/><deny send_type="method_return" send_requested_reply="true"/>`, requested: false, unrequested: false},
	}
	for _, tt := range tests {
		p := policyOf(t, `<policy context="default">`+tt.rules+`</policy>`)
		if got := p.CanSend(alice, reply, other); got != tt.requested {
			t.Errorf("%s: requested reply: %v, want %v", tt.rules, got, tt.requested)
		}
		if got := p.CanSend(alice, unreplied, other); got != tt.unrequested {
			t.Errorf("%s: unrequested reply: %v, want %v", tt.rules, got, tt.unrequested)
		}
		// The receive side works the same way.
		recv := strings.NewReplacer("send_", "receive_").Replace(tt.rules)
		p = policyOf(t, `<policy context="default">`+recv+`</policy>`)
		if got := p.CanReceive(alice, reply, other, false); got != tt.requested {
			t.Errorf("%s: receive requested reply: %v, want %v", recv, got, tt.requested)
		}
		if got := p.CanReceive(alice, unreplied, other, false); got != tt.unrequested {
			t.Errorf("%s: receive unrequested reply: %v, want %v", recv, got, tt.unrequested)
		}
	}
	// A message with no reply serial is not subject to requested_reply, even if the
	// caller says it was requested.
	p := policyOf(t, `<policy context="default"><allow send_type="*" send_requested_reply="false"/><deny send_type="*" send_requested_reply="false"/></policy>`)
	m := *call
	m.RequestedReply = true
	if p.CanSend(alice, &m, service) {
		t.Error("requested_reply applied to a method call")
	}
}

func TestReceive(t *testing.T) {
	p := policyOf(t, `<policy context="default">
  <allow receive_type="*"/>
  <deny receive_sender="org.example.Other" receive_interface="org.example.Iface"/>
</policy>`)
	sp := p.For(alice)
	if !sp.CanReceive(call, service, false) || sp.CanReceive(call, other, false) {
		t.Error("receive_sender")
	}
	// From the bus driver, senderNames is its name.
	p = policyOf(t, `<policy context="default"><allow receive_sender="org.freedesktop.DBus"/></policy>`)
	if !p.CanReceive(alice, signal, []string{"org.freedesktop.DBus"}, false) || p.CanReceive(alice, signal, other, false) {
		t.Error("receive_sender for the bus driver")
	}
}

func TestEavesdrop(t *testing.T) {
	// call has a destination, so a copy to another connection is eavesdropped.
	tests := []struct {
		rules       string
		normal, eav bool
	}{
		{`<allow receive_type="*"/>`, true, false},
		{`<allow receive_type="*" eavesdrop="true"/>`, true, true},
		{`<allow eavesdrop="true"/>`, true, true}, // the session bus's rule
		{`<allow eavesdrop="false"/>`, true, false},
		{`<allow eavesdrop="true"/><deny receive_type="*" eavesdrop="true"/>`, true, false},
		{`<allow eavesdrop="true"/><deny receive_type="*"/>`, false, false},
		{`<allow eavesdrop="true"/><deny receive_type="*" eavesdrop="false"/>`, false, false},
	}
	for _, tt := range tests {
		p := policyOf(t, `<policy context="default">`+tt.rules+`</policy>`)
		sp := p.For(alice)
		if got := sp.CanReceive(call, service, false); got != tt.normal {
			t.Errorf("%s: addressed recipient: %v, want %v", tt.rules, got, tt.normal)
		}
		if got := sp.CanReceive(call, service, true); got != tt.eav {
			t.Errorf("%s: eavesdropper: %v, want %v", tt.rules, got, tt.eav)
		}
		// A broadcast is never eavesdropped.
		if got := sp.CanReceive(signal, service, true); got != tt.normal {
			t.Errorf("%s: broadcast to a connection with eavesdrop set: %v, want %v", tt.rules, got, tt.normal)
		}
	}
	// An eavesdropped reply is not requested.
	p := policyOf(t, `<policy context="default"><allow receive_type="*" eavesdrop="true" receive_requested_reply="true"/><deny receive_type="method_return" eavesdrop="true"/></policy>`)
	if p.CanReceive(alice, reply, service, true) {
		t.Error("an eavesdropped reply counted as requested")
	}
	// On the send side, eavesdrop="true" lets a reply through to an eavesdropper, for which
	// the bus passes RequestedReply false.
	p = policyOf(t, `<policy context="default"><allow send_destination="*" eavesdrop="true"/></policy>`)
	if !p.CanSend(alice, unreplied, service) {
		t.Error(`send rule with eavesdrop="true" does not match an unrequested reply`)
	}
}

func TestConnect(t *testing.T) {
	p := policyOf(t, `
<policy context="default">
  <allow user="*"/>
  <deny user="bob"/>
  <deny group="wheel"/>
  <allow user="root"/>
</policy>
<policy context="mandatory">
  <deny user="messagebus"/>
</policy>
<policy user="alice"><allow own="org.example.A"/></policy>`)
	tests := []struct {
		s    Subject
		want bool
	}{
		{alice, true},
		{bob, false},
		{Subject{UID: 2000, GIDs: []uint32{10}}, false}, // group wheel
		{root, true},
		{Subject{UID: 0, GIDs: []uint32{10}}, true}, // user root comes after group wheel
		{Subject{UID: 100}, false},                  // mandatory
		{stranger, true},
	}
	for _, tt := range tests {
		if got := p.CanConnect(tt.s, 100); got != tt.want {
			t.Errorf("CanConnect(%+v) = %v, want %v", tt.s, got, tt.want)
		}
	}
	p = policyOf(t, `<policy context="default"><allow group="*"/><deny user="alice"/></policy>`)
	if !p.CanConnect(bob, 0) || p.CanConnect(alice, 0) {
		t.Error(`group="*"`)
	}
}

func TestAtConsole(t *testing.T) {
	p := policyOf(t, `
<policy at_console="true"><allow own="org.example.Console"/></policy>
<policy at_console="false"><allow own="org.example.Remote"/></policy>
<policy context="default"><deny own="*"/></policy>
<policy user="alice"><deny own="org.example.Console"/></policy>`)
	here := Subject{UID: 1001, AtConsole: true}
	there := Subject{UID: 1001}
	if !p.CanOwn(here, "org.example.Console") || p.CanOwn(here, "org.example.Remote") {
		t.Error("at_console=true")
	}
	if p.CanOwn(there, "org.example.Console") || !p.CanOwn(there, "org.example.Remote") {
		t.Error("at_console=false")
	}
	// Console policies come after user policies.
	if !p.CanOwn(Subject{UID: 1000, AtConsole: true}, "org.example.Console") {
		t.Error("at_console policy does not override the user policy")
	}
}

func TestForSharesAndDoesNotAllocate(t *testing.T) {
	p := policyOf(t, `<policy user="alice"><allow own="a.b"/></policy><policy group="wheel"><allow own="a.c"/></policy><policy context="default"><allow send_destination="*"/></policy>`)
	if p.For(stranger) != p.For(Subject{UID: 5}) {
		t.Error("connections without user or group policies do not share a SubjectPolicy")
	}
	if p.For(stranger) == p.For(alice) || p.For(stranger) == p.For(bob) {
		t.Error("a connection with a user or group policy got the shared SubjectPolicy")
	}
	sp := p.For(bob)
	// Duplicate groups do not repeat rules.
	if n := len(p.For(Subject{UID: 9, GIDs: []uint32{10, 10, 10}}).own); n != 1 {
		t.Errorf("%d own rules for a subject listing wheel three times", n)
	}
	names := []string{":1.1", "a.b"}
	if n := testing.AllocsPerRun(100, func() {
		sp.CanSend(call, names)
		sp.CanReceive(call, names, true)
		sp.CanOwn("a.c")
		p.For(stranger)
		p.CanConnect(alice, 0)
	}); n != 0 {
		t.Errorf("%v allocations per check", n)
	}
}

func TestMessageOf(t *testing.T) {
	w := &wire.Message{Type: wire.Error, Path: "/p", Interface: "a.b", Member: "M", ErrorName: "a.E",
		ReplySerial: 9, Destination: ":1.2", Sender: ":1.3", UnixFDs: 4, Serial: 7}
	want := Message{Type: wire.Error, Path: "/p", Interface: "a.b", Member: "M", ErrorName: "a.E",
		Destination: ":1.2", ReplySerial: 9, UnixFDs: 4}
	if got := MessageOf(w); got != want {
		t.Errorf("MessageOf = %+v", got)
	}
}

func loadSystemConf(tb testing.TB) *Config {
	tb.Helper()
	const name = "/usr/share/dbus-1/system.conf"
	if _, err := os.Stat(name); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing; CI installs dbus-daemon", name)
		}
		tb.Skipf("dbus-daemon's configuration is not installed: %v", err)
	}
	o := Options{LookupUser: fakeLookup(testUsers, "user"), LookupGroup: fakeLookup(testGroups, "group")}
	c, err := o.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestSystemBusPolicy checks decisions of the shipped system bus policy that do not depend on
// which services are installed.
func TestSystemBusPolicy(t *testing.T) {
	c := loadSystemConf(t)
	user := c.Policy.For(Subject{UID: 1000, GIDs: []uint32{1000}})
	admin := c.Policy.For(Subject{UID: 0, GIDs: []uint32{0}})
	driver := []string{"org.freedesktop.DBus"}
	toDriver := func(iface, member string) *Message {
		return &Message{Type: wire.MethodCall, Path: "/org/freedesktop/DBus", Interface: iface, Member: member, Destination: "org.freedesktop.DBus"}
	}
	svc := []string{":1.40", "org.example.Unlisted"}
	tests := []struct {
		name string
		sp   *SubjectPolicy
		m    *Message
		dest []string
		want bool
	}{
		{"Hello", user, toDriver("org.freedesktop.DBus", "Hello"), driver, true},
		{"RequestName", user, toDriver("org.freedesktop.DBus", "RequestName"), driver, true},
		{"Introspect the driver", user, toDriver("org.freedesktop.DBus.Introspectable", "Introspect"), driver, true},
		{"UpdateActivationEnvironment", user, toDriver("org.freedesktop.DBus", "UpdateActivationEnvironment"), driver, false},
		{"Monitoring as a user", user, toDriver("org.freedesktop.DBus.Monitoring", "BecomeMonitor"), driver, false},
		{"Monitoring as root", admin, toDriver("org.freedesktop.DBus.Monitoring", "BecomeMonitor"), driver, true},
		{"Stats as root", admin, toDriver("org.freedesktop.DBus.Debug.Stats", "GetStats"), driver, true},
		{"Stats as a user", user, toDriver("org.freedesktop.DBus.Debug.Stats", "GetStats"), driver, false},
		{"method call to an unlisted service", user, &Message{Type: wire.MethodCall, Path: "/", Interface: "org.example.I", Member: "M", Destination: "org.example.Unlisted"}, svc, false},
		{"broadcast signal", user, signal, svc, true},
		{"requested reply", user, reply, svc, true},
		{"unrequested reply", user, unreplied, svc, false},
		{"requested error", user, errReply, svc, true},
	}
	for _, tt := range tests {
		if got := tt.sp.CanSend(tt.m, tt.dest); got != tt.want {
			t.Errorf("%s: CanSend = %v, want %v (%v)", tt.name, got, tt.want, tt.sp.CheckSend(tt.m, tt.dest).Rule)
		}
	}
	if user.CanOwn("org.example.Unlisted") || admin.CanOwn("org.example.Unlisted") {
		t.Error("names can be owned without a rule")
	}
	if !user.CanReceive(call, svc, false) || user.CanReceive(call, svc, true) {
		t.Error("the system bus receives anything addressed, nothing eavesdropped")
	}
	if !c.Policy.CanConnect(Subject{UID: 1000}, 100) {
		t.Error(`<allow user="*"/> lets anybody connect`)
	}
}

func BenchmarkCanSend(b *testing.B) {
	c := loadSystemConf(b)
	sp := c.Policy.For(Subject{UID: 1000, GIDs: []uint32{1000, 100}})
	cases := []struct {
		name string
		m    *Message
		dest []string
	}{
		{"call", &Message{Type: wire.MethodCall, Path: "/org/freedesktop/login1", Interface: "org.freedesktop.login1.Manager", Member: "ListSessions", Destination: "org.freedesktop.login1"}, []string{":1.3", "org.freedesktop.login1"}},
		{"driver", &Message{Type: wire.MethodCall, Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "AddMatch", Destination: "org.freedesktop.DBus"}, []string{"org.freedesktop.DBus"}},
		{"signal", signal, []string{":1.77"}},
		{"reply", reply, []string{":1.77"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sp.CanSend(tc.m, tc.dest)
			}
		})
	}
}

func BenchmarkFor(b *testing.B) {
	c := loadSystemConf(b)
	for _, s := range []struct {
		name string
		s    Subject
	}{{"user", Subject{UID: 1000, GIDs: []uint32{1000}}}, {"root", Subject{UID: 0, GIDs: []uint32{0}}}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Policy.For(s.s)
			}
		})
	}
}

func BenchmarkLoadSystemConf(b *testing.B) {
	loadSystemConf(b)
	o := Options{LookupUser: fakeLookup(testUsers, "user"), LookupGroup: fakeLookup(testGroups, "group")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := o.Load("/usr/share/dbus-1/system.conf"); err != nil {
			b.Fatal(err)
		}
	}
}
