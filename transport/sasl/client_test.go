package sasl

import (
	"bufio"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testGUID = "0123456789abcdef0123456789abcdef"

// step is one exchange of a scripted server: it reads the line expect
// (without "\r\n") from the client, then writes reply. With hangUp set, the
// server closes the connection after writing reply.
type step struct {
	expect string
	reply  string
	hangUp bool
}

// serve starts a scripted server on one end of a net.Pipe and returns the
// other end for the client. The server first checks for the NUL byte, then
// runs steps. Replies are written by a separate goroutine, so the server
// keeps reading while a reply is still being delivered. finish closes the
// client end and returns everything the client sent after the last step.
func serve(t *testing.T, steps ...step) (conn net.Conn, finish func() string) {
	t.Helper()
	cconn, sconn := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	cconn.SetDeadline(deadline)
	sconn.SetDeadline(deadline)

	replies := make(chan step, len(steps))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for s := range replies {
			if s.reply != "" {
				if _, err := io.WriteString(sconn, s.reply); err != nil {
					// The client gave up before reading everything,
					// which some tests expect.
					return
				}
			}
			if s.hangUp {
				sconn.Close()
				return
			}
		}
	}()

	tail := make(chan string, 1)
	go func() {
		defer close(replies)
		br := bufio.NewReader(sconn)
		if b, err := br.ReadByte(); err != nil || b != 0 {
			t.Errorf("server: first byte = %q, %v; want NUL", b, err)
			tail <- ""
			return
		}
		for i, s := range steps {
			line, err := br.ReadString('\n')
			if err != nil || line != s.expect+"\r\n" {
				t.Errorf("server step %d: client sent %q, %v; want %q", i, line, err, s.expect+"\r\n")
				tail <- ""
				return
			}
			replies <- s
			if s.hangUp {
				tail <- ""
				return
			}
		}
		rest, _ := io.ReadAll(br)
		tail <- string(rest)
	}()

	return cconn, func() string {
		cconn.Close()
		rest := <-tail
		<-writerDone
		return rest
	}
}

func hexUID() string {
	return hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
}

func TestClientSuccess(t *testing.T) {
	tests := []struct {
		name  string
		cfg   ClientConfig
		steps []step
		want  Result
		tail  string
	}{
		{
			name:  "plain",
			steps: []step{{expect: "AUTH EXTERNAL " + hexUID(), reply: "OK " + testGUID + "\r\n"}},
			want:  Result{GUID: testGUID},
			tail:  "BEGIN\r\n",
		},
		{
			name: "upper-case GUID kept as sent",
			steps: []step{{
				expect: "AUTH EXTERNAL " + hexUID(),
				reply:  "OK " + strings.ToUpper(testGUID) + "\r\n",
			}},
			want: Result{GUID: strings.ToUpper(testGUID)},
			tail: "BEGIN\r\n",
		},
		{
			name: "custom UID",
			cfg:  ClientConfig{UID: "0"},
			steps: []step{
				{expect: "AUTH EXTERNAL 30", reply: "OK " + testGUID + "\r\n"},
			},
			want: Result{GUID: testGUID},
			tail: "BEGIN\r\n",
		},
		{
			name: "fd passing agreed",
			cfg:  ClientConfig{UID: "1000", NegotiateUnixFD: true},
			steps: []step{
				{expect: "AUTH EXTERNAL 31303030", reply: "OK " + testGUID + "\r\n"},
				{expect: "NEGOTIATE_UNIX_FD", reply: "AGREE_UNIX_FD\r\n"},
			},
			want: Result{GUID: testGUID, UnixFD: true},
			tail: "BEGIN\r\n",
		},
		{
			name: "fd passing refused",
			cfg:  ClientConfig{UID: "1000", NegotiateUnixFD: true},
			steps: []step{
				{expect: "AUTH EXTERNAL 31303030", reply: "OK " + testGUID + "\r\n"},
				{expect: "NEGOTIATE_UNIX_FD", reply: "ERROR \"fd passing not supported\"\r\n"},
			},
			want: Result{GUID: testGUID, UnixFD: false},
			tail: "BEGIN\r\n",
		},
		{
			name: "empty DATA challenge after initial response",
			cfg:  ClientConfig{UID: "1000"},
			steps: []step{
				{expect: "AUTH EXTERNAL 31303030", reply: "DATA\r\n"},
				{expect: "DATA", reply: "OK " + testGUID + "\r\n"},
			},
			want: Result{GUID: testGUID},
			tail: "BEGIN\r\n",
		},
		{
			name: "empty initial response",
			cfg:  ClientConfig{UID: "1000", EmptyInitialResponse: true, NegotiateUnixFD: true},
			steps: []step{
				{expect: "AUTH EXTERNAL", reply: "DATA\r\n"},
				{expect: "DATA", reply: "OK " + testGUID + "\r\n"},
				{expect: "NEGOTIATE_UNIX_FD", reply: "AGREE_UNIX_FD\r\n"},
			},
			want: Result{GUID: testGUID, UnixFD: true},
			tail: "BEGIN\r\n",
		},
		{
			name: "unknown command answered with ERROR",
			cfg:  ClientConfig{UID: "1000"},
			steps: []step{
				{expect: "AUTH EXTERNAL 31303030", reply: "WHATEVER 1 2\r\n"},
				{expect: "ERROR unexpected command", reply: "AGREE_UNIX_FD\r\n"},
				{expect: "ERROR unexpected command", reply: "OK " + testGUID + "\r\n"},
			},
			want: Result{GUID: testGUID},
			tail: "BEGIN\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, finish := serve(t, tt.steps...)
			got, err := Client(conn, tt.cfg)
			tail := finish()
			if err != nil {
				t.Fatalf("Client: %v", err)
			}
			if got != tt.want {
				t.Errorf("Client = %+v, want %+v", got, tt.want)
			}
			if tail != tt.tail {
				t.Errorf("client sent %q after the script, want %q", tail, tt.tail)
			}
		})
	}
}

