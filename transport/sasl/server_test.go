//go:build linux

package sasl

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/address"
)

// scriptUID is the peer user ID the scripted conversations run with.
const scriptUID = 1000

// uidPtr returns a pointer to uid, for ServerConfig.PeerUID.
func uidPtr(uid uint32) *uint32 { return &uid }

// hexOf hex-encodes s, as AUTH and DATA carry data.
func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

// TestServerTranscript feeds Server whole client conversations at once, as
// a pipelining client sends them, and checks every byte it answers, its
// result, and that it leaves everything after BEGIN unread.
func TestServerTranscript(t *testing.T) {
	ok := "OK " + testGUID + "\r\n"
	authOK := "AUTH EXTERNAL " + hexOf("1000") + "\r\n"
	external := ServerResult{Mechanism: MechanismExternal, UID: scriptUID}
	tests := []struct {
		name   string
		cfg    ServerConfig // GUID is filled in; PeerUID defaults to scriptUID
		noUID  bool         // leave PeerUID nil
		in     string       // what the client sends
		out    string       // what the server must answer
		want   ServerResult // on success
		rest   string       // bytes left unread on success
		errSub string       // if set, Server must fail with an error containing it
	}{
		{
			name: "initial response",
			in:   "\x00" + authOK + "BEGIN\r\n",
			out:  ok,
			want: external,
		},
		{
			name: "empty initial response answered with empty DATA",
			in:   "\x00AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n",
			out:  "DATA\r\n" + ok,
			want: external,
		},
		{
			name: "identity sent in DATA",
			in:   "\x00AUTH EXTERNAL\r\nDATA " + hexOf("1000") + "\r\nBEGIN\r\n",
			out:  "DATA\r\n" + ok,
			want: external,
		},
		{
			name: "identity with leading zeros",
			in:   "\x00AUTH EXTERNAL " + hexOf("01000") + "\r\nBEGIN\r\n",
			out:  ok,
			want: external,
		},
		{
			name: "mechanism list first, then fd passing agreed",
			cfg:  ServerConfig{UnixFD: true},
			in:   "\x00AUTH\r\nAUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n",
			out:  "REJECTED EXTERNAL\r\nDATA\r\n" + ok + "AGREE_UNIX_FD\r\n",
			want: ServerResult{Mechanism: MechanismExternal, UID: scriptUID, UnixFD: true},
		},
		{
			name: "fd passing refused",
			in:   "\x00" + authOK + "NEGOTIATE_UNIX_FD\r\nBEGIN\r\n",
			out:  ok + "ERROR \"Unix file descriptor passing is not supported on this connection\"\r\n",
			want: external,
		},
		{
			name: "message bytes after BEGIN stay unread",
			cfg:  ServerConfig{UnixFD: true},
			in:   "\x00" + authOK + "NEGOTIATE_UNIX_FD\r\nBEGIN\r\nl\x01\x00\x01\x00\x00\x00\x00\r\nBEGIN\r\n",
			out:  ok + "AGREE_UNIX_FD\r\n",
			want: ServerResult{Mechanism: MechanismExternal, UID: scriptUID, UnixFD: true},
			rest: "l\x01\x00\x01\x00\x00\x00\x00\r\nBEGIN\r\n",
		},
		{
			name: "wrong user ID rejected, then right one",
			in:   "\x00AUTH EXTERNAL " + hexOf("0") + "\r\n" + authOK + "BEGIN\r\n",
			out:  "REJECTED EXTERNAL\r\n" + ok,
			want: external,
		},
		{
			name: "wrong user ID in DATA rejected",
			in:   "\x00AUTH EXTERNAL\r\nDATA " + hexOf("1001") + "\r\n",
			out:  "DATA\r\nREJECTED EXTERNAL\r\n",
			// The client then hangs up.
			errSub: "closed the connection",
		},
		{
			name:   "user name instead of user ID rejected",
			in:     "\x00AUTH EXTERNAL " + hexOf("root") + "\r\n",
			out:    "REJECTED EXTERNAL\r\n",
			errSub: "closed the connection",
		},
		{
			name:   "signed and overlong user IDs rejected",
			in:     "\x00AUTH EXTERNAL " + hexOf("+1000") + "\r\nAUTH EXTERNAL " + hexOf("00000001000") + "\r\nAUTH EXTERNAL " + hexOf("4294968296") + "\r\n",
			out:    strings.Repeat("REJECTED EXTERNAL\r\n", 3),
			errSub: "closed the connection",
		},
		{
			name: "unknown mechanisms rejected",
			in:   "\x00AUTH DBUS_COOKIE_SHA1 " + hexOf("1000") + "\r\nAUTH external\r\nAUTH ANONYMOUS\r\n" + authOK + "BEGIN\r\n",
			out:  strings.Repeat("REJECTED EXTERNAL\r\n", 3) + ok,
			want: external,
		},
		{
			name: "anonymous allowed",
			cfg:  ServerConfig{AllowAnonymous: true},
			in:   "\x00AUTH\r\nAUTH ANONYMOUS " + hexOf("libdbus 1.14") + "\r\nBEGIN\r\n",
			out:  "REJECTED EXTERNAL ANONYMOUS\r\n" + ok,
			want: ServerResult{Mechanism: MechanismAnonymous, UID: NoUID},
		},
		{
			name: "anonymous without trace",
			cfg:  ServerConfig{AllowAnonymous: true, UnixFD: true},
			in:   "\x00AUTH ANONYMOUS\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n",
			out:  ok + "AGREE_UNIX_FD\r\n",
			want: ServerResult{Mechanism: MechanismAnonymous, UID: NoUID, UnixFD: true},
		},
		{
			name:   "anonymous trace that is not UTF-8 rejected",
			cfg:    ServerConfig{AllowAnonymous: true},
			in:     "\x00AUTH ANONYMOUS ff\r\n",
			out:    "REJECTED EXTERNAL ANONYMOUS\r\n",
			errSub: "closed the connection",
		},
		{
			name:  "anonymous only, without peer credentials",
			cfg:   ServerConfig{AllowAnonymous: true},
			noUID: true,
			in:    "\x00" + authOK + "AUTH EXTERNAL\r\nAUTH ANONYMOUS\r\nBEGIN\r\n",
			out:   "REJECTED ANONYMOUS\r\nREJECTED ANONYMOUS\r\n" + ok,
			want:  ServerResult{Mechanism: MechanismAnonymous, UID: NoUID},
		},
		{
			name: "waiting for AUTH: everything else answered",
			in:   "\x00CANCEL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nERROR \"oops\"\r\nFOO bar\r\nOK nope\r\nAUTH EXTERNAL zz\r\n\r\n" + authOK + "BEGIN\r\n",
			out: "ERROR \"Not currently in an auth conversation\"\r\n" +
				"ERROR \"Not currently in an auth conversation\"\r\n" +
				"ERROR \"Need to authenticate first\"\r\n" +
				"REJECTED EXTERNAL\r\n" +
				"ERROR \"Unknown command\"\r\n" +
				"ERROR \"Malformed command\"\r\n" +
				"ERROR \"Malformed command\"\r\n" +
				"ERROR \"Malformed command\"\r\n" + ok,
			want: external,
		},
		{
			name: "waiting for DATA: everything else answered",
			in:   "\x00AUTH EXTERNAL\r\nAUTH EXTERNAL\r\nNEGOTIATE_UNIX_FD\r\nFOO\r\nCANCEL\r\nAUTH EXTERNAL\r\nERROR\r\nAUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n",
			out: "DATA\r\n" +
				"ERROR \"Sent AUTH while another AUTH is in progress\"\r\n" +
				"ERROR \"Need to authenticate first\"\r\n" +
				"ERROR \"Unknown command\"\r\n" +
				"REJECTED EXTERNAL\r\n" +
				"DATA\r\n" +
				"REJECTED EXTERNAL\r\n" +
				"DATA\r\n" + ok,
			want: external,
		},
		{
			name: "waiting for BEGIN: everything else answered",
			cfg:  ServerConfig{UnixFD: true},
			in:   "\x00" + authOK + "NEGOTIATE_UNIX_FD\r\n" + authOK + "DATA\r\nFOO\r\nCANCEL\r\n" + authOK + "ERROR\r\n" + authOK + "BEGIN\r\n",
			out: ok + "AGREE_UNIX_FD\r\n" +
				"ERROR \"Sent AUTH while expecting BEGIN\"\r\n" +
				"ERROR \"Sent DATA while expecting BEGIN\"\r\n" +
				"ERROR \"Unknown command\"\r\n" +
				"REJECTED EXTERNAL\r\n" + ok +
				"REJECTED EXTERNAL\r\n" + ok,
			// CANCEL undid the fd agreement, and it was not renewed.
			want: external,
		},
		{
			name:   "BEGIN before AUTH",
			in:     "\x00BEGIN\r\n",
			errSub: "BEGIN before authenticating",
		},
		{
			name:   "BEGIN while waiting for DATA",
			in:     "\x00AUTH EXTERNAL\r\nBEGIN\r\n",
			out:    "DATA\r\n",
			errSub: "BEGIN before completing authentication",
		},
		{
			name:   "no NUL byte",
			in:     authOK + "BEGIN\r\n",
			errSub: "first byte is 0x41",
		},
		{
			name:   "closed before the NUL byte",
			in:     "",
			errSub: "before sending the initial NUL byte",
		},
		{
			name:   "closed after the NUL byte",
			in:     "\x00",
			errSub: "closed the connection while the server was waiting for AUTH",
		},
		{
			name:   "closed in the middle of a line",
			in:     "\x00AUTH EXT",
			errSub: "closed the connection",
		},
		{
			name:   "closed before BEGIN",
			in:     "\x00" + authOK,
			out:    ok,
			errSub: "closed the connection while the server was waiting for BEGIN",
		},
		{
			name:   "binary garbage",
			in:     "\x00\xff\xfe\x00\r\n",
			errSub: "only printable ASCII",
		},
		{
			name:   "bare newline",
			in:     "\x00AUTH\n",
			errSub: "bare '\\n'",
		},
		{
			name:   "overlong line",
			in:     "\x00AUTH EXTERNAL " + strings.Repeat("3", MaxLineLength) + "\r\n",
			errSub: "longer than 16384 bytes",
		},
		{
			name:   "too many lines",
			in:     "\x00" + strings.Repeat("FOO\r\n", maxClientLines) + authOK + "BEGIN\r\n",
			out:    strings.Repeat("ERROR \"Unknown command\"\r\n", maxClientLines),
			errSub: "sent 32 lines",
		},
		{
			name:   "too many rejections",
			in:     "\x00" + strings.Repeat("AUTH\r\n", 100),
			out:    strings.Repeat("REJECTED EXTERNAL\r\n", maxClientLines),
			errSub: "sent 32 lines",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.GUID = testGUID
			if !tt.noUID {
				cfg.PeerUID = uidPtr(scriptUID)
			}
			m := &memConn{r: strings.NewReader(tt.in)}
			res, err := Server(m, cfg)
			if got := m.written.String(); got != tt.out {
				t.Errorf("server answered\n%q\nwant\n%q", got, tt.out)
			}
			if tt.errSub != "" {
				if err == nil {
					t.Fatalf("Server = %+v, want an error containing %q", res, tt.errSub)
				}
				if !strings.Contains(err.Error(), tt.errSub) {
					t.Errorf("error %q does not contain %q", err, tt.errSub)
				}
				if res != (ServerResult{}) {
					t.Errorf("Server returned %+v along with its error", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("Server: %v", err)
			}
			if res != tt.want {
				t.Errorf("Server = %+v, want %+v", res, tt.want)
			}
			rest := make([]byte, m.r.Len())
			m.r.Read(rest)
			if string(rest) != tt.rest {
				t.Errorf("unread after BEGIN: %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestServerErrorsMatch(t *testing.T) {
	for _, in := range []string{"", "\x00", "\x00AUTH", "\x00" + "AUTH EXTERNAL " + hexOf("1000") + "\r\n"} {
		m := &memConn{r: strings.NewReader(in)}
		_, err := Server(m, ServerConfig{GUID: testGUID, PeerUID: uidPtr(scriptUID)})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("input %q: error %v does not match io.ErrUnexpectedEOF", in, err)
		}
	}
}

func TestServerConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    ServerConfig
		errSub string
	}{
		{"no GUID", ServerConfig{PeerUID: uidPtr(1)}, "GUID \"\" is not"},
		{"short GUID", ServerConfig{GUID: "0123", PeerUID: uidPtr(1)}, "GUID \"0123\" is not"},
		{"GUID with non-hex", ServerConfig{GUID: strings.Repeat("g", 32), PeerUID: uidPtr(1)}, "is not a server GUID"},
		{"no mechanism", ServerConfig{GUID: testGUID}, "offers no mechanism"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &memConn{r: strings.NewReader("\x00AUTH\r\n")}
			_, err := Server(m, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("error %v, want one containing %q", err, tt.errSub)
			}
			if m.r.Len() != 7 || m.written.Len() != 0 {
				t.Errorf("Server used the connection despite its invalid configuration")
			}
		})
	}
}

// failingWriter reads from r and fails every write.
type failingWriter struct{ r io.Reader }

func (f failingWriter) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f failingWriter) Write(p []byte) (int, error) { return 0, errors.New("broken pipe") }

func TestServerWriteError(t *testing.T) {
	_, err := Server(failingWriter{strings.NewReader("\x00AUTH\r\n")}, ServerConfig{GUID: testGUID, PeerUID: uidPtr(1)})
	if err == nil || !strings.Contains(err.Error(), "sending REJECTED: broken pipe") {
		t.Fatalf("error %v, want one about sending REJECTED", err)
	}
}

// zeroThenReader returns n empty reads before reading from r.
type zeroThenReader struct {
	n int
	r io.Reader
}

func (z *zeroThenReader) Read(p []byte) (int, error) {
	if z.n > 0 {
		z.n--
		return 0, nil
	}
	return z.r.Read(p)
}

func (z *zeroThenReader) Write(p []byte) (int, error) { return len(p), nil }

func TestServerNoProgress(t *testing.T) {
	_, err := Server(&zeroThenReader{n: 1000, r: strings.NewReader("\x00")}, ServerConfig{GUID: testGUID, PeerUID: uidPtr(1)})
	if !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("error %v, want io.ErrNoProgress", err)
	}
	// A few empty reads are tolerated.
	res, err := Server(&zeroThenReader{n: 3, r: strings.NewReader("\x00AUTH ANONYMOUS\r\nBEGIN\r\n")}, ServerConfig{GUID: testGUID, AllowAnonymous: true})
	if err != nil || res.Mechanism != MechanismAnonymous {
		t.Fatalf("Server = %+v, %v", res, err)
	}
}

