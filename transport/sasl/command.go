// Package sasl implements the D-Bus authentication protocol, the line-based
// SASL profile that a client and a server speak on a freshly opened
// connection before they exchange D-Bus messages.
//
// A conversation looks like this, with C the client and S the server:
//
//	C: \0AUTH EXTERNAL 31303030
//	S: OK 0123456789abcdef0123456789abcdef
//	C: NEGOTIATE_UNIX_FD
//	S: AGREE_UNIX_FD
//	C: BEGIN
//
// The client first sends a single NUL byte, then protocol lines. Each line
// is a command name in [A-Z_], optionally followed by a space and
// space-separated arguments, and ends in "\r\n". Only printable ASCII may
// appear in a line. After BEGIN the same connection carries binary D-Bus
// messages, so both sides must take care not to read past the last line;
// [ReadLine] reads one byte at a time for that reason.
//
// [Client] runs the client side with the EXTERNAL mechanism, which
// authenticates the client by the credentials of its unix socket. The
// line-level pieces, [ReadLine], [ParseCommand] and [Command.Encode], are
// shared by both sides of the protocol.
package sasl

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLineLength is the longest line, without its "\r\n" terminator, that
// [ReadLine] accepts. Real lines are far shorter; the limit only stops a
// misbehaving peer from making the reader buffer without bound.
const MaxLineLength = 16 * 1024

// Command is one parsed line of the authentication protocol.
//
// For most commands the words after the command name are in Args. Two
// commands carry hex-encoded binary data instead, which Command holds
// decoded in Data:
//
//   - DATA <hex>: Args is empty and Data is the decoded payload, empty if
//     the line has no argument.
//   - AUTH [mechanism [hex initial response]]: Args holds the mechanism, if
//     any, and Data the decoded initial response, nil if there is none.
//
// For ERROR, Args holds the words of the human-readable explanation; for
// REJECTED, the names of the mechanisms the server supports; for OK, the
// server's GUID.
type Command struct {
	// Name is the command word, such as "AUTH" or "OK".
	Name string
	// Args are the space-separated arguments after Name, except for data
	// carried in Data.
	Args []string
	// Data is the decoded payload of a DATA command or the initial
	// response of an AUTH command.
	Data []byte
}

// Text returns the arguments joined by single spaces. For an ERROR
// command it is the explanation the peer gave.
func (c Command) Text() string {
	return strings.Join(c.Args, " ")
}

// ParseCommand parses one protocol line. A trailing "\r\n" is removed if
// present. It checks that the line contains only printable ASCII, that the
// command name consists of upper-case letters and '_', and, for the
// commands the D-Bus specification defines, that the arguments have the
// right number and form: hexadecimal data for DATA and AUTH, a 32-digit
// hexadecimal GUID for OK, and no arguments for BEGIN, CANCEL,
// NEGOTIATE_UNIX_FD and AGREE_UNIX_FD.
//
// A well-formed line with an unknown command name is not an error: the
// protocol expects the receiver to answer it with ERROR, so ParseCommand
// returns it with its words in Args.
func ParseCommand(line []byte) (Command, error) {
	c, err := parseCommand(line)
	if err != nil {
		return Command{}, fmt.Errorf("sasl: %w", err)
	}
	return c, nil
}

// parseCommand is ParseCommand with errors that lack the package prefix.
func parseCommand(line []byte) (Command, error) {
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line = line[:n-2]
	}
	if len(line) == 0 {
		return Command{}, errors.New("empty line; expected a command such as AUTH or OK")
	}
	if i := indexNonPrintable(line); i >= 0 {
		return Command{}, fmt.Errorf("line %q has byte 0x%02x at offset %d; only printable ASCII is allowed", truncate(line), line[i], i)
	}
	s := string(line)
	name, rest, _ := strings.Cut(s, " ")
	if !isCommandName(name) {
		return Command{}, fmt.Errorf("line %q does not start with a command name; command names consist of upper-case letters and '_'", truncate(line))
	}
	args := strings.Fields(rest)
	c := Command{Name: name}
	wantArgs := func(min, max int) error {
		if len(args) < min || len(args) > max {
			var want string
			switch {
			case max == 0:
				want = "no arguments"
			case min == max:
				want = fmt.Sprintf("exactly %d argument(s)", min)
			default:
				want = fmt.Sprintf("%d to %d arguments", min, max)
			}
			return fmt.Errorf("%s command takes %s, got %d in %q", name, want, len(args), truncate(line))
		}
		return nil
	}
	switch name {
	case "AUTH":
		if err := wantArgs(0, 2); err != nil {
			return Command{}, err
		}
		if len(args) == 2 {
			data, err := decodeHex(name, args[1])
			if err != nil {
				return Command{}, err
			}
			c.Data = data
			args = args[:1]
		}
	case "DATA":
		if err := wantArgs(0, 1); err != nil {
			return Command{}, err
		}
		c.Data = []byte{}
		if len(args) == 1 {
			data, err := decodeHex(name, args[0])
			if err != nil {
				return Command{}, err
			}
			c.Data = data
		}
		args = nil
	case "OK":
		if err := wantArgs(1, 1); err != nil {
			return Command{}, err
		}
		if !IsGUID(args[0]) {
			return Command{}, fmt.Errorf("OK command carries %q, which is not a server GUID of 32 hexadecimal digits", truncate([]byte(args[0])))
		}
	case "BEGIN", "CANCEL", "NEGOTIATE_UNIX_FD", "AGREE_UNIX_FD":
		if err := wantArgs(0, 0); err != nil {
			return Command{}, err
		}
	}
	if len(args) > 0 {
		c.Args = args
	}
	return c, nil
}