func TestClientFailure(t *testing.T) {
	auth := "AUTH EXTERNAL 31303030"
	tests := []struct {
		name  string
		cfg   ClientConfig
		steps []step
		is    error
		msg   string
	}{
		{
			name:  "rejected",
			steps: []step{{expect: auth, reply: "REJECTED DBUS_COOKIE_SHA1 ANONYMOUS\r\n"}},
			msg:   "it offers: DBUS_COOKIE_SHA1, ANONYMOUS",
		},
		{
			name:  "rejected without alternatives",
			steps: []step{{expect: auth, reply: "REJECTED\r\n"}},
			msg:   "offers no mechanisms",
		},
		{
			name:  "error",
			steps: []step{{expect: auth, reply: "ERROR \"Unknown command\"\r\n"}},
			msg:   `server answered AUTH with an error: "\"Unknown command\""`,
		},
		{
			name: "error after DATA",
			steps: []step{
				{expect: auth, reply: "DATA\r\n"},
				{expect: "DATA", reply: "ERROR\r\n"},
			},
			msg: "server answered DATA with an error",
		},
		{
			name:  "non-empty challenge",
			steps: []step{{expect: auth, reply: "DATA 6869\r\n"}},
			msg:   "DATA challenge with 2 bytes",
		},
		{
			name:  "bad GUID",
			steps: []step{{expect: auth, reply: "OK 1234\r\n"}},
			msg:   "not a server GUID",
		},
		{
			name:  "bad hex",
			steps: []step{{expect: auth, reply: "DATA xyz\r\n"}},
			msg:   "not valid hexadecimal",
		},
		{
			name:  "garbage",
			steps: []step{{expect: auth, reply: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"}},
			msg:   "byte 0x16 at offset 0",
		},
		{
			name:  "non-ASCII",
			steps: []step{{expect: auth, reply: "OK caf\xc3\xa9\r\n"}},
			msg:   "byte 0xc3",
		},
		{
			name:  "lower-case command",
			steps: []step{{expect: auth, reply: "ok " + testGUID + "\r\n"}},
			msg:   "does not start with a command name",
		},
		{
			name:  "bare newline",
			steps: []step{{expect: auth, reply: "OK " + testGUID + "\n"}},
			msg:   "bare '\\n'",
		},
		{
			name:  "overlong line",
			steps: []step{{expect: auth, reply: "ERROR " + strings.Repeat("x", 20000) + "\r\n"}},
			msg:   "longer than 16384 bytes",
		},
		{
			name:  "endless line",
			steps: []step{{expect: auth, reply: strings.Repeat("A", 100000)}},
			msg:   "longer than 16384 bytes",
		},
		{
			name:  "closed before reply",
			steps: []step{{expect: auth, hangUp: true}},
			is:    io.ErrUnexpectedEOF,
			msg:   "server closed the connection while the client waited for its reply to AUTH",
		},
		{
			name:  "closed mid-line",
			steps: []step{{expect: auth, reply: "OK 0123", hangUp: true}},
			is:    io.ErrUnexpectedEOF,
			msg:   "server closed the connection",
		},
		{
			name: "closed before fd reply",
			cfg:  ClientConfig{UID: "1000", NegotiateUnixFD: true},
			steps: []step{
				{expect: auth, reply: "OK " + testGUID + "\r\n"},
				{expect: "NEGOTIATE_UNIX_FD", hangUp: true},
			},
			is:  io.ErrUnexpectedEOF,
			msg: "reply to NEGOTIATE_UNIX_FD",
		},
		{
			name: "unexpected fd reply",
			cfg:  ClientConfig{UID: "1000", NegotiateUnixFD: true},
			steps: []step{
				{expect: auth, reply: "OK " + testGUID + "\r\n"},
				{expect: "NEGOTIATE_UNIX_FD", reply: "OK " + testGUID + "\r\n"},
			},
			msg: "answered NEGOTIATE_UNIX_FD with OK",
		},
		{
			name:  "too many exchanges",
			steps: endlessUnknown(auth),
			msg:   "server sent 10 lines without completing authentication",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.UID == "" {
				cfg.UID = "1000"
			}
			conn, finish := serve(t, tt.steps...)
			got, err := Client(conn, cfg)
			tail := finish()
			if err == nil {
				t.Fatalf("Client = %+v, want error", got)
			}
			if got != (Result{}) {
				t.Errorf("Client returned %+v along with the error", got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q does not match %q", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want it to contain %q", err, tt.msg)
			}
			if strings.Count(err.Error(), "sasl: ") != 1 {
				t.Errorf("error %q: want exactly one package prefix", err)
			}
			if strings.Contains(tail, "BEGIN") {
				t.Errorf("client sent BEGIN after failing: %q", tail)
			}
		})
	}
}

// endlessUnknown scripts a server that answers everything with an unknown
// command until the client gives up.
func endlessUnknown(auth string) []step {
	steps := []step{{expect: auth, reply: "NOPE\r\n"}}
	for range maxServerLines - 1 {
		steps = append(steps, step{expect: "ERROR unexpected command", reply: "NOPE\r\n"})
	}
	// The client answers the last one, then stops reading.
	return append(steps, step{expect: "ERROR unexpected command"})
}

func TestClientRejectedError(t *testing.T) {
	conn, finish := serve(t, step{expect: "AUTH EXTERNAL 31303030", reply: "REJECTED EXTERNAL DBUS_COOKIE_SHA1\r\n"})
	_, err := Client(conn, ClientConfig{UID: "1000"})
	finish()
	var rej *RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("error %v (%T), want *RejectedError", err, err)
	}
	if len(rej.Mechanisms) != 2 || rej.Mechanisms[0] != "EXTERNAL" || rej.Mechanisms[1] != "DBUS_COOKIE_SHA1" {
		t.Errorf("Mechanisms = %q", rej.Mechanisms)
	}
}

