package sasl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The authentication mechanisms [Server] implements.
const (
	// MechanismExternal authenticates a client by the credentials the
	// kernel records for its socket.
	MechanismExternal = "EXTERNAL"
	// MechanismAnonymous lets a client in without any identity.
	MechanismAnonymous = "ANONYMOUS"
)

// NoUID is the user ID [Server] reports for a client authenticated with
// ANONYMOUS. It is (uid_t)-1, which names no user on unix systems, so code
// that forgets to check the mechanism grants nothing by accident.
const NoUID = ^uint32(0)

// maxClientLines bounds how many lines Server reads. A successful
// conversation needs at most five (AUTH to list mechanisms, AUTH with a
// mechanism, DATA, NEGOTIATE_UNIX_FD, BEGIN); the rest is room for retries
// and the ERROR round trips the protocol prescribes. Together with
// MaxLineLength it caps what one client can make the server read.
const maxClientLines = 32

// maxTraceLength is the longest ANONYMOUS trace information the server
// accepts, in bytes (RFC 4505 allows 255 characters).
const maxTraceLength = 1020

// ServerConfig configures [Server].
type ServerConfig struct {
	// GUID is the server's GUID, 32 hexadecimal digits, sent in the OK
	// reply. It must be the same for every connection to one bus.
	GUID string

	// PeerUID is the user ID of the process at the other end of the
	// socket, as the kernel reports it (SO_PEERCRED on Linux). It must come
	// from the kernel, never from the client. EXTERNAL succeeds only for
	// this user. If nil, the peer's identity is unknown and EXTERNAL is
	// neither offered nor accepted.
	PeerUID *uint32

	// AllowAnonymous makes the server offer and accept the ANONYMOUS
	// mechanism, which authenticates nobody.
	AllowAnonymous bool

	// UnixFD makes the server agree when the client asks to pass unix file
	// descriptors. Set it only for transports that can carry them.
	UnixFD bool
}

// ServerResult describes a successful authentication.
type ServerResult struct {
	// Mechanism is the mechanism that succeeded: [MechanismExternal] or
	// [MechanismAnonymous].
	Mechanism string
	// UID is the authenticated user ID: ServerConfig.PeerUID with
	// EXTERNAL, [NoUID] with ANONYMOUS.
	UID uint32
	// UnixFD reports whether the server agreed to pass unix file
	// descriptors.
	UnixFD bool
}

// serverState is a state of the server's state machine, as named in the
// D-Bus specification's authentication state diagrams.
type serverState int

const (
	waitingForAuth serverState = iota
	waitingForData
	waitingForBegin
)

func (s serverState) String() string {
	switch s {
	case waitingForAuth:
		return "waiting for AUTH"
	case waitingForData:
		return "waiting for DATA"
	default:
		return "waiting for BEGIN"
	}
}

