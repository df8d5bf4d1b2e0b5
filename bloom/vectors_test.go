package bloom

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// vectorSignal describes a signal of testdata/vectors.txt.
type vectorSignal struct {
	path, iface, member string
	sig                 wire.Signature
	args                []any
}

// vectorSignals are the signals testdata/vectors.txt gives sd-bus's filters
// for, by name.
var vectorSignals = map[string]vectorSignal{
	"name-owner-changed": {"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged", "sss",
		[]any{"org.example.Service", "", ":1.42"}},
	"properties-changed": {"/org/freedesktop/systemd1/unit/dbus_2eservice", "org.freedesktop.DBus.Properties", "PropertiesChanged", "sa{sv}as",
		[]any{"org.freedesktop.systemd1.Unit", map[string]wire.Variant{"ActiveState": {Sig: "s", Value: "active"}}, []string{"Conditions", "Asserts"}}},
	"interfaces-removed": {"/org/example", "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "oas",
		[]any{wire.ObjectPath("/org/example/obj/1"), []string{"org.example.A", "org.freedesktop.DBus.Properties"}}},
	"signatures": {"/a", "org.example.Sig", "Sig", "gag",
		[]any{wire.Signature("a{sv}"), []wire.Signature{"s", "(ii)", ""}}},
	"root-no-args": {"/", "org.example.Root", "Ping", "", nil},
	"twelve-args": {"/org/example/many", "org.example.Many", "Many", "ssssssssssss",
		[]any{"a0", "b.1", "/c/2", "d3", "e.4.x", "f5", "g/6/", "h7", "i8", "j9", "k.10", "l/11"}},
	"unicode": {"/org/example/u", "org.example.U", "U", "s", []any{"ünï/cödé.x/y"}},
	"separators": {"/org/example/sep", "org.example.Sep", "Sep", "ssss",
		[]any{"/", "a..b", "x/y/", "."}},
	"array-then-string": {"/p/q", "org.example.A", "A", "aos",
		[]any{[]wire.ObjectPath{"/a/b", "/c"}, "tail.name"}},
	// sd-bus stops at the uint32; see TestVectorsBeyondSDBus for arg2.
	"string-int-string": {"/p/q", "org.example.A", "B", "sus", []any{"x.y", uint32(7), "after"}},
	"int-then-array":    {"/p/q", "org.example.A", "C", "ias", []any{int32(1), []string{"q"}}},
	"empty-strings":     {"/p/q", "org.example.A", "D", "ss", []any{"", ""}},
}

// vectorRules are the match rules testdata/vectors.txt gives sd-bus's masks
// for, by name.
var vectorRules = map[string]string{
	"noc":            "type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.example.Service'",
	"path-namespace": "path_namespace='/org/freedesktop'",
	"root-namespace": "path_namespace='/'",
	"sender-only":    "sender=':1.5'",
	"empty":          "",
	"arg0namespace":  "arg0namespace='org.freedesktop'",
	"path-arg2":      "path='/org/freedesktop/DBus',arg2=':1.42'",
	"arg11":          "arg11='l/11'",
	"everything": "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged'," +
		"path='/org/freedesktop/DBus',destination=':1.5',arg0='org.example.Service',arg2=':1.42',eavesdrop='true'",
}

func (s vectorSignal) message(t testing.TB, o wire.ByteOrder) *wire.Message {
	t.Helper()
	body, err := wire.Marshal(o, s.sig, s.args...)
	if err != nil {
		t.Fatalf("marshal %q: %v", s.sig, err)
	}
	return &wire.Message{
		Order: o, Type: wire.Signal, Serial: 1, Path: wire.ObjectPath(s.path),
		Interface: s.iface, Member: s.member, Signature: s.sig, Body: body,
	}
}

type vector struct {
	line   int
	kind   string
	params Params
	fields []string // the fields between the parameters and the hex
	hex    string
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) < 5 {
			t.Fatalf("vectors.txt:%d: %d fields", n, len(fs))
		}
		size, err1 := strconv.Atoi(fs[1])
		k, err2 := strconv.Atoi(fs[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("vectors.txt:%d: bad parameters", n)
		}
		vs = append(vs, vector{n, fs[0], Params{size, k}, fs[3 : len(fs)-1], fs[len(fs)-1]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestVectors(t *testing.T) {
	counts := map[string]int{}
	for _, v := range readVectors(t) {
		var got Filter
		switch v.kind {
		case "element":
			got = New(v.params)
			got.Add(v.fields[0])
		case "prefixes":
			got = New(v.params)
			got.AddPrefixes(v.fields[1], v.fields[2], v.fields[0][0])
		case "message":
			s, ok := vectorSignals[v.fields[0]]
			if !ok {
				t.Fatalf("vectors.txt:%d: no signal %q", v.line, v.fields[0])
			}
			if v.fields[0] == "string-int-string" {
				continue // checked by TestVectorsBeyondSDBus
			}
			for _, o := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
				got = ForMessage(v.params, s.message(t, o))
				if got.String() != v.hex {
					t.Errorf("vectors.txt:%d: %s %v %c:\n got %s\nwant %s", v.line, v.kind, v.fields, o, got, v.hex)
				}
			}
			counts[v.kind]++
			continue
		case "rule":
			r, err := match.Parse(vectorRules[v.fields[0]])
			if err != nil {
				t.Fatalf("vectors.txt:%d: %v", v.line, err)
			}
			got = ForRule(v.params, r)
		default:
			t.Fatalf("vectors.txt:%d: unknown kind %q", v.line, v.kind)
		}
		if got.String() != v.hex {
			t.Errorf("vectors.txt:%d: %s %v %v:\n got %s\nwant %s", v.line, v.kind, v.params, v.fields, got, v.hex)
		}
		counts[v.kind]++
	}
	t.Logf("checked %v", counts)
	for _, k := range []string{"element", "prefixes", "message", "rule"} {
		if counts[k] == 0 {
			t.Errorf("no %s vectors", k)
		}
	}
}

// TestVectorsBeyondSDBus checks a signal whose filter goes beyond sd-bus's:
// sd-bus stops at the uint32, while a rule arg2='after' matches the signal,
// so the filter also holds arg2's elements.
func TestVectorsBeyondSDBus(t *testing.T) {
	n := 0
	for _, v := range readVectors(t) {
		if v.kind != "message" || v.fields[0] != "string-int-string" {
			continue
		}
		n++
		sdbus, err := FromBytes(v.params, mustHex(t, v.hex))
		if err != nil {
			t.Fatal(err)
		}
		want := New(v.params)
		copy(want.Words(), sdbus.Words())
		want.Add("arg2:after")
		want.AddPrefixes("arg2-slash-prefix", "after", '/')
		got := ForMessage(v.params, vectorSignals["string-int-string"].message(t, wire.LittleEndian))
		if !got.Equal(want) {
			t.Errorf("vectors.txt:%d:\n got %s\nwant %s", v.line, got, want)
		}
		r, _ := match.Parse("arg2='after'")
		if !got.Contains(ForRule(v.params, r)) {
			t.Errorf("filter does not contain the mask of arg2='after'")
		}
	}
	if n == 0 {
		t.Fatal("no string-int-string vector")
	}
}
