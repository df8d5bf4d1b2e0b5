package match

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/wire"
)

// validRules are rules Parse accepts, with the rule it returns and its
// canonical form.
var validRules = []struct {
	in        string
	want      Rule
	canonical string
}{
	{"", Rule{}, ""},
	{"   ", Rule{}, ""},
	{"type='signal'", Rule{Type: wire.Signal}, "type='signal'"},
	{"type=method_call", Rule{Type: wire.MethodCall}, "type='method_call'"},
	{"type='method_return'", Rule{Type: wire.MethodReturn}, "type='method_return'"},
	{"type='error'", Rule{Type: wire.Error}, "type='error'"},
	{
		"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',path='/org/freedesktop/DBus',destination=':1.5',arg0='org.example',arg2=''",
		Rule{
			Type: wire.Signal, Sender: "org.freedesktop.DBus", Interface: "org.freedesktop.DBus",
			Member: "NameOwnerChanged", Path: "/org/freedesktop/DBus", Destination: ":1.5",
			Args: []ArgMatch{{0, "org.example"}, {2, ""}},
		},
		"type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',path='/org/freedesktop/DBus',destination=':1.5',arg0='org.example',arg2=''",
	},
	{
		// Keys in any order; canonical order is fixed.
		"arg2='c',eavesdrop='true',arg1path='/a/',member='M',arg0='a',type='error',sender=':1.1'",
		Rule{Type: wire.Error, Sender: ":1.1", Member: "M", Args: []ArgMatch{{0, "a"}, {2, "c"}}, ArgPaths: []ArgMatch{{1, "/a/"}}, Eavesdrop: true},
		"type='error',sender=':1.1',member='M',arg0='a',arg1path='/a/',arg2='c',eavesdrop='true'",
	},
	{"  type='signal',\n\tmember='Foo'", Rule{Type: wire.Signal, Member: "Foo"}, "type='signal',member='Foo'"},
	{"member='Foo',", Rule{Member: "Foo"}, "member='Foo'"},
	{"member='Foo', ", Rule{Member: "Foo"}, "member='Foo'"},
	{"type ='signal', member\t='Foo'", Rule{Type: wire.Signal, Member: "Foo"}, "type='signal',member='Foo'"},
	{"path_namespace='/'", Rule{PathNamespace: "/"}, "path_namespace='/'"},
	{"path_namespace='/org/example'", Rule{PathNamespace: "/org/example"}, "path_namespace='/org/example'"},
	{"path=/", Rule{Path: "/"}, "path='/'"},
	{"destination='org.example.Service'", Rule{Destination: "org.example.Service"}, "destination='org.example.Service'"},
	{"sender='org.example.with-dash'", Rule{Sender: "org.example.with-dash"}, "sender='org.example.with-dash'"},
	{"eavesdrop='false'", Rule{}, ""},
	{"eavesdrop=true", Rule{Eavesdrop: true}, "eavesdrop='true'"},
	{"arg63='last'", Rule{Args: []ArgMatch{{63, "last"}}}, "arg63='last'"},
	{"arg01='x'", Rule{Args: []ArgMatch{{1, "x"}}}, "arg1='x'"},
	{"arg0path='/aa/bb/'", Rule{ArgPaths: []ArgMatch{{0, "/aa/bb/"}}}, "arg0path='/aa/bb/'"},
	{"arg3path=''", Rule{ArgPaths: []ArgMatch{{3, ""}}}, "arg3path=''"},
	{"arg0namespace='com.example.backend1'", Rule{Arg0Namespace: "com.example.backend1"}, "arg0namespace='com.example.backend1'"},
	{"arg0namespace='org'", Rule{Arg0Namespace: "org"}, "arg0namespace='org'"},
	{"arg0namespace=':1'", Rule{Arg0Namespace: ":1"}, "arg0namespace=':1'"},
	{"arg0namespace=':1.5'", Rule{Arg0Namespace: ":1.5"}, "arg0namespace=':1.5'"},
	{"arg0namespace='with-dash'", Rule{Arg0Namespace: "with-dash"}, "arg0namespace='with-dash'"},
	{"arg0namespace='a',arg1='b'", Rule{Arg0Namespace: "a", Args: []ArgMatch{{1, "b"}}}, "arg0namespace='a',arg1='b'"},

	// Quoting and escaping, as dbus-daemon reads them.
	{`arg0='don'\''t'`, Rule{Args: []ArgMatch{{0, "don't"}}}, `arg0='don'\''t'`},
	{`arg0=\'`, Rule{Args: []ArgMatch{{0, "'"}}}, `arg0=''\'''`},
	{`arg0='a\b'`, Rule{Args: []ArgMatch{{0, `a\b`}}}, `arg0='a\b'`},
	{`arg0=a\b`, Rule{Args: []ArgMatch{{0, `a\b`}}}, `arg0='a\b'`},
	{`arg0=a\,b,arg1=c`, Rule{Args: []ArgMatch{{0, `a\,b`}, {1, "c"}}}, `arg0='a\,b',arg1='c'`},
	{`arg0=a\\b`, Rule{Args: []ArgMatch{{0, `a\\b`}}}, `arg0='a\\b'`},
	{`arg0=x\\'y'`, Rule{Args: []ArgMatch{{0, `x\\y`}}}, `arg0='x\\y'`},
	{`arg0=trailing\`, Rule{Args: []ArgMatch{{0, `trailing\`}}}, `arg0='trailing\'`},
	{`arg0='a,b',arg1='c=d'`, Rule{Args: []ArgMatch{{0, "a,b"}, {1, "c=d"}}}, `arg0='a,b',arg1='c=d'`},
	{`arg0=ab'c,d'ef`, Rule{Args: []ArgMatch{{0, "abc,def"}}}, `arg0='abc,def'`},
	{`arg0='',arg1=`, Rule{Args: []ArgMatch{{0, ""}, {1, ""}}}, `arg0='',arg1=''`},
	{`arg0=' spaced '`, Rule{Args: []ArgMatch{{0, " spaced "}}}, `arg0=' spaced '`},
	{`arg0='ünïcödé'`, Rule{Args: []ArgMatch{{0, "ünïcödé"}}}, `arg0='ünïcödé'`},
	{`arg0=''''`, Rule{Args: []ArgMatch{{0, ""}}}, `arg0=''`},
}

func TestParse(t *testing.T) {
	for _, tt := range validRules {
		t.Run(tt.in, func(t *testing.T) {
			r, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !r.Equal(&tt.want) {
				t.Errorf("Parse = %#v, want %#v", r, tt.want)
			}
			c := r.String()
			if c != tt.canonical {
				t.Errorf("String = %q, want %q", c, tt.canonical)
			}
			again, err := Parse(c)
			if err != nil {
				t.Fatalf("Parse(String()) = %v", err)
			}
			if !again.Equal(r) || again.String() != c {
				t.Errorf("Parse(%q) = %#v, want %#v", c, again, r)
			}
		})
	}
}

// invalidRules are rules Parse rejects, with the key its error names and
// part of the reason it gives. An empty reason marks a rule that looks
// wrong but is valid.
var invalidRules = []struct {
	in     string
	key    string
	reason string
}{
	{"type='foo'", "type", `unknown message type "foo"`},
	{"type='Signal'", "type", "unknown message type"},
	{"type=''", "type", "unknown message type"},
	{"sender='org..x'", "sender", "element 2 is empty"},
	{"sender=''", "sender", "invalid D-Bus bus name"},
	{"sender='a'", "sender", "two dot-separated elements"},
	{"interface='nodots'", "interface", "invalid D-Bus interface name"},
	{"interface='org.example-dash'", "interface", "only [A-Za-z0-9_]"},
	{"member='1abc'", "member", "must not start with a digit"},
	{"member='a.b'", "member", "only [A-Za-z0-9_]"},
	{"path='no/slash'", "path", "must start with '/'"},
	{"path='/trailing/'", "path", "must not end with '/'"},
	{"path_namespace=''", "path_namespace", "must start with '/'"},
	{"path_namespace='/a//b'", "path_namespace", "empty element"},
	{"destination='a'", "destination", "invalid D-Bus bus name"},
	{"path='/a',path_namespace='/b'", "path_namespace", "cannot be combined"},
	{"path_namespace='/b',path='/a'", "path", "cannot be combined"},
	{"member='A',member='B'", "member", "appears more than once"},
	{"eavesdrop='true',eavesdrop='true'", "eavesdrop", "appears more than once"},
	{"arg0='a',arg0='b'", "arg0", "appears more than once"},
	{"arg1='a',arg01='b'", "arg01", "appears more than once"},
	{"arg0='a',arg0path='/b'", "arg0path", "argument 0 is already matched by arg0"},
	{"arg0path='/',arg0namespace='a.b'", "arg0namespace", "already matched by arg0path"},
	{"arg0namespace='a.b',arg0='x'", "arg0", "already matched by arg0namespace"},
	{"arg64='x'", "arg64", "argument index 64 is larger than 63"},
	{"arg99999999999999999999999='x'", "arg99999999999999999999999", "larger than 63"},
	{"arg1namespace='a.b'", "arg1namespace", "only for the first argument"},
	{"arg0foo='x'", "arg0foo", "argument keys are argN, argNpath or arg0namespace"},
	{"arg0Path='x'", "arg0Path", "argument keys are"},
	{"arg0namespace=''", "arg0namespace", "must not be empty"},
	{"arg0namespace=':'", "arg0namespace", "must not be empty"},
	{"arg0namespace='1abc'", "arg0namespace", "must not start with a digit"},
	{"arg0namespace='a b'", "arg0namespace", "only [A-Za-z0-9_-]"},
	{"arg0namespace='a..b'", "arg0namespace", "element 2 is empty"},
	{"arg0namespace='" + strings.Repeat("a", 256) + "'", "arg0namespace", "longer than 255"},
	{"foo='bar'", "foo", "unknown key"},
	{"arg='x'", "arg", "unknown key"},
	{"Type='signal'", "Type", "unknown key"},
	{"type= 'signal'", "type", `unknown message type " signal"`},
	{"type='signal' ", "type", `unknown message type "signal "`},
	{"arg 1='x'", "arg", "is not followed by '=' and a value"},
	{"arg00namespace='a'", "arg00namespace", "only for the first argument"},
	{"eavesdrop='yes'", "eavesdrop", `"yes" is neither true nor false`},
	{"eavesdrop='TRUE'", "eavesdrop", "neither true nor false"},
	{"type='signal", "type", "opening apostrophe without a closing one"},
	{`arg0='a\'`, "", ""}, // backslash is literal inside quotes: the quote closes, then reopens
	{"type", "type", "has no '=' and value"},
	{"type='signal',member", "member", "has no '=' and value"},
	{"='x'", "", "empty key"},
	{",type='signal'", "", "empty key=value pair"},
	{"type='signal',,member='x'", "", "empty key=value pair"},
	{"arg0='" + strings.Repeat("x", MaxRuleLength) + "'", "", "1031 bytes long; the limit is 1024"},
	{"arg0=" + strings.Repeat("x", MaxRuleLength-5), "", "1026 bytes long in canonical form"},
	{"arg0='\xff'", "", "not valid UTF-8"},
	{"arg0='\x00'", "", "NUL byte"},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range invalidRules {
		t.Run(truncate(tt.in), func(t *testing.T) {
			r, err := Parse(tt.in)
			if tt.reason == "" {
				// Cases that look wrong but are valid.
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = %#v, want an error", r)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is a %T, want *ParseError", err, err)
			}
			if pe.Key != tt.key {
				t.Errorf("error %q names key %q, want %q", err, pe.Key, tt.key)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not contain %q", err, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "invalid match rule: ") {
				t.Errorf("error %q does not say it is about a match rule", err)
			}
		})
	}
}

func TestParseErrorUnwrap(t *testing.T) {
	_, err := Parse("sender='org..x'")
	var ne *wire.NameError
	if !errors.As(err, &ne) || ne.Kind != "bus name" {
		t.Fatalf("error %v does not wrap a *wire.NameError for a bus name", err)
	}
	if _, err := Parse("foo='x'"); errors.Unwrap(err) != nil {
		t.Errorf("error %v wraps %v, want nothing", err, errors.Unwrap(err))
	}
}

func TestParseLongKeyErrorIsShort(t *testing.T) {
	_, err := Parse(strings.Repeat("k", 1000) + "='x'")
	if err == nil || len(err.Error()) > 400 {
		t.Errorf("error for an overlong key is %d bytes: %v", len(err.Error()), err)
	}
}

func TestParseMaximalRule(t *testing.T) {
	// Every key at once: 71 keys, all distinct.
	var keys []string
	keys = append(keys, "type='signal'", "sender=':1.1'", "interface='a.b'", "member='m'", "path_namespace='/'", "destination=':1.2'", "eavesdrop='true'", "arg0namespace='a'")
	for i := 1; i <= MaxArgIndex; i++ {
		if i%2 == 0 {
			keys = append(keys, fmt.Sprintf("arg%d=''", i))
		} else {
			keys = append(keys, fmt.Sprintf("arg%dpath=''", i))
		}
	}
	r, err := Parse(strings.Join(keys, ","))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(r.Args)+len(r.ArgPaths) != MaxArgIndex {
		t.Errorf("got %d argument conditions, want %d", len(r.Args)+len(r.ArgPaths), MaxArgIndex)
	}
	// One more key is necessarily a repeat.
	if _, err := Parse(strings.Join(keys, ",") + ",path='/'"); err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Errorf("72nd key: error %v, want a conflict", err)
	}
}