// TestClientLeavesTrailingBytes checks that the client reads nothing past
// the server's last line, so that whatever follows on the connection is
// left for the D-Bus message layer.
func TestClientLeavesTrailingBytes(t *testing.T) {
	const extra = "l\x01\x00\x01binary message"
	for _, negotiate := range []bool{false, true} {
		steps := []step{{expect: "AUTH EXTERNAL 31303030", reply: "OK " + testGUID + "\r\n"}}
		if negotiate {
			steps = append(steps, step{expect: "NEGOTIATE_UNIX_FD", reply: "AGREE_UNIX_FD\r\n"})
		}
		steps[len(steps)-1].reply += extra
		conn, finish := serve(t, steps...)
		res, err := Client(conn, ClientConfig{UID: "1000", NegotiateUnixFD: negotiate})
		if err != nil {
			finish()
			t.Fatalf("Client: %v", err)
		}
		if res.UnixFD != negotiate {
			t.Errorf("UnixFD = %v, want %v", res.UnixFD, negotiate)
		}
		got := make([]byte, len(extra))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatalf("reading the bytes after the last line: %v", err)
		}
		if string(got) != extra {
			t.Errorf("bytes after the last line = %q, want %q", got, extra)
		}
		if tail := finish(); tail != "BEGIN\r\n" {
			t.Errorf("client sent %q after the script, want BEGIN", tail)
		}
	}
}

func TestClientDeadline(t *testing.T) {
	cconn, sconn := net.Pipe()
	defer cconn.Close()
	defer sconn.Close()
	go io.Copy(io.Discard, sconn) // accept the AUTH line, never answer
	cconn.SetDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := Client(cconn, ClientConfig{UID: "1000"})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want one matching os.ErrDeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "waiting for the reply to AUTH") {
		t.Errorf("error %q does not say what the client was waiting for", err)
	}
}

func TestClientWriteError(t *testing.T) {
	cconn, sconn := net.Pipe()
	sconn.Close()
	_, err := Client(cconn, ClientConfig{UID: "1000"})
	if err == nil || !strings.Contains(err.Error(), "sending AUTH") {
		t.Errorf("error %v, want a sending AUTH error", err)
	}
}

// memConn is an io.ReadWriter whose reads come from a fixed server script
// and whose writes are recorded.
type memConn struct {
	r       *strings.Reader
	written strings.Builder
}

func (m *memConn) Read(p []byte) (int, error)  { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error) { return m.written.Write(p) }

func TestClientInMemory(t *testing.T) {
	// The whole server side arrives at once, with a message after it.
	m := &memConn{r: strings.NewReader("DATA\r\nOK " + testGUID + "\r\nAGREE_UNIX_FD\r\nlXYZ")}
	res, err := Client(m, ClientConfig{EmptyInitialResponse: true, NegotiateUnixFD: true})
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{GUID: testGUID, UnixFD: true}) {
		t.Errorf("Client = %+v", res)
	}
	if want := "\x00AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n"; m.written.String() != want {
		t.Errorf("client wrote %q, want %q", m.written.String(), want)
	}
	if m.r.Len() != 4 {
		t.Errorf("client consumed bytes after the last line; %d left, want 4", m.r.Len())
	}
}