// Encode returns the line for c, terminated by "\r\n". Data, if any, is
// hex-encoded with lower-case digits. Encode returns an error if the
// command name or an argument is malformed (an argument must be non-empty
// printable ASCII without spaces), if Data is set on a command other than
// AUTH or DATA, or if the line would not satisfy [ParseCommand]; so any
// line Encode produces is accepted by ParseCommand.
func (c Command) Encode() ([]byte, error) {
	if !isCommandName(c.Name) {
		return nil, fmt.Errorf("sasl: cannot encode command name %q; command names consist of upper-case letters and '_'", c.Name)
	}
	for _, a := range c.Args {
		if a == "" || strings.IndexByte(a, ' ') >= 0 || indexNonPrintable([]byte(a)) >= 0 {
			return nil, fmt.Errorf("sasl: cannot encode %s argument %q; arguments must be non-empty printable ASCII without spaces", c.Name, a)
		}
	}
	b := []byte(c.Name)
	for _, a := range c.Args {
		b = append(b, ' ')
		b = append(b, a...)
	}
	switch c.Name {
	case "DATA":
		if len(c.Args) > 0 {
			return nil, errors.New("sasl: cannot encode DATA with Args; put the payload in Data")
		}
	case "AUTH":
		if len(c.Data) > 0 && len(c.Args) != 1 {
			return nil, errors.New("sasl: cannot encode AUTH with an initial response but no mechanism name")
		}
	default:
		if len(c.Data) > 0 {
			return nil, fmt.Errorf("sasl: cannot encode %s with Data; only AUTH and DATA carry data", c.Name)
		}
	}
	if len(c.Data) > 0 {
		b = append(b, ' ')
		b = hex.AppendEncode(b, c.Data)
	}
	if _, err := parseCommand(b); err != nil {
		return nil, fmt.Errorf("sasl: cannot encode command: %w", err)
	}
	return append(b, '\r', '\n'), nil
}

// ReadLine reads one protocol line from r and returns it without its
// "\r\n" terminator.
//
// ReadLine reads one byte per Read call and so never consumes anything
// after the terminator: whatever follows, such as the first D-Bus message
// after BEGIN, stays unread in r. It fails if the line is longer than
// [MaxLineLength], if it holds anything but printable ASCII, or if a '\r'
// is not followed by '\n' or a '\n' is not preceded by '\r'. If r reaches
// end of file before the first byte, the error is io.EOF; if it does so in
// the middle of a line, io.ErrUnexpectedEOF. Errors from r are returned
// wrapped, so a deadline set on a net.Conn surfaces as an error matching
// os.ErrDeadlineExceeded.
func ReadLine(r io.Reader) ([]byte, error) {
	line, err := readLine(r)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("sasl: %w", err)
	}
	return line, err
}

// readLine is ReadLine with errors that lack the package prefix.
func readLine(r io.Reader) ([]byte, error) {
	line := make([]byte, 0, 64)
	var buf [1]byte
	readByte := func() (byte, error) {
		for empty := 0; ; empty++ {
			n, err := r.Read(buf[:])
			if n == 1 {
				return buf[0], nil
			}
			if err != nil {
				return 0, err
			}
			if empty == 100 {
				return 0, io.ErrNoProgress
			}
		}
	}
	for {
		c, err := readByte()
		if err == io.EOF && len(line) == 0 {
			return nil, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, fmt.Errorf("reading line: %w", err)
		}
		switch {
		case c == '\r':
			c, err = readByte()
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, fmt.Errorf("reading line: %w", err)
			}
			if c != '\n' {
				return nil, fmt.Errorf("line %q has '\\r' followed by byte 0x%02x; lines must end in \"\\r\\n\"", truncate(line), c)
			}
			return line, nil
		case c == '\n':
			return nil, fmt.Errorf("line %q ends in a bare '\\n'; lines must end in \"\\r\\n\"", truncate(line))
		case c < 0x20 || c > 0x7e:
			return nil, fmt.Errorf("line %q has byte 0x%02x at offset %d; only printable ASCII is allowed", truncate(line), c, len(line))
		}
		if len(line) == MaxLineLength {
			return nil, fmt.Errorf("line %q is longer than %d bytes", truncate(line), MaxLineLength)
		}
		line = append(line, c)
	}
}

// IsGUID reports whether s has the form of a D-Bus server GUID: 32
// hexadecimal digits.
func IsGUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isCommandName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return true
}

// indexNonPrintable returns the index of the first byte of b outside
// printable ASCII, or -1.
func indexNonPrintable(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			return i
		}
	}
	return -1
}

func decodeHex(name, s string) ([]byte, error) {
	data, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s argument %q is not valid hexadecimal data: %v", name, truncate([]byte(s)), err)
	}
	return data, nil
}

// truncate shortens b for inclusion in an error message.
func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
