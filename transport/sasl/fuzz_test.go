package sasl

import (
	"bytes"
	"testing"
)

// fuzzConn gives the client the fuzz input as everything the server says
// and discards what the client writes.
type fuzzConn struct {
	r *bytes.Reader
}

func (c *fuzzConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error) { return len(p), nil }

func FuzzClient(f *testing.F) {
	seeds := []string{
		"OK 0123456789abcdef0123456789abcdef\r\n",
		"OK 0123456789abcdef0123456789abcdef\r\nAGREE_UNIX_FD\r\nl\x01\x00\x01",
		"OK 0123456789abcdef0123456789abcdef\r\nERROR\r\n",
		"DATA\r\nOK 0123456789abcdef0123456789abcdef\r\n",
		"REJECTED EXTERNAL DBUS_COOKIE_SHA1\r\n",
		"ERROR \"Unknown command\"\r\n",
		"DATA 6869\r\n",
		"FOO\r\nBAR\r\nOK 0123456789abcdef0123456789abcdef\r\n",
		"OK 0123\n",
		"\xff\xfe\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), i%2 == 0, i%3 == 0)
	}
	f.Fuzz(func(t *testing.T, server []byte, emptyInitialResponse, negotiateFD bool) {
		conn := &fuzzConn{r: bytes.NewReader(server)}
		cfg := ClientConfig{UID: "1000", EmptyInitialResponse: emptyInitialResponse, NegotiateUnixFD: negotiateFD}
		res, err := Client(conn, cfg)
		if err != nil {
			if res != (Result{}) {
				t.Fatalf("Client returned %+v along with error %v", res, err)
			}
			return
		}
		if !IsGUID(res.GUID) {
			t.Fatalf("Client succeeded with invalid GUID %q", res.GUID)
		}
		if res.UnixFD && !negotiateFD {
			t.Fatal("Client reports fd passing without negotiating it")
		}
		consumed := len(server) - conn.r.Len()
		if !bytes.HasSuffix(server[:consumed], []byte("\r\n")) {
			t.Fatalf("Client consumed %q, which does not end at a line boundary", server[:consumed])
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"AUTH EXTERNAL 31303030",
		"AUTH",
		"DATA",
		"DATA 00FF",
		"OK 0123456789abcdef0123456789abcdef\r\n",
		"REJECTED EXTERNAL ANONYMOUS",
		"ERROR  spaced   out ",
		"NEGOTIATE_UNIX_FD",
		"BEGIN x",
		"FOO bar",
		"ok lower",
		"DATA 123",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("ParseCommand(%q) = %#v, which does not encode: %v", line, c, err)
		}
		again, err := ParseCommand(enc)
		if err != nil {
			t.Fatalf("encoding %q of ParseCommand(%q) does not parse: %v", enc, line, err)
		}
		if !commandsEqual(c, again) {
			t.Fatalf("ParseCommand(%q) = %#v, but its encoding %q parses to %#v", line, c, enc, again)
		}
		if bytes.Count(enc, []byte("\r\n")) != 1 || !bytes.HasSuffix(enc, []byte("\r\n")) {
			t.Fatalf("encoding %q is not exactly one line", enc)
		}
	})
}
