package address

import "testing"

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"unix:path=/run/user/1000/bus",
		"unix:abstract=/tmp/dbus-0123456789,guid=0123456789abcdef0123456789abcdef",
		"unix:path=/tmp/a%20b%2C%3bc",
		";;unix:tmpdir=/tmp;tcp:host=127.0.0.1,port=0,family=ipv4;",
		"autolaunch:",
		"unix:path=%00%ff%Fe",
		"unix:path=/a,path=/b",
		"unix:path=%4",
		"unix:runtime=yes;unix:dir=/tmp",
		"x:k=-_/\\*.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := Parse(s)
		if err != nil {
			if list != nil {
				t.Fatalf("Parse(%q) returned both %v and error %v", s, list, err)
			}
			return
		}
		if len(list) == 0 {
			t.Fatalf("Parse(%q) succeeded with no addresses", s)
		}
		for i, a := range list {
			enc := a.String()
			again, err := Parse(enc)
			if err != nil {
				t.Fatalf("Parse(%q)[%d].String() = %q does not re-parse: %v", s, i, enc, err)
			}
			if len(again) != 1 || !again[0].Equal(a) {
				t.Fatalf("Parse(%q)[%d] = %#v, but its String %q re-parses to %#v", s, i, a, enc, again)
			}
			// Both must be usable without panicking.
			a.DialTarget()
			if a.Params["dir"] == "" && a.Params["tmpdir"] == "" {
				a.listenTarget(nil, func(string) string { return "/run/user/0" })
			}
		}
		if again, err := Parse(FormatList(list)); err != nil || len(again) != len(list) {
			t.Fatalf("FormatList(Parse(%q)) = %q re-parses to %d entries, %v", s, FormatList(list), len(again), err)
		}
	})
}