func TestStringHandBuilt(t *testing.T) {
	r := &Rule{
		Args:     []ArgMatch{{5, "five"}, {1, "one"}},
		ArgPaths: []ArgMatch{{3, "/three/"}, {2, "/two"}},
	}
	want := "arg1='one',arg2path='/two',arg3path='/three/',arg5='five'"
	if got := r.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if r.Args[0].Index != 5 {
		t.Error("String reordered the rule's own Args")
	}
	p, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(r) || !r.Equal(p) {
		t.Errorf("hand-built rule %#v and parsed %#v are not Equal", r, p)
	}
}

func TestEqual(t *testing.T) {
	base := func() *Rule {
		return &Rule{Type: wire.Signal, Sender: ":1.1", Interface: "a.b", Member: "M", Path: "/p", Destination: ":1.2", Args: []ArgMatch{{0, "x"}}, ArgPaths: []ArgMatch{{1, "/y/"}}, Arg0Namespace: "", Eavesdrop: true}
	}
	if !base().Equal(base()) {
		t.Error("identical rules are not Equal")
	}
	for name, change := range map[string]func(r *Rule){
		"type":           func(r *Rule) { r.Type = wire.Error },
		"sender":         func(r *Rule) { r.Sender = ":1.9" },
		"interface":      func(r *Rule) { r.Interface = "a.c" },
		"member":         func(r *Rule) { r.Member = "N" },
		"path":           func(r *Rule) { r.Path = "/q" },
		"path_namespace": func(r *Rule) { r.PathNamespace = "/q" },
		"destination":    func(r *Rule) { r.Destination = ":1.9" },
		"arg value":      func(r *Rule) { r.Args[0].Value = "z" },
		"arg index":      func(r *Rule) { r.Args[0].Index = 2 },
		"extra arg":      func(r *Rule) { r.Args = append(r.Args, ArgMatch{2, ""}) },
		"arg path":       func(r *Rule) { r.ArgPaths = nil },
		"arg0namespace":  func(r *Rule) { r.Arg0Namespace = "a" },
		"eavesdrop":      func(r *Rule) { r.Eavesdrop = false },
	} {
		r := base()
		change(r)
		if r.Equal(base()) || base().Equal(r) {
			t.Errorf("rules that differ in %s are Equal", name)
		}
	}
	var nilRule *Rule
	if !nilRule.Equal(nil) || nilRule.Equal(base()) || base().Equal(nil) {
		t.Error("Equal mishandles nil rules")
	}
}

