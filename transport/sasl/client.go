package sasl

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxServerLines bounds how many lines Client reads from the server. A
// successful conversation needs at most three (DATA, OK, AGREE_UNIX_FD);
// the rest is room for the ERROR round trips the protocol prescribes for
// unexpected commands.
const maxServerLines = 10

// ClientConfig configures [Client]. The zero value is ready to use: it
// authenticates as the process's user ID and does not ask for unix file
// descriptor passing.
type ClientConfig struct {
	// UID is the user ID the client asks to be authorized as, in the form
	// the server expects (decimal on unix, such as "1000"). It is sent
	// hex-encoded as the EXTERNAL initial response. If empty, the decimal
	// form of os.Getuid() is used.
	UID string

	// EmptyInitialResponse makes the client send "AUTH EXTERNAL" without an
	// initial response. The server then sends an empty DATA challenge,
	// which the client answers with an empty DATA line, asking to be
	// authorized as whatever user the server sees on the socket. UID is not
	// sent in this mode. This helps when the client's idea of its user ID
	// differs from the server's, as across user namespaces.
	EmptyInitialResponse bool

	// NegotiateUnixFD makes the client ask, after authentication succeeds,
	// whether unix file descriptors may be passed on the connection. Set it
	// only for transports that can carry them, such as unix sockets.
	NegotiateUnixFD bool
}

// Result describes a successful authentication.
type Result struct {
	// GUID is the server's GUID from its OK reply: 32 hexadecimal digits,
	// as the server sent them. A client that connected using an address
	// with a guid parameter should check that the two match.
	GUID string
	// UnixFD reports whether the server agreed to pass unix file
	// descriptors. It is always false if ClientConfig.NegotiateUnixFD was
	// not set.
	UnixFD bool
}

// RejectedError is returned by [Client] when the server rejects EXTERNAL
// authentication.
type RejectedError struct {
	// Mechanisms lists the mechanisms the server offers instead.
	Mechanisms []string
}

// Error implements the error interface.
func (e *RejectedError) Error() string {
	const hint = "this client supports only EXTERNAL, so check that the server accepts connections from this user and that ClientConfig.UID, if set, is this process's user ID"
	if len(e.Mechanisms) == 0 {
		return "sasl: server rejected EXTERNAL authentication and offers no mechanisms; " + hint
	}
	return fmt.Sprintf("sasl: server rejected EXTERNAL authentication (it offers: %s); %s", strings.Join(e.Mechanisms, ", "), hint)
}

// Client authenticates to a D-Bus server over rw with the EXTERNAL
// mechanism, then sends BEGIN. On success rw is positioned at the start of
// the D-Bus message stream: Client writes exactly the protocol bytes and
// reads exactly the lines the server sends, never anything beyond them.
//
// rw is typically a freshly connected unix socket; the server learns the
// client's identity from the socket credentials. Client writes the NUL
// byte the protocol requires first as an ordinary byte, which suffices on
// Linux and other systems where the server can query the peer's
// credentials.
//
// Client does not set timeouts. To bound the time a slow or silent server
// can hold it up, set a deadline on the connection (net.Conn.SetDeadline)
// before calling Client and clear it afterwards; the resulting error
// matches os.ErrDeadlineExceeded. Client reads at most a few lines of
// bounded length, so a hostile server cannot make it loop or buffer
// without limit.
//
// If the server rejects the mechanism, the error is a *RejectedError. If
// the server refuses file descriptor passing, that is not an error:
// Result.UnixFD is false. After any error Client stops without further
// exchanges, and the connection is unusable: close it.
func Client(rw io.ReadWriter, cfg ClientConfig) (Result, error) {
	auth := Command{Name: "AUTH", Args: []string{"EXTERNAL"}}
	if !cfg.EmptyInitialResponse {
		uid := cfg.UID
		if uid == "" {
			id := os.Getuid()
			if id < 0 {
				return Result{}, errors.New("sasl: this system has no numeric user ID; set ClientConfig.UID")
			}
			uid = strconv.Itoa(id)
		}
		auth.Data = []byte(uid)
	}
	line, err := auth.Encode()
	if err != nil {
		return Result{}, err
	}
	c := &client{rw: rw}
	if err := c.write("AUTH", append([]byte{0}, line...)); err != nil {
		return Result{}, err
	}
	for {
		cmd, err := c.read()
		if err != nil {
			return Result{}, err
		}
		switch cmd.Name {
		case "OK":
			return c.finish(cmd.Args[0], cfg.NegotiateUnixFD)
		case "REJECTED":
			return Result{}, &RejectedError{Mechanisms: cmd.Args}
		case "ERROR":
			return Result{}, fmt.Errorf("sasl: server answered %s with an error: %q", c.sent, cmd.Text())
		case "DATA":
			if len(cmd.Data) > 0 {
				return Result{}, fmt.Errorf("sasl: server sent a DATA challenge with %d bytes of data, but the EXTERNAL mechanism has nothing to answer it with", len(cmd.Data))
			}
			if err := c.send(Command{Name: "DATA"}); err != nil {
				return Result{}, err
			}
		default:
			// The protocol says to answer anything unexpected with ERROR
			// and carry on waiting; maxServerLines bounds the loop.
			if err := c.send(Command{Name: "ERROR", Args: []string{"unexpected", "command"}}); err != nil {
				return Result{}, err
			}
		}
	}
}

// client holds the state of one client conversation.
type client struct {
	rw    io.ReadWriter
	sent  string // name of the last command sent, for messages
	lines int    // lines read so far
}

// finish runs the steps after the server's OK: the optional file
// descriptor negotiation and BEGIN.
func (c *client) finish(guid string, negotiateFD bool) (Result, error) {
	res := Result{GUID: guid}
	if negotiateFD {
		if err := c.send(Command{Name: "NEGOTIATE_UNIX_FD"}); err != nil {
			return Result{}, err
		}
		cmd, err := c.read()
		if err != nil {
			return Result{}, err
		}
		switch cmd.Name {
		case "AGREE_UNIX_FD":
			res.UnixFD = true
		case "ERROR":
			// File descriptors cannot be passed; the connection is
			// still usable.
		default:
			return Result{}, fmt.Errorf("sasl: server answered NEGOTIATE_UNIX_FD with %s; expected AGREE_UNIX_FD or ERROR", cmd.Name)
		}
	}
	if err := c.send(Command{Name: "BEGIN"}); err != nil {
		return Result{}, err
	}
	return res, nil
}

// send encodes cmd and writes it.
func (c *client) send(cmd Command) error {
	line, err := cmd.Encode()
	if err != nil {
		return err
	}
	return c.write(cmd.Name, line)
}

func (c *client) write(name string, b []byte) error {
	c.sent = name
	if _, err := c.rw.Write(b); err != nil {
		return fmt.Errorf("sasl: sending %s: %w", name, err)
	}
	return nil
}

// read reads and parses the server's next line.
func (c *client) read() (Command, error) {
	if c.lines == maxServerLines {
		return Command{}, fmt.Errorf("sasl: server sent %d lines without completing authentication; giving up", c.lines)
	}
	c.lines++
	line, err := readLine(c.rw)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Command{}, fmt.Errorf("sasl: server closed the connection while the client waited for its reply to %s: %w", c.sent, io.ErrUnexpectedEOF)
		}
		return Command{}, fmt.Errorf("sasl: waiting for the reply to %s: %w", c.sent, err)
	}
	cmd, err := parseCommand(line)
	if err != nil {
		return Command{}, fmt.Errorf("sasl: invalid reply to %s: %w", c.sent, err)
	}
	return cmd, nil
}