// outcome is what one run of Server returned.
type outcome struct {
	res ServerResult
	err error
}

// TestServerWithClient runs our Client against Server over in-process
// connections, and checks that what the client sends after
// authenticating reaches the server's side of the connection intact.
func TestServerWithClient(t *testing.T) {
	uid := uint32(os.Getuid())
	const payload = "l\x01\x00\x01\x08\x00\x00\x00first message bytes"
	for _, conn := range []struct {
		name string
		pair func(t *testing.T) (client, server net.Conn)
	}{
		{"pipe", func(t *testing.T) (net.Conn, net.Conn) {
			c, s := net.Pipe()
			t.Cleanup(func() { c.Close(); s.Close() })
			deadline := time.Now().Add(10 * time.Second)
			c.SetDeadline(deadline)
			s.SetDeadline(deadline)
			return c, s
		}},
		{"socketpair", socketPair},
	} {
		for _, tt := range []struct {
			name     string
			client   ClientConfig
			serverFD bool
			wantFD   bool
		}{
			{"initial response", ClientConfig{}, false, false},
			{"empty initial response", ClientConfig{EmptyInitialResponse: true}, false, false},
			{"fd passing agreed", ClientConfig{NegotiateUnixFD: true}, true, true},
			{"fd passing refused", ClientConfig{NegotiateUnixFD: true}, false, false},
			{"empty initial response, fd passing agreed", ClientConfig{EmptyInitialResponse: true, NegotiateUnixFD: true}, true, true},
			{"fd passing offered but not asked for", ClientConfig{}, true, false},
		} {
			t.Run(conn.name+"/"+tt.name, func(t *testing.T) {
				cconn, sconn := conn.pair(t)
				peer := uid
				if uc, ok := sconn.(*net.UnixConn); ok {
					peer = peerUID(t, uc)
				}
				done := make(chan outcome, 1)
				got := make(chan string, 1)
				go func() {
					res, err := Server(sconn, ServerConfig{GUID: testGUID, PeerUID: &peer, UnixFD: tt.serverFD})
					done <- outcome{res, err}
					if err != nil {
						got <- ""
						return
					}
					b := make([]byte, len(payload))
					n, _ := io.ReadFull(sconn, b)
					got <- string(b[:n])
				}()
				cres, err := Client(cconn, tt.client)
				if err != nil {
					t.Fatalf("Client: %v", err)
				}
				if _, err := io.WriteString(cconn, payload); err != nil {
					t.Fatalf("writing after BEGIN: %v", err)
				}
				o := <-done
				if o.err != nil {
					t.Fatalf("Server: %v", o.err)
				}
				if want := (ServerResult{Mechanism: MechanismExternal, UID: uid, UnixFD: tt.wantFD}); o.res != want {
					t.Errorf("Server = %+v, want %+v", o.res, want)
				}
				if want := (Result{GUID: testGUID, UnixFD: tt.wantFD}); cres != want {
					t.Errorf("Client = %+v, want %+v", cres, want)
				}
				if s := <-got; s != payload {
					t.Errorf("server read %q after BEGIN, want %q", s, payload)
				}
			})
		}
	}

	t.Run("wrong user ID", func(t *testing.T) {
		cconn, sconn := socketPair(t)
		peer := peerUID(t, sconn.(*net.UnixConn))
		done := make(chan outcome, 1)
		go func() {
			res, err := Server(sconn, ServerConfig{GUID: testGUID, PeerUID: &peer})
			done <- outcome{res, err}
		}()
		_, err := Client(cconn, ClientConfig{UID: strconv.FormatUint(uint64(peer)+1, 10)})
		var rej *RejectedError
		if !errors.As(err, &rej) || strings.Join(rej.Mechanisms, " ") != "EXTERNAL" {
			t.Fatalf("Client error %v, want a rejection offering EXTERNAL", err)
		}
		cconn.Close()
		if o := <-done; !errors.Is(o.err, io.ErrUnexpectedEOF) {
			t.Errorf("Server error %v, want one matching io.ErrUnexpectedEOF once the client hangs up", o.err)
		}
	})
}