// msg builds a message with the given body.
func msg(t testing.TB, m wire.Message, sig wire.Signature, values ...any) *wire.Message {
	t.Helper()
	if m.Order == 0 {
		m.Order = wire.LittleEndian
	}
	if sig != "" {
		body, err := wire.Marshal(m.Order, sig, values...)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		m.Signature, m.Body = sig, body
	}
	return &m
}

func TestMatch(t *testing.T) {
	signal := msg(t, wire.Message{
		Type: wire.Signal, Serial: 7, Sender: ":1.5", Destination: ":1.9",
		Path: "/org/example/Obj", Interface: "org.example.Iface", Member: "Changed",
	}, "soisas", "org.example.Foo", wire.ObjectPath("/aa/bb"), int32(5), "x", []string{"y"})
	broadcast := msg(t, wire.Message{
		Type: wire.Signal, Serial: 8, Sender: ":1.5",
		Path: "/org/example/Obj", Interface: "org.example.Iface", Member: "Changed",
	}, "")
	reply := msg(t, wire.Message{Type: wire.MethodReturn, Serial: 9, ReplySerial: 1, Sender: ":1.5", Destination: ":1.9"}, "s", "answer")
	fromBus := msg(t, wire.Message{
		Type: wire.Signal, Serial: 3, Sender: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: "NameOwnerChanged",
	}, "sss", "com.example.backend1.foo", "", ":1.5")

	owners := map[string]string{"org.example.Name": ":1.5", "org.example.Dest": ":1.9", "org.example.Other": ":1.7"}
	owner := func(name string) string {
		if strings.HasPrefix(name, ":") {
			t.Errorf("OwnerFunc called with unique name %q", name)
		}
		return owners[name]
	}

	tests := []struct {
		rule   string
		m      *wire.Message
		want   bool
		owners bool // match with MatchOwners(owner) instead of Match
	}{
		{"", signal, true, false},
		{"", reply, true, false},
		{"type='signal'", signal, true, false},
		{"type='method_call'", signal, false, false},
		{"type='method_return'", reply, true, false},

		{"sender=':1.5'", signal, true, false},
		{"sender=':1.6'", signal, false, false},
		{"sender='org.example.Name'", signal, false, false},
		{"sender='org.example.Name'", signal, true, true},
		{"sender='org.example.Other'", signal, false, true},
		{"sender='org.example.Unowned'", signal, false, true},
		{"sender=':1.5'", signal, true, true},
		{"sender='org.freedesktop.DBus'", fromBus, true, false},
		{"sender='org.freedesktop.DBus'", fromBus, true, true},
		{"sender='org.freedesktop.DBus'", signal, false, true},

		{"interface='org.example.Iface'", signal, true, false},
		{"interface='org.example.Other'", signal, false, false},
		{"interface='org.example.Iface'", reply, false, false}, // no interface header
		{"member='Changed'", signal, true, false},
		{"member='Changed2'", signal, false, false},
		{"member='Changed'", reply, false, false},

		{"path='/org/example/Obj'", signal, true, false},
		{"path='/org/example'", signal, false, false},
		{"path='/org/example/Obj/Child'", signal, false, false},
		{"path_namespace='/org/example/Obj'", signal, true, false},
		{"path_namespace='/org/example'", signal, true, false},
		{"path_namespace='/org'", signal, true, false},
		{"path_namespace='/'", signal, true, false},
		{"path_namespace='/org/ex'", signal, false, false},
		{"path_namespace='/org/example/Ob'", signal, false, false},
		{"path_namespace='/org/example/Obj/Child'", signal, false, false},
		{"path_namespace='/'", reply, false, false}, // no path header

		{"destination=':1.9'", signal, true, false},
		{"destination=':1.8'", signal, false, false},
		{"destination=':1.9'", broadcast, false, false},
		{"destination='org.example.Dest'", signal, false, false},
		{"destination='org.example.Dest'", signal, true, true},
		{"destination='org.example.Other'", signal, false, true},
		{"destination='org.example.Unowned'", signal, false, true},
		{"destination='org.example.Unowned'", broadcast, false, true},

		{"arg0='org.example.Foo'", signal, true, false},
		{"arg0='org.example'", signal, false, false},
		{"arg0=''", signal, false, false},
		{"arg1='/aa/bb'", signal, false, false}, // an object path is not a string
		{"arg2='5'", signal, false, false},      // nor is an int32
		{"arg3='x'", signal, true, false},
		{"arg4='y'", signal, false, false}, // an array of strings is not a string
		{"arg5=''", signal, false, false},  // no such argument
		{"arg63=''", signal, false, false},
		{"arg0='org.example.Foo',arg3='x'", signal, true, false},
		{"arg0='org.example.Foo',arg3='z'", signal, false, false},
		{"arg1=''", fromBus, true, false},
		{"arg0='x'", broadcast, false, false}, // no body at all

		{"arg1path='/aa/bb'", signal, true, false}, // object path arguments count
		{"arg1path='/aa/'", signal, true, false},
		{"arg1path='/'", signal, true, false},
		{"arg1path='/aa/bb/'", signal, false, false},
		{"arg1path='/aa/bb/cc'", signal, false, false},
		{"arg1path='/aa/b'", signal, false, false},
		{"arg0path='org.example.Foo'", signal, true, false},
		{"arg0path='org.'", signal, false, false},
		{"arg2path='5'", signal, false, false},

		{"arg0namespace='com.example.backend1'", fromBus, true, false},
		{"arg0namespace='com.example'", fromBus, true, false},
		{"arg0namespace='com'", fromBus, true, false},
		{"arg0namespace='com.example.backend1.foo'", fromBus, true, false},
		{"arg0namespace='com.example.backend'", fromBus, false, false},
		{"arg0namespace='com.example.backend1.foo.bar'", fromBus, false, false},
		{"arg0namespace='com.example.backend1',arg2=':1.5'", fromBus, true, false},
		{"arg0namespace='org.example'", signal, true, false},

		// Eavesdrop is the bus's business, not Match's.
		{"eavesdrop='true'", signal, true, false},
		{"eavesdrop='true',member='Other'", signal, false, false},

		{"type='signal',sender=':1.5',interface='org.example.Iface',member='Changed',path='/org/example/Obj',destination=':1.9',arg0='org.example.Foo',arg1path='/aa/',arg3='x'", signal, true, false},
		{"type='signal',sender='org.example.Name',interface='org.example.Iface',member='Changed',path_namespace='/org',destination='org.example.Dest',arg0namespace='org.example'", signal, true, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%s", tt.rule, tt.m.Type)
		if tt.owners {
			name += "/owners"
		}
		t.Run(name, func(t *testing.T) {
			r, err := Parse(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			var got, lazy bool
			if tt.owners {
				got = r.MatchOwners(tt.m, ArgsOf(tt.m), owner)
				lazy = r.MatchOwners(tt.m, Args{}, owner)
			} else {
				got = r.Match(tt.m, ArgsOf(tt.m))
				lazy = r.Match(tt.m, Args{})
			}
			if got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
			if lazy != got {
				t.Errorf("with the zero Args, match = %v; with ArgsOf, %v", lazy, got)
			}
		})
	}
}

func TestMatchDestinationResolved(t *testing.T) {
	// A message addressed to a well-known name matches rules naming the
	// owner, or another name of the same owner.
	m := msg(t, wire.Message{Type: wire.MethodCall, Serial: 1, Sender: ":1.1", Destination: "org.example.Dest", Path: "/", Member: "Ping"}, "")
	owner := func(name string) string {
		switch name {
		case "org.example.Dest", "org.example.Alias":
			return ":1.9"
		}
		return ""
	}
	for rule, want := range map[string]bool{
		"destination=':1.9'":              true,
		"destination='org.example.Dest'":  true,
		"destination='org.example.Alias'": true,
		"destination=':1.8'":              false,
		"destination='org.example.Gone'":  false,
	} {
		r, err := Parse(rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.MatchOwners(m, Args{}, owner); got != want {
			t.Errorf("%s: MatchOwners = %v, want %v", rule, got, want)
		}
	}
	// Without an owner function, only the literal name matches.
	r, _ := Parse("destination=':1.9'")
	if r.Match(m, Args{}) {
		t.Error("Match resolved a name without an owner function")
	}
}

// TestArgPathSpec checks the argNpath examples of the D-Bus
// specification, for string and object path arguments.
func TestArgPathSpec(t *testing.T) {
	r, err := Parse("arg0path='/aa/bb/'")
	if err != nil {
		t.Fatal(err)
	}
	for arg, want := range map[string]bool{
		"/":          true,
		"/aa/":       true,
		"/aa/bb/":    true,
		"/aa/bb/cc/": true,
		"/aa/bb/cc":  true,
		"/aa/b":      false,
		"/aa":        false,
		"/aa/bb":     false,
		"":           false,
		"/ab/":       false,
	} {
		s := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", arg)
		if got := r.Match(s, ArgsOf(s)); got != want {
			t.Errorf("arg0path='/aa/bb/' against string %q: %v, want %v", arg, got, want)
		}
		if wire.ValidateObjectPath(arg) == nil {
			o := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "o", wire.ObjectPath(arg))
			if got := r.Match(o, ArgsOf(o)); got != want {
				t.Errorf("arg0path='/aa/bb/' against object path %q: %v, want %v", arg, got, want)
			}
		}
	}

	// A rule value without a trailing slash matches only itself and the
	// "directories" above it.
	r, _ = Parse("arg0path='/aa/bb'")
	for arg, want := range map[string]bool{"/aa/bb": true, "/aa/": true, "/": true, "/aa/bb/": false, "/aa/bb/cc": false, "/aa/bbb": false} {
		s := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", arg)
		if got := r.Match(s, Args{}); got != want {
			t.Errorf("arg0path='/aa/bb' against %q: %v, want %v", arg, got, want)
		}
	}

	// The empty rule value matches only the empty string.
	r, _ = Parse("arg0path=''")
	for arg, want := range map[string]bool{"": true, "/": false, "a": false} {
		s := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", arg)
		if got := r.Match(s, Args{}); got != want {
			t.Errorf("arg0path='' against %q: %v, want %v", arg, got, want)
		}
	}
}

func TestArgsOf(t *testing.T) {
	type kv = map[string]wire.Variant
	for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
		for _, tt := range []struct {
			sig    wire.Signature
			values []any
			want   []string // "" for arguments rules cannot match; "s:..." or "o:..." otherwise
		}{
			{"s", []any{"a"}, []string{"s:a"}},
			{"so", []any{"", wire.ObjectPath("/")}, []string{"s:", "o:/"}},
			{
				"sa{sv}as", []any{"org.example.Iface", kv{"P": {Sig: "i", Value: int32(1)}, "Q": {Sig: "as", Value: []string{"x"}}}, []string{"Inv"}},
				[]string{"s:org.example.Iface", "", ""},
			},
			// 8-aligned arrays whose length sits at either alignment, empty or not.
			{"a{sv}s", []any{kv{"k": {Sig: "s", Value: "v"}}, "after"}, []string{"", "s:after"}},
			{"a{sv}s", []any{kv{}, "after"}, []string{"", "s:after"}},
			{"ya{sv}s", []any{byte(1), kv{"k": {Sig: "x", Value: int64(-1)}}, "after"}, []string{"", "", "s:after"}},
			{"ya{sv}s", []any{byte(1), kv{}, "after"}, []string{"", "", "s:after"}},
			{"ya(ty)s", []any{byte(1), []struct {
				A uint64
				B byte
			}{{1, 2}, {3, 4}}, "after"}, []string{"", "", "s:after"}},
			{"yaxs", []any{byte(1), []int64{}, "after"}, []string{"", "", "s:after"}},
			{"ays", []any{[]byte("bytes"), "after"}, []string{"", "s:after"}},
			{"aaiaos", []any{[][]int32{{1}, {2, 3}}, []wire.ObjectPath{"/a"}, "after"}, []string{"", "", "s:after"}},
			{
				"ybnqiuxtdhgvs",
				[]any{byte(1), true, int16(-2), uint16(3), int32(-4), uint32(5), int64(-6), uint64(7), 8.5, wire.UnixFD(0), wire.Signature("a{sv}"), wire.Variant{Sig: "(sv)", Value: wire.Struct{"in", wire.Variant{Sig: "o", Value: wire.ObjectPath("/v")}}}, "after"},
				[]string{"", "", "", "", "", "", "", "", "", "", "", "", "s:after"},
			},
			{"(so)s", []any{wire.Struct{"in", wire.ObjectPath("/s")}, "after"}, []string{"", "s:after"}},
			{"vs", []any{wire.Variant{Sig: "s", Value: "inside"}, "after"}, []string{"", "s:after"}},
		} {
			t.Run(fmt.Sprintf("%s/%s", order, tt.sig), func(t *testing.T) {
				m := msg(t, wire.Message{Order: order, Type: wire.Signal, Serial: 1}, tt.sig, tt.values...)
				args := ArgsOf(m)
				for i, want := range tt.want {
					v, typ := args.Arg(i)
					got := ""
					if typ != 0 {
						got = string(typ) + ":" + v
					}
					if got != want {
						t.Errorf("Arg(%d) = %q, %q; want %q", i, v, typ, want)
					}
				}
				if v, typ := args.Arg(len(tt.want)); v != "" || typ != 0 {
					t.Errorf("Arg past the last argument = %q, %q", v, typ)
				}
			})
		}
	}
}

func TestArgsOfLazy(t *testing.T) {
	m := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "ssss", "a", "b", "c", "d")
	args := ArgsOf(m)
	if args.c.started {
		t.Fatal("ArgsOf decoded before any argument was asked for")
	}
	args.Arg(1)
	if n := len(args.c.vals); n != 2 {
		t.Errorf("after Arg(1), %d arguments are decoded; want 2", n)
	}
	copied := args
	copied.Arg(0)
	copied.Arg(1)
	if n := len(args.c.vals); n != 2 {
		t.Errorf("asking again decoded more: %d arguments", n)
	}
	copied.Arg(3)
	if n := len(args.c.vals); n != 4 {
		t.Errorf("after Arg(3) on a copy, the original has %d arguments decoded; want 4", n)
	}

	// Rules decode only what they need.
	r, _ := Parse("arg0='a'")
	fresh := ArgsOf(m)
	r.Match(m, fresh)
	if n := len(fresh.c.vals); n != 1 {
		t.Errorf("matching arg0 decoded %d arguments", n)
	}
	// A rule that fails on the header decodes nothing.
	r, _ = Parse("member='X',arg3='d'")
	fresh = ArgsOf(m)
	r.Match(m, fresh)
	if fresh.c.started {
		t.Error("a rule that fails on the header decoded the body")
	}
}