// Server runs the server side of the authentication protocol on rw, a
// freshly accepted connection, as a D-Bus bus does on a unix socket. It
// returns once the client has authenticated and sent BEGIN.
//
// Server reads the NUL byte the client sends first, then protocol lines,
// and answers them as the D-Bus specification's state diagrams for the
// server prescribe: REJECTED for failed or unknown mechanisms, ERROR for
// commands that make no sense in the current state, DATA to ask for the
// EXTERNAL identity when the client gave none. EXTERNAL succeeds when the
// client asks for the user ID in cfg.PeerUID, given in decimal, or sends
// no identity at all; ANONYMOUS succeeds if cfg.AllowAnonymous is set.
//
// Server reads one byte per Read call and never reads past the "\r\n" of
// BEGIN, so whatever the client sent after it, typically its first D-Bus
// message sent without waiting, is still unread in rw when Server
// returns.
//
// A client may not stall or flood the server: Server reads at most 32
// lines of at most [MaxLineLength] bytes and gives up after that. It does
// not set timeouts, though: to bound the time a slow or silent client can
// hold it up, set a deadline on the connection (net.Conn.SetDeadline)
// before calling Server and clear it afterwards. The resulting error
// matches os.ErrDeadlineExceeded.
//
// Server fails if cfg is invalid, if the client breaks the protocol in a
// way the protocol answers by disconnecting (no NUL byte, a line that is
// not printable ASCII or too long, BEGIN before authenticating), if it
// sends too many lines, or if it closes the connection or rw fails. After
// an error the connection must be closed.
func Server(rw io.ReadWriter, cfg ServerConfig) (ServerResult, error) {
	if !IsGUID(cfg.GUID) {
		return ServerResult{}, fmt.Errorf("sasl: ServerConfig.GUID %q is not a server GUID of 32 hexadecimal digits", truncate([]byte(cfg.GUID)))
	}
	if cfg.PeerUID == nil && !cfg.AllowAnonymous {
		return ServerResult{}, errors.New("sasl: ServerConfig offers no mechanism; set PeerUID for EXTERNAL or AllowAnonymous for ANONYMOUS")
	}
	s := &server{rw: rw, cfg: cfg}
	if err := s.readNUL(); err != nil {
		return ServerResult{}, err
	}
	for {
		cmd, err := s.read()
		if err != nil {
			return ServerResult{}, err
		}
		var done bool
		switch s.state {
		case waitingForAuth:
			err = s.onWaitingForAuth(cmd)
		case waitingForData:
			err = s.onWaitingForData(cmd)
		case waitingForBegin:
			done, err = s.onWaitingForBegin(cmd)
		}
		if err != nil {
			return ServerResult{}, err
		}
		if done {
			return s.res, nil
		}
	}
}

// server holds the state of one server conversation.
type server struct {
	rw    io.ReadWriter
	cfg   ServerConfig
	state serverState
	lines int // lines read so far
	// res is the result being built: the mechanism in progress, and once
	// the state is waitingForBegin, the authenticated identity.
	res ServerResult
}

// readNUL reads the byte that precedes the first line.
func (s *server) readNUL() error {
	var buf [1]byte
	for empty := 0; ; empty++ {
		n, err := s.rw.Read(buf[:])
		if n == 1 {
			break
		}
		if err == io.EOF {
			return fmt.Errorf("sasl: client closed the connection before sending the initial NUL byte: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return fmt.Errorf("sasl: reading the initial NUL byte: %w", err)
		}
		if empty == 100 {
			return fmt.Errorf("sasl: reading the initial NUL byte: %w", io.ErrNoProgress)
		}
	}
	if buf[0] != 0 {
		return fmt.Errorf("sasl: client's first byte is 0x%02x; the protocol starts with a NUL byte, so this is not a D-Bus client", buf[0])
	}
	return nil
}

// read reads the client's next well-formed command. It answers malformed
// lines with ERROR, as the protocol prescribes for anything the server
// does not understand, and reads on.
func (s *server) read() (Command, error) {
	for {
		if s.lines == maxClientLines {
			return Command{}, fmt.Errorf("sasl: client sent %d lines without completing authentication; giving up", s.lines)
		}
		s.lines++
		line, err := readLine(s.rw)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return Command{}, fmt.Errorf("sasl: client closed the connection while the server was %s: %w", s.state, io.ErrUnexpectedEOF)
			}
			return Command{}, fmt.Errorf("sasl: while %s: %w", s.state, err)
		}
		cmd, err := parseCommand(line)
		if err == nil {
			return cmd, nil
		}
		if err := s.sendError("Malformed command"); err != nil {
			return Command{}, err
		}
	}
}

// onWaitingForAuth handles cmd in the initial state.
func (s *server) onWaitingForAuth(cmd Command) error {
	switch cmd.Name {
	case "AUTH":
		return s.auth(cmd)
	case "ERROR":
		return s.reject()
	case "BEGIN":
		return errors.New("sasl: client sent BEGIN before authenticating")
	case "CANCEL", "DATA":
		return s.sendError("Not currently in an auth conversation")
	case "NEGOTIATE_UNIX_FD":
		return s.sendError("Need to authenticate first")
	default:
		return s.sendError("Unknown command")
	}
}