// peerUID returns the user ID the kernel recorded for the other end of c.
func peerUID(t *testing.T, c *net.UnixConn) uint32 {
	t.Helper()
	uid, err := peerCred(c)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// peerCred returns the user ID the kernel recorded for the other end of c,
// as a bus gets it with SO_PEERCRED.
func peerCred(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return cred.Uid, nil
}

// TestServerHostileStreams has clients that never stop sending, and one
// that sends nothing.
func TestServerHostileStreams(t *testing.T) {
	cfg := ServerConfig{GUID: testGUID, PeerUID: uidPtr(scriptUID)}
	for _, tt := range []struct {
		name   string
		chunk  string // sent over and over after the NUL byte
		errSub string
	}{
		{"endless line", strings.Repeat("A", 1000), "longer than"},
		{"endless lines", "AUTH EXTERNAL 30\r\n", "sent 32 lines"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cconn, sconn := net.Pipe()
			defer cconn.Close()
			deadline := time.Now().Add(10 * time.Second)
			cconn.SetDeadline(deadline)
			sconn.SetDeadline(deadline)
			go io.Copy(io.Discard, cconn)
			go func() {
				if _, err := cconn.Write([]byte{0}); err != nil {
					return
				}
				for {
					if _, err := io.WriteString(cconn, tt.chunk); err != nil {
						return
					}
				}
			}()
			_, err := Server(sconn, cfg)
			sconn.Close()
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("error %v, want one containing %q", err, tt.errSub)
			}
		})
	}

	for _, tt := range []struct {
		name string
		send string
	}{
		{"silent", ""},
		{"silent after NUL", "\x00"},
		{"stalls mid-line", "\x00AUTH EXTER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cconn, sconn := net.Pipe()
			defer cconn.Close()
			defer sconn.Close()
			sconn.SetDeadline(time.Now().Add(50 * time.Millisecond))
			go io.WriteString(cconn, tt.send)
			start := time.Now()
			_, err := Server(sconn, cfg)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want one matching os.ErrDeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Server took %v to notice the deadline", d)
			}
		})
	}
}