func TestArgsOfBroken(t *testing.T) {
	// The body ends after the first of two strings.
	m := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", "first")
	m.Signature = "ss"
	args := ArgsOf(m)
	if v, typ := args.Arg(0); v != "first" || typ != wire.TypeString {
		t.Errorf("Arg(0) = %q, %q", v, typ)
	}
	if v, typ := args.Arg(1); v != "" || typ != 0 {
		t.Errorf("Arg(1) of a truncated body = %q, %q", v, typ)
	}

	// An invalid signature makes every argument unavailable.
	m = msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", "first")
	m.Signature = "s("
	if _, typ := ArgsOf(m).Arg(0); typ != 0 {
		t.Error("an argument of a message with an invalid signature is available")
	}

	// Indexes outside 0..63, and the zero Args.
	m = msg(t, wire.Message{Type: wire.Signal, Serial: 1}, wire.Signature(strings.Repeat("s", 70)), func() []any {
		v := make([]any, 70)
		for i := range v {
			v[i] = fmt.Sprint(i)
		}
		return v
	}()...)
	args = ArgsOf(m)
	if v, _ := args.Arg(63); v != "63" {
		t.Errorf("Arg(63) = %q", v)
	}
	for _, i := range []int{-1, 64, 69} {
		if _, typ := args.Arg(i); typ != 0 {
			t.Errorf("Arg(%d) is available", i)
		}
	}
	if _, typ := (Args{}).Arg(0); typ != 0 {
		t.Error("the zero Args has an argument")
	}

	// Variants nested past the limit stop decoding instead of recursing
	// without bound.
	var body []byte
	for range 200 {
		body = append(body, 1, 'v', 0)
	}
	body = append(body, 1, 'y', 0, 42)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = binary.LittleEndian.AppendUint32(body, 1)
	body = append(body, 'x', 0)
	m = &wire.Message{Order: wire.LittleEndian, Type: wire.Signal, Serial: 1, Signature: "vs", Body: body}
	if _, typ := ArgsOf(m).Arg(1); typ != 0 {
		t.Error("an argument after a too deeply nested variant is available")
	}
	// At a depth within the limit, the same shape decodes.
	body = body[:0]
	for range 10 {
		body = append(body, 1, 'v', 0)
	}
	body = append(body, 1, 'y', 0, 42)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	body = binary.LittleEndian.AppendUint32(body, 1)
	body = append(body, 'x', 0)
	m = &wire.Message{Order: wire.LittleEndian, Type: wire.Signal, Serial: 1, Signature: "vs", Body: body}
	if v, typ := ArgsOf(m).Arg(1); v != "x" || typ != wire.TypeString {
		t.Errorf("Arg(1) after nested variants = %q, %q", v, typ)
	}
}

