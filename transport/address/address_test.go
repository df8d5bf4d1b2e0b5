package address

import (
	"errors"
	"strings"
	"testing"
)

// addr builds an Address from alternating keys and values.
func addr(transport string, kv ...string) Address {
	a := Address{Transport: transport, Params: map[string]string{}}
	for i := 0; i < len(kv); i += 2 {
		a.Params[kv[i]] = kv[i+1]
		a.Keys = append(a.Keys, kv[i])
	}
	return a
}

func TestParse(t *testing.T) {
	const guid = "0123456789abcdefABCDEF0123456789"
	tests := []struct {
		in   string
		want []Address
	}{
		{"unix:path=/tmp/dbus-test", []Address{addr("unix", "path", "/tmp/dbus-test")}},
		{"unix:abstract=/tmp/dbus-XyZ", []Address{addr("unix", "abstract", "/tmp/dbus-XyZ")}},
		{"unix:path=/run/user/1000/bus,guid=" + guid, []Address{addr("unix", "path", "/run/user/1000/bus", "guid", guid)}},
		{"unix:tmpdir=/tmp", []Address{addr("unix", "tmpdir", "/tmp")}},
		{"unix:dir=/tmp", []Address{addr("unix", "dir", "/tmp")}},
		{"unix:runtime=yes", []Address{addr("unix", "runtime", "yes")}},
		{"autolaunch:", []Address{addr("autolaunch")}},
		{"tcp:host=127.0.0.1,port=4242,family=ipv4", []Address{addr("tcp", "host", "127.0.0.1", "port", "4242", "family", "ipv4")}},
		{"nonce-tcp:host=localhost,noncefile=/tmp/n", []Address{addr("nonce-tcp", "host", "localhost", "noncefile", "/tmp/n")}},
		// Parameter order is kept.
		{"unix:guid=" + guid + ",path=/a", []Address{addr("unix", "guid", guid, "path", "/a")}},
		// Escapes in both cases, and optionally escaped bytes escaped anyway.
		{"unix:path=/tmp/a%20b%2cc%2Cd", []Address{addr("unix", "path", "/tmp/a b,c,d")}},
		{"unix:path=%2f%41", []Address{addr("unix", "path", "/A")}},
		{"unix:path=%00%ff%FE", []Address{addr("unix", "path", "\x00\xff\xfe")}},
		{"unix:path=-_/\\*.09azAZ", []Address{addr("unix", "path", "-_/\\*.09azAZ")}},
		{"unix:path=%3b%3A%3d%25", []Address{addr("unix", "path", ";:=%")}},
		// Lists, with empty entries ignored.
		{"unix:path=/a;unix:abstract=b", []Address{addr("unix", "path", "/a"), addr("unix", "abstract", "b")}},
		{";;unix:path=/a;;;tcp:host=h;", []Address{addr("unix", "path", "/a"), addr("tcp", "host", "h")}},
		{"unix:path=/a;", []Address{addr("unix", "path", "/a")}},
		// Key and transport characters.
		{"x-y_z.1:k-e_y.2=v", []Address{addr("x-y_z.1", "k-e_y.2", "v")}},
		// '=' is allowed inside an escaped value only; the first '=' splits.
		{"unix:path=%3d", []Address{addr("unix", "path", "=")}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): unexpected error: %v", tt.in, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("Parse(%q) = %d addresses %v, want %d", tt.in, len(got), got, len(tt.want))
			continue
		}
		for i := range got {
			if !got[i].Equal(tt.want[i]) {
				t.Errorf("Parse(%q)[%d] = %#v, want %#v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		entry  int
		offset int
		msg    string // substring of the error message
	}{
		{"", -1, 0, "no address given"},
		{";", -1, 0, "no address given"},
		{";;;", -1, 0, "no address given"},
		{"unix", 0, 0, "has no ':'"},
		{"unix:path=/a;tcp", 1, 13, "has no ':'"},
		{":path=/a", 0, 0, "empty transport name"},
		{"un ix:path=/a", 0, 2, "transport name"},
		{"un%78:path=/a", 0, 2, "transport name"},
		{"unix:path", 0, 5, "has no '='"},
		{"unix:=/a", 0, 5, "empty key"},
		{"unix:path=", 0, 10, "empty value"},
		{"unix:path=/a,", 0, 13, "empty parameter"},
		{"unix:,path=/a", 0, 5, "empty parameter"},
		{"unix:path=/a,,guid=x", 0, 13, "empty parameter"},
		{"unix:path=/a,path=/b", 0, 13, `key "path" appears more than once`},
		{"unix:pa th=/a", 0, 7, "key"},
		{"unix:pa%74h=/a", 0, 7, "key"},
		{"unix:path=/a b", 0, 12, `' ' must be percent-encoded as %20`},
		{"unix:path=/a:b", 0, 12, `':' must be percent-encoded as %3a`},
		{"unix:path=/a=b", 0, 12, `'=' must be percent-encoded`},
		{"unix:path=/tmp/\xff", 0, 15, "byte 0xFF must be percent-encoded as %ff"},
		{"unix:path=/tmp/\x00", 0, 15, "byte 0x00"},
		{"unix:path=%", 0, 10, "truncated escape"},
		{"unix:path=ab%4", 0, 12, "truncated escape"},
		{"unix:path=%g0", 0, 10, "invalid escape"},
		{"unix:path=%0g", 0, 10, "invalid escape"},
		{"unix:path=%%41", 0, 10, "invalid escape"},
		{"unix:path=/a,guid=1234", 0, 18, "not 32 hexadecimal digits"},
		{"unix:path=/a,guid=0123456789abcdef0123456789abcdeg", 0, 18, "not 32 hexadecimal digits"},
		{"unix:path=/a;unix:path=/b;bad", 2, 26, "has no ':'"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error", tt.in, got)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T (%v), want *SyntaxError", tt.in, err, err)
			continue
		}
		if se.Entry != tt.entry || se.Offset != tt.offset || se.Input != tt.in {
			t.Errorf("Parse(%q) error at entry %d offset %d input %q, want entry %d offset %d", tt.in, se.Entry, se.Offset, se.Input, tt.entry, tt.offset)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Parse(%q) error %q, want it to contain %q", tt.in, err, tt.msg)
		}
		if !strings.Contains(err.Error(), "invalid D-Bus address") {
			t.Errorf("Parse(%q) error %q does not say the address is invalid", tt.in, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		a    Address
		want string
	}{
		{addr("unix", "path", "/tmp/dbus-test"), "unix:path=/tmp/dbus-test"},
		{addr("unix", "path", "/tmp/a b,c;d:e=f%g"), "unix:path=/tmp/a%20b%2cc%3bd%3ae%3df%25g"},
		{addr("unix", "abstract", "\x00\xff"), "unix:abstract=%00%ff"},
		{addr("unix", "guid", "00000000000000000000000000000000", "path", "/a"), "unix:guid=00000000000000000000000000000000,path=/a"},
		{addr("autolaunch"), "autolaunch:"},
		{Address{Transport: "autolaunch"}, "autolaunch:"},
		// Without Keys, parameters come out sorted.
		{Address{Transport: "tcp", Params: map[string]string{"port": "1", "host": "h", "family": "ipv4"}}, "tcp:family=ipv4,host=h,port=1"},
		// Keys not in Params are skipped, duplicates ignored, missing ones appended sorted.
		{Address{Transport: "tcp", Params: map[string]string{"port": "1", "host": "h", "family": "ipv6"}, Keys: []string{"port", "bind", "port"}}, "tcp:port=1,family=ipv6,host=h"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	var all strings.Builder
	for i := 0; i < 256; i++ {
		all.WriteByte(byte(i))
	}
	inputs := []string{"", "plain", "/run/user/1000/bus", "with space", "%", "%%41", "a,b;c=d:e", "ünïcödé", all.String()}
	for _, in := range inputs {
		esc := Escape(in)
		for i := 0; i < len(esc); i++ {
			if c := esc[i]; c != '%' && !isOptionallyEscaped(c) {
				t.Errorf("Escape(%q) = %q contains unescaped %q", in, esc, c)
			}
		}
		got, err := Unescape(esc)
		if err != nil || got != in {
			t.Errorf("Unescape(Escape(%q)) = %q, %v; want the input back", in, got, err)
		}
	}
	if got, want := Escape("-_/\\*.azAZ09"), "-_/\\*.azAZ09"; got != want {
		t.Errorf("Escape kept-set = %q, want %q", got, want)
	}
	if got, want := Escape("a b"), "a%20b"; got != want {
		t.Errorf("Escape = %q, want %q", got, want)
	}
}

func TestUnescapeErrors(t *testing.T) {
	for _, in := range []string{"%", "%4", "%4g", "%g4", "a b", "a\x00", "é", "a:b", "%%"} {
		if got, err := Unescape(in); err == nil {
			t.Errorf("Unescape(%q) = %q, want error", in, got)
		}
	}
	if got, err := Unescape("%41%6a%6A"); err != nil || got != "Ajj" {
		t.Errorf(`Unescape("%%41%%6a%%6A") = %q, %v; want "Ajj"`, got, err)
	}
}

func TestParseStringRoundTrip(t *testing.T) {
	inputs := []string{
		"unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789ABCDEF",
		"unix:abstract=%00weird%ff;tcp:host=%3a%3a1,port=1;autolaunch:",
		"unix:path=%2F%2f",
	}
	for _, in := range inputs {
		list, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		again, err := Parse(FormatList(list))
		if err != nil {
			t.Fatalf("Parse(FormatList(%q)) = Parse(%q): %v", in, FormatList(list), err)
		}
		if len(again) != len(list) {
			t.Fatalf("round trip of %q changed the number of entries", in)
		}
		for i := range list {
			if !list[i].Equal(again[i]) {
				t.Errorf("round trip of %q entry %d: %#v != %#v", in, i, list[i], again[i])
			}
		}
	}
}

func TestGUID(t *testing.T) {
	list, err := Parse("unix:path=/a,guid=0123456789abcdef0123456789abcdef;unix:path=/b")
	if err != nil {
		t.Fatal(err)
	}
	if g := list[0].GUID(); g != "0123456789abcdef0123456789abcdef" {
		t.Errorf("GUID() = %q", g)
	}
	if g := list[1].GUID(); g != "" {
		t.Errorf("GUID() of address without guid = %q, want empty", g)
	}
}

func TestEqual(t *testing.T) {
	a := addr("unix", "path", "/a", "guid", "00000000000000000000000000000000")
	if !a.Equal(a) {
		t.Error("address not equal to itself")
	}
	if a.Equal(addr("unix", "guid", "00000000000000000000000000000000", "path", "/a")) {
		t.Error("addresses with different parameter order compare equal")
	}
	if a.Equal(addr("tcp", "path", "/a", "guid", "00000000000000000000000000000000")) {
		t.Error("addresses with different transports compare equal")
	}
	if a.Equal(addr("unix", "path", "/b", "guid", "00000000000000000000000000000000")) {
		t.Error("addresses with different values compare equal")
	}
	if !addr("autolaunch").Equal(Address{Transport: "autolaunch"}) {
		t.Error("empty and nil parameter maps compare different")
	}
}