// TestServerPipelinedSocket has the client send its whole side, and the
// start of its first message, in one write on a real socket.
func TestServerPipelinedSocket(t *testing.T) {
	cconn, sconn := socketPair(t)
	peer := peerUID(t, sconn.(*net.UnixConn))
	msg := "l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00"
	in := "\x00AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n" + msg
	if _, err := io.WriteString(cconn, in); err != nil {
		t.Fatal(err)
	}
	res, err := Server(sconn, ServerConfig{GUID: testGUID, PeerUID: &peer, UnixFD: true})
	if err != nil {
		t.Fatalf("Server: %v", err)
	}
	if want := (ServerResult{Mechanism: MechanismExternal, UID: peer, UnixFD: true}); res != want {
		t.Errorf("Server = %+v, want %+v", res, want)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(sconn, got); err != nil || string(got) != msg {
		t.Errorf("after BEGIN the socket holds %q, %v; want %q", got, err, msg)
	}
	replies := make([]byte, 256)
	n, _ := cconn.Read(replies)
	if want := "DATA\r\nOK " + testGUID + "\r\nAGREE_UNIX_FD\r\n"; string(replies[:n]) != want {
		t.Errorf("server answered %q, want %q", replies[:n], want)
	}
}

// listenBus listens on a unix socket in a temporary directory and runs
// Server on every connection, with the peer's user ID from SO_PEERCRED.
// After authentication it hangs up: nobody answers Hello. It returns the
// D-Bus address of the socket and a channel with each connection's
// outcome.
func listenBus(t *testing.T) (string, <-chan outcome) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	results := make(chan outcome, 16)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				uid, err := peerCred(c)
				if err != nil {
					results <- outcome{err: err}
					return
				}
				res, err := Server(c, ServerConfig{GUID: testGUID, PeerUID: &uid, UnixFD: true})
				results <- outcome{res, err}
			}()
		}
	}()
	return "unix:path=" + address.Escape(path), results
}