func TestMatchArgsOfOtherMessage(t *testing.T) {
	a := msg(t, wire.Message{Type: wire.Signal, Serial: 1}, "s", "a")
	b := msg(t, wire.Message{Type: wire.Signal, Serial: 2}, "s", "b")
	r, _ := Parse("arg0='b'")
	if !r.Match(b, ArgsOf(a)) {
		t.Error("Match used the arguments of another message")
	}
}

// BenchmarkMatch1000Rules matches one signal against 1000 rules, as a bus
// does for every signal it routes: most rules fail on their header keys,
// some need arguments, a few match.
func BenchmarkMatch1000Rules(b *testing.B) {
	m := msg(b, wire.Message{
		Type: wire.Signal, Serial: 1, Sender: ":1.42", Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: "NameOwnerChanged",
	}, "sss", "com.example.Service17", "", ":1.42")
	var rules []*Rule
	for i := range 1000 {
		var s string
		switch i % 5 {
		case 0:
			s = fmt.Sprintf("type='signal',interface='org.example.I%d',member='Changed'", i)
		case 1:
			s = fmt.Sprintf("type='signal',sender=':1.%d',path_namespace='/org/example/%d'", i, i)
		case 2:
			s = fmt.Sprintf("type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='com.example.Service%d'", i)
		case 3:
			s = fmt.Sprintf("type='signal',member='NameOwnerChanged',arg0namespace='com.example',arg2path='/%d/'", i)
		case 4:
			s = "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.example.Iface'"
		}
		r, err := Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		rules = append(rules, r)
	}
	b.ReportAllocs()
	matched := 0
	for b.Loop() {
		args := ArgsOf(m)
		for _, r := range rules {
			if r.Match(m, args) {
				matched++
			}
		}
	}
	if matched == 0 {
		b.Fatal("no rule matched")
	}
}

