package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kdbus-go/kdbus/wire"
)

// fuzzFS is the only file system the fuzz target reads: includes stay inside it.
var fuzzFS = fstest.MapFS{
	"etc/ok.conf":       {Data: []byte(`<busconfig><policy context="default"><allow own="a.b"/></policy><limit name="max_message_size">9</limit></busconfig>`)},
	"etc/self.conf":     {Data: []byte(`<busconfig><include>self.conf</include></busconfig>`)},
	"etc/twice.conf":    {Data: []byte(`<busconfig><include>ok.conf</include><include>ok.conf</include><includedir>d</includedir></busconfig>`)},
	"etc/fuzz.conf":     {Data: []byte(`<busconfig><include>fuzz.conf</include></busconfig>`)},
	"etc/d/a.conf":      {Data: []byte(`<busconfig><policy user="alice"><allow send_destination="a.b"/></policy></busconfig>`)},
	"etc/d/b.conf":      {Data: []byte(`<busconfig><bad/></busconfig>`)},
	"etc/d/c.conf":      {Data: []byte(`<busconfig><include>../twice.conf</include></busconfig>`)},
	"etc/d/dir.conf/x":  {Data: []byte(`x`)},
	"etc/d/not-conf.tx": {Data: []byte(`<busconfig><fork/></busconfig>`)},
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		wrap(""),
		wrap(`<include>ok.conf</include><include ignore_missing="yes">none.conf</include><includedir>d</includedir>`),
		wrap(`<include>twice.conf</include><include>self.conf</include>`),
		wrap(`<policy context="default"><allow send_destination="a.b" send_interface="i.F" send_member="M" send_type="method_call"/>
<deny receive_sender="a.b" receive_path="/x" eavesdrop="true" min_fds="1"/><allow own_prefix="a"/><allow user="*"/></policy>
<policy user="alice"><deny send_destination_prefix="a" send_broadcast="false"/></policy>
<policy group="wheel"><allow receive_error="e.E" receive_requested_reply="false"/></policy>
<policy at_console="true"><allow own="*"/></policy>`),
		wrap(`<limit name="reply_timeout">1</limit><selinux><associate own="a.b" context="c_t"/></selinux><apparmor mode="enabled"/><standard_session_servicedirs/><standard_system_servicedirs/>`),
		"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><busconfig>" + listen + "<type>\xe9</type></busconfig>",
		"<busconfig>\n<user>x</foo>",
		wrap(`<policy context="default"><allow send_destination="a" receive_type="signal"/></policy>`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		o := Options{
			FS:          fuzzFS,
			MaxFiles:    64,
			MaxBytes:    1 << 20,
			LookupUser:  fakeLookup(testUsers, "user"),
			LookupGroup: fakeLookup(testGroups, "group"),
			Getenv:      fakeEnv(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1", "HOME": "/home/a"}),
		}
		c, err := o.Parse(bytes.NewReader(data), "/etc/fuzz.conf", "")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		// With includes refused, the result may only differ by failing.
		strict := o
		strict.NoIncludes, strict.Strict = true, true
		c2, err2 := strict.Parse(bytes.NewReader(data), "/etc/fuzz.conf", "")
		if err2 == nil && err != nil {
			t.Fatalf("accepted without includes, strictly, but rejected normally: %v", err)
		}
		if err2 == nil && len(c2.Files) != 1 {
			t.Fatalf("NoIncludes read %q", c2.Files)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			if e.Pos.File == "" || !strings.HasPrefix(e.Error(), e.Pos.File) {
				t.Fatalf("error without a file: %q", e.Error())
			}
			return
		}
		if len(c.Listen) == 0 || c.Policy == nil || len(c.Files) == 0 || len(c.Files) > o.MaxFiles {
			t.Fatalf("incomplete result: %+v", c)
		}
		for _, w := range c.Warnings {
			if w.Pos.File == "" {
				t.Fatalf("warning without a file: %v", w)
			}
		}
		m := &Message{Type: wire.MethodCall, Path: "/x", Interface: "i.F", Member: "M", Destination: "a.b", ReplySerial: 1, UnixFDs: 1}
		for _, s := range []Subject{{UID: 1000, GIDs: []uint32{10, 50}}, {UID: 0}, {UID: 1, AtConsole: true}} {
			sp := c.Policy.For(s)
			for _, names := range [][]string{nil, {":1.1", "a.b"}, {"a.b.c"}} {
				if sp.CheckSend(m, names).Rule != naiveSend(sp, m, names) ||
					sp.CheckReceive(m, names, true).Rule != naiveReceive(sp, m, names, true) {
					t.Fatal("indexed check disagrees with a full scan")
				}
			}
			sp.CanOwn("a.b")
			c.Policy.CanConnect(s, 0)
		}
	})
}