// TestServerInterop authenticates the D-Bus tools the bus must serve
// against Server on a real socket. Each tool then sends Hello and fails,
// since nobody answers; what matters is that it got past authentication.
func TestServerInterop(t *testing.T) {
	addr, results := listenBus(t)
	want := ServerResult{Mechanism: MechanismExternal, UID: uint32(os.Getuid()), UnixFD: true}
	check := func(t *testing.T, stderr string) {
		t.Helper()
		select {
		case o := <-results:
			if o.err != nil {
				t.Fatalf("Server failed: %v; client stderr: %s", o.err, stderr)
			}
			if o.res != want {
				t.Errorf("Server = %+v, want %+v", o.res, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no connection finished authentication; client stderr: %s", stderr)
		}
		if s := strings.ToLower(stderr); strings.Contains(s, "auth") || strings.Contains(s, "rejected") {
			t.Errorf("client complains about authentication: %s", stderr)
		}
	}

	for _, tool := range []struct {
		name string
		args []string
	}{
		{"dbus-send", []string{"--bus=" + addr, "--print-reply", "--dest=org.freedesktop.DBus", "/", "org.freedesktop.DBus.Peer.Ping"}},
		{"busctl", []string{"--address=" + addr, "call", "org.freedesktop.DBus", "/", "org.freedesktop.DBus.Peer", "Ping"}},
		{"gdbus", []string{"call", "--address", addr, "--dest", "org.freedesktop.DBus", "--object-path", "/", "--method", "org.freedesktop.DBus.Peer.Ping"}},
	} {
		t.Run(tool.name, func(t *testing.T) {
			path := dbustest.RequireTool(t, tool.name)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, path, tool.args...)
			var stderr bytes.Buffer
			cmd.Stdout = &stderr
			cmd.Stderr = &stderr
			err := cmd.Run()
			t.Logf("%s exited with %v: %s", tool.name, err, strings.TrimSpace(stderr.String()))
			check(t, stderr.String())
		})
	}

	t.Run("godbus", func(t *testing.T) {
		conn, err := dbus.Dial(addr)
		if err != nil {
			t.Fatalf("godbus Dial: %v", err)
		}
		defer conn.Close()
		if err := conn.Auth(nil); err != nil {
			t.Fatalf("godbus Auth: %v", err)
		}
		check(t, "")
	})
}

// FuzzServer feeds Server arbitrary client input. It must not panic or
// read without bound, and a success must be a coherent conversation that
// ended at a BEGIN line.
func FuzzServer(f *testing.F) {
	auth := "AUTH EXTERNAL " + hexOf("1000") + "\r\n"
	for _, s := range []string{
		"\x00" + auth + "BEGIN\r\n",
		"\x00" + auth + "NEGOTIATE_UNIX_FD\r\nBEGIN\r\nl\x01\x00\x01",
		"\x00AUTH\r\nAUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n",
		"\x00AUTH EXTERNAL\r\nDATA " + hexOf("1000") + "\r\nBEGIN\r\n",
		"\x00AUTH ANONYMOUS " + hexOf("trace") + "\r\nBEGIN\r\n",
		"\x00AUTH EXTERNAL 30\r\nCANCEL\r\nERROR\r\nDATA\r\nBEGIN\r\n",
		"\x00" + auth + "CANCEL\r\n" + auth + "BEGIN\r\n",
		"\x00FOO\r\n\r\nAUTH zz\r\nBEGIN x\r\n",
		"AUTH EXTERNAL\r\n",
		"\x00\xff\r\n",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	f.Fuzz(func(t *testing.T, in []byte, unixFD, anonymous bool) {
		cfg := ServerConfig{GUID: testGUID, PeerUID: uidPtr(scriptUID), UnixFD: unixFD, AllowAnonymous: anonymous}
		r := bytes.NewReader(in)
		var out bytes.Buffer
		res, err := Server(struct {
			io.Reader
			io.Writer
		}{r, &out}, cfg)

		// Every answer is a well-formed line.
		for _, line := range strings.SplitAfter(out.String(), "\r\n") {
			if line == "" {
				continue
			}
			if !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("server wrote an unterminated line %q", line)
			}
			if _, perr := ParseCommand([]byte(line)); perr != nil {
				t.Fatalf("server wrote %q, which does not parse: %v", line, perr)
			}
		}
		consumed := in[:len(in)-r.Len()]
		if n := bytes.Count(consumed, []byte("\n")); n > maxClientLines {
			t.Fatalf("server read %d lines, more than its limit of %d", n, maxClientLines)
		}
		if err != nil {
			if res != (ServerResult{}) {
				t.Fatalf("Server returned %+v along with error %v", res, err)
			}
			return
		}
		lines := bytes.SplitAfter(consumed, []byte("\r\n"))
		if len(lines) < 2 || len(lines[len(lines)-1]) != 0 {
			t.Fatalf("Server succeeded after reading %q, which does not end at a line boundary", consumed)
		}
		if last, perr := ParseCommand(lines[len(lines)-2]); perr != nil || last.Name != "BEGIN" {
			t.Fatalf("Server succeeded after reading %q, which does not end with a BEGIN line", consumed)
		}
		if !bytes.HasPrefix(consumed, []byte{0}) {
			t.Fatalf("Server succeeded without a NUL byte first")
		}
		switch res.Mechanism {
		case MechanismExternal:
			if res.UID != scriptUID {
				t.Fatalf("EXTERNAL authenticated user %d, not the peer %d", res.UID, scriptUID)
			}
		case MechanismAnonymous:
			if !anonymous || res.UID != NoUID {
				t.Fatalf("ANONYMOUS result %+v with AllowAnonymous=%v", res, anonymous)
			}
		default:
			t.Fatalf("unknown mechanism in %+v", res)
		}
		if res.UnixFD && !unixFD {
			t.Fatal("server agreed to fd passing it does not support")
		}
		if !strings.Contains(out.String(), "OK "+testGUID+"\r\n") {
			t.Fatalf("Server succeeded without sending OK; it wrote %q", out.String())
		}
	})
}