// busConn connects to the bus at addr with godbus.
func busConn(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// daemonDeviations are rules on which Parse knowingly differs from
// dbus-daemon, which accepts them.
var daemonDeviations = map[string]string{
	"='x'":                              "dbus-daemon takes a pair with an empty key as the end of the rule and ignores the rest",
	"eavesdrop='true',eavesdrop='true'": "dbus-daemon lets eavesdrop, alone of all keys, repeat",
	"arg0namespace=':'":                 "dbus-daemon accepts the empty unique-name namespace, which matches no valid name",
	"arg0=" + strings.Repeat("x", MaxRuleLength-5): "the canonical form of the rule, with every value quoted, is longer than the limit",
}

// TestParseAgreesWithDBusDaemon checks that dbus-daemon accepts exactly the
// rules Parse accepts.
func TestParseAgreesWithDBusDaemon(t *testing.T) {
	d := dbustest.Start(t, dbustest.Config{})
	conn := busConn(t, d.Address)
	var rules []string
	for _, tt := range validRules {
		rules = append(rules, tt.in)
	}
	for _, tt := range invalidRules {
		rules = append(rules, tt.in)
	}
	for _, rule := range rules {
		if !utf8.ValidString(rule) || strings.IndexByte(rule, 0) >= 0 {
			continue // cannot travel in a D-Bus string
		}
		_, parseErr := Parse(rule)
		daemonErr := conn.BusObject().Call("org.freedesktop.DBus.AddMatch", 0, rule).Err
		if daemonErr == nil {
			if err := conn.BusObject().Call("org.freedesktop.DBus.RemoveMatch", 0, rule).Err; err != nil {
				t.Errorf("RemoveMatch(%q) after AddMatch succeeded: %v", truncate(rule), err)
			}
		}
		if why, ok := daemonDeviations[rule]; ok {
			if parseErr == nil || daemonErr != nil {
				t.Errorf("rule %q is listed as a deviation (%s), but Parse says %v and dbus-daemon %v", truncate(rule), why, parseErr, daemonErr)
			}
			continue
		}
		if (parseErr == nil) != (daemonErr == nil) {
			t.Errorf("rule %q: Parse says %v, dbus-daemon says %v", truncate(rule), parseErr, daemonErr)
		}
	}
}

// TestMatchAgreesWithDBusDaemon sends signals through dbus-daemon to a
// connection that registered a rule, and checks that the daemon delivers
// a signal exactly when Match says the rule matches it.
func TestMatchAgreesWithDBusDaemon(t *testing.T) {
	d := dbustest.Start(t, dbustest.Config{})
	listener := busConn(t, d.Address)
	sender := busConn(t, d.Address)
	const wellKnown = "org.example.Sender"
	if reply, err := sender.RequestName(wellKnown, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("RequestName: %v, %v", reply, err)
	}
	unique := sender.Names()[0]
	owner := func(name string) string {
		if name == wellKnown {
			return unique
		}
		return ""
	}

	signals := make(chan *dbus.Signal, 64)
	listener.Signal(signals)
	const sentinel = "type='signal',interface='org.example.Sentinel'"
	if err := listener.BusObject().Call("org.freedesktop.DBus.AddMatch", 0, sentinel).Err; err != nil {
		t.Fatal(err)
	}

	type signal struct {
		path, iface, member string
		args                []any // string, dbus.ObjectPath or int32
	}
	sigs := []signal{
		{"/aa/bb/cc", "org.example.Iface", "Changed", []any{"com.example.backend1.foo", dbus.ObjectPath("/aa/bb"), "/aa/bb/", int32(5)}},
		{"/aa", "org.example.Other", "Sig", []any{"/aa/bb/cc/", "", "x'y"}},
		{"/", "org.example.Iface", "Changed", nil},
	}
	rules := []string{
		"", "type='signal'", "type='method_call'",
		"sender='" + unique + "'", "sender='" + wellKnown + "'", "sender='org.example.Nobody'", "sender=':1.999'",
		"interface='org.example.Iface'", "member='Changed'", "interface='org.example.Iface',member='Sig'",
		"path='/aa'", "path='/aa/bb'", "path_namespace='/aa'", "path_namespace='/aa/b'", "path_namespace='/'", "path_namespace='/aa/bb/cc'",
		"arg0='com.example.backend1.foo'", "arg0=''", "arg1=''", "arg1='/aa/bb'", "arg3='5'", `arg2='x'\''y'`, "arg5=''",
		"arg0path='/aa/'", "arg0path='/aa/bb/cc'", "arg0path='/'", "arg1path='/aa/bb/'", "arg1path='/aa/'", "arg1path='/aa/bb'", "arg2path='/aa/bb/cc'", "arg2path='/aa/bb'",
		"arg0namespace='com.example'", "arg0namespace='com.example.backend'", "arg0namespace='com'", "arg0namespace='com.example.backend1.foo'",
		"type='signal',sender='" + wellKnown + "',path_namespace='/aa',arg0namespace='com.example',arg1path='/aa/'",
	}

	round := int32(0)
	for _, rule := range rules {
		r, err := Parse(rule)
		if err != nil {
			t.Fatalf("Parse(%q): %v", rule, err)
		}
		if err := listener.BusObject().Call("org.freedesktop.DBus.AddMatch", 0, rule).Err; err != nil {
			t.Fatalf("AddMatch(%q): %v", rule, err)
		}
		for _, s := range sigs {
			round++
			if err := sender.Emit(dbus.ObjectPath(s.path), s.iface+"."+s.member, s.args...); err != nil {
				t.Fatal(err)
			}
			if err := sender.Emit("/sentinel", "org.example.Sentinel.Done", round); err != nil {
				t.Fatal(err)
			}
			delivered := false
		wait:
			for {
				select {
				case got := <-signals:
					if got.Name == "org.example.Sentinel.Done" && len(got.Body) == 1 && got.Body[0] == round {
						break wait
					}
					if string(got.Path) == s.path && got.Name == s.iface+"."+s.member {
						delivered = true
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the sentinel signal of round %d never arrived", round)
				}
			}

			var sig strings.Builder
			values := make([]any, len(s.args))
			for i, a := range s.args {
				switch v := a.(type) {
				case string:
					sig.WriteByte('s')
					values[i] = v
				case dbus.ObjectPath:
					sig.WriteByte('o')
					values[i] = wire.ObjectPath(v)
				case int32:
					sig.WriteByte('i')
					values[i] = v
				}
			}
			m := msg(t, wire.Message{
				Type: wire.Signal, Serial: 1, Sender: unique,
				Path: wire.ObjectPath(s.path), Interface: s.iface, Member: s.member,
			}, wire.Signature(sig.String()), values...)
			if got := r.MatchOwners(m, ArgsOf(m), owner); got != delivered {
				t.Errorf("rule %q, signal %s.%s at %s %v: MatchOwners = %v, but dbus-daemon delivered it: %v", rule, s.iface, s.member, s.path, s.args, got, delivered)
			}
		}
		if err := listener.BusObject().Call("org.freedesktop.DBus.RemoveMatch", 0, rule).Err; err != nil {
			t.Fatalf("RemoveMatch(%q): %v", rule, err)
		}
	}
}