// onWaitingForData handles cmd after the server has sent a DATA
// challenge.
func (s *server) onWaitingForData(cmd Command) error {
	switch cmd.Name {
	case "DATA":
		if len(cmd.Data) == 0 {
			// The client asks to be whoever the socket says it is.
			return s.accept(*s.cfg.PeerUID)
		}
		return s.external(cmd.Data)
	case "CANCEL", "ERROR":
		return s.reject()
	case "BEGIN":
		return errors.New("sasl: client sent BEGIN before completing authentication")
	case "AUTH":
		return s.sendError("Sent AUTH while another AUTH is in progress")
	case "NEGOTIATE_UNIX_FD":
		return s.sendError("Need to authenticate first")
	default:
		return s.sendError("Unknown command")
	}
}

// onWaitingForBegin handles cmd after the server has sent OK. It reports
// done when cmd is BEGIN.
func (s *server) onWaitingForBegin(cmd Command) (done bool, err error) {
	switch cmd.Name {
	case "BEGIN":
		return true, nil
	case "NEGOTIATE_UNIX_FD":
		if !s.cfg.UnixFD {
			return false, s.sendError("Unix file descriptor passing is not supported on this connection")
		}
		s.res.UnixFD = true
		return false, s.send(Command{Name: "AGREE_UNIX_FD"})
	case "CANCEL", "ERROR":
		return false, s.reject()
	case "AUTH":
		return false, s.sendError("Sent AUTH while expecting BEGIN")
	case "DATA":
		return false, s.sendError("Sent DATA while expecting BEGIN")
	default:
		return false, s.sendError("Unknown command")
	}
}

// auth handles an AUTH command.
func (s *server) auth(cmd Command) error {
	if len(cmd.Args) == 0 {
		// A bare AUTH asks which mechanisms the server supports.
		return s.reject()
	}
	switch mech := cmd.Args[0]; {
	case mech == MechanismExternal && s.cfg.PeerUID != nil:
		s.res.Mechanism = mech
		if len(cmd.Data) == 0 {
			// No identity given: ask for one. An empty answer means the
			// socket's.
			s.state = waitingForData
			return s.send(Command{Name: "DATA"})
		}
		return s.external(cmd.Data)
	case mech == MechanismAnonymous && s.cfg.AllowAnonymous:
		// The initial response, if any, is trace information that
		// identifies nobody; it only has to be sane.
		if len(cmd.Data) > maxTraceLength || !utf8.Valid(cmd.Data) {
			return s.reject()
		}
		s.res.Mechanism = mech
		return s.accept(NoUID)
	default:
		return s.reject()
	}
}

// external checks the identity an EXTERNAL client asked for, the decimal
// user ID, against the socket's.
func (s *server) external(identity []byte) error {
	uid, ok := parseUID(identity)
	if !ok || uid != *s.cfg.PeerUID {
		return s.reject()
	}
	return s.accept(uid)
}

// parseUID parses a decimal user ID.
func parseUID(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	uid, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(uid), err == nil
}

// accept authenticates the client as uid with the mechanism in progress.
func (s *server) accept(uid uint32) error {
	s.res.UID = uid
	s.state = waitingForBegin
	return s.send(Command{Name: "OK", Args: []string{s.cfg.GUID}})
}

// reject sends REJECTED with the mechanisms on offer and starts over.
func (s *server) reject() error {
	s.state = waitingForAuth
	s.res = ServerResult{}
	var mechs []string
	if s.cfg.PeerUID != nil {
		mechs = append(mechs, MechanismExternal)
	}
	if s.cfg.AllowAnonymous {
		mechs = append(mechs, MechanismAnonymous)
	}
	return s.send(Command{Name: "REJECTED", Args: mechs})
}

// sendError sends ERROR with a quoted explanation, in the form
// dbus-daemon uses.
func (s *server) sendError(text string) error {
	return s.send(Command{Name: "ERROR", Args: strings.Fields(`"` + text + `"`)})
}

// send encodes cmd and writes it in one Write call.
func (s *server) send(cmd Command) error {
	line, err := cmd.Encode()
	if err != nil {
		return err
	}
	if _, err := s.rw.Write(line); err != nil {
		return fmt.Errorf("sasl: sending %s: %w", cmd.Name, err)
	}
	return nil
}
