package sasl

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCommand(t *testing.T) {
	const guid = "0123456789abcdef0123456789ABCDEF"
	tests := []struct {
		line string
		want Command
	}{
		{"AUTH", Command{Name: "AUTH"}},
		{"AUTH EXTERNAL", Command{Name: "AUTH", Args: []string{"EXTERNAL"}}},
		{"AUTH EXTERNAL 31303030", Command{Name: "AUTH", Args: []string{"EXTERNAL"}, Data: []byte("1000")}},
		{"AUTH EXTERNAL 4a4B\r\n", Command{Name: "AUTH", Args: []string{"EXTERNAL"}, Data: []byte("JK")}},
		{"DATA", Command{Name: "DATA", Data: []byte{}}},
		{"DATA ", Command{Name: "DATA", Data: []byte{}}},
		{"DATA 00ff", Command{Name: "DATA", Data: []byte{0, 0xff}}},
		{"OK " + guid, Command{Name: "OK", Args: []string{guid}}},
		{"OK  " + guid + " ", Command{Name: "OK", Args: []string{guid}}},
		{"REJECTED", Command{Name: "REJECTED"}},
		{"REJECTED EXTERNAL DBUS_COOKIE_SHA1 ANONYMOUS", Command{Name: "REJECTED", Args: []string{"EXTERNAL", "DBUS_COOKIE_SHA1", "ANONYMOUS"}}},
		{"ERROR", Command{Name: "ERROR"}},
		{`ERROR "Unknown command"`, Command{Name: "ERROR", Args: []string{`"Unknown`, `command"`}}},
		{"BEGIN", Command{Name: "BEGIN"}},
		{"CANCEL\r\n", Command{Name: "CANCEL"}},
		{"NEGOTIATE_UNIX_FD", Command{Name: "NEGOTIATE_UNIX_FD"}},
		{"AGREE_UNIX_FD", Command{Name: "AGREE_UNIX_FD"}},
		// Unknown commands parse, so the receiver can answer with ERROR.
		{"FROBNICATE a b ~!", Command{Name: "FROBNICATE", Args: []string{"a", "b", "~!"}}},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.line, err)
			continue
		}
		if !commandsEqual(got, tt.want) {
			t.Errorf("ParseCommand(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
		if tt.want.Name == "DATA" && got.Data == nil {
			t.Errorf("ParseCommand(%q).Data is nil, want empty", tt.line)
		}
	}
}

func commandsEqual(a, b Command) bool {
	return a.Name == b.Name && slices.Equal(a.Args, b.Args) && bytes.Equal(a.Data, b.Data)
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct {
		line string
		msg  string
	}{
		{"", "empty line"},
		{"\r\n", "empty line"},
		{" AUTH", "does not start with a command name"},
		{"auth EXTERNAL", "does not start with a command name"},
		{"AUTH1", "does not start with a command name"},
		{"AUTH\tEXTERNAL", "byte 0x09 at offset 4"},
		{"OK \x80", "byte 0x80 at offset 3"},
		{"OK\r", "byte 0x0d"},
		{"DATA\r\n\r\n", "byte 0x0d"},
		{"ERROR bad\x00byte", "byte 0x00"},
		{"AUTH EXTERNAL 3130 extra", "AUTH command takes 0 to 2 arguments, got 3"},
		{"AUTH EXTERNAL 313", "not valid hexadecimal"},
		{"AUTH EXTERNAL zz", "not valid hexadecimal"},
		{"DATA 31 32", "DATA command takes 0 to 1 arguments, got 2"},
		{"DATA xyz", "not valid hexadecimal"},
		{"OK", "OK command takes exactly 1 argument(s), got 0"},
		{"OK 0123456789abcdef0123456789abcdef x", "got 2"},
		{"OK 1234", "not a server GUID"},
		{"OK 0123456789abcdef0123456789abcdeg", "not a server GUID"},
		{"BEGIN now", "BEGIN command takes no arguments"},
		{"CANCEL x", "takes no arguments"},
		{"NEGOTIATE_UNIX_FD x", "takes no arguments"},
		{"AGREE_UNIX_FD x", "takes no arguments"},
	}
	for _, tt := range tests {
		got, err := ParseCommand([]byte(tt.line))
		if err == nil {
			t.Errorf("ParseCommand(%q) = %#v, want error", tt.line, got)
			continue
		}
		if !strings.HasPrefix(err.Error(), "sasl: ") || strings.Count(err.Error(), "sasl: ") != 1 {
			t.Errorf("ParseCommand(%q) error %q: want exactly one package prefix", tt.line, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseCommand(%q) error %q, want it to contain %q", tt.line, err, tt.msg)
		}
	}
}

func TestParseCommandLongLineErrorIsShort(t *testing.T) {
	line := "OK " + strings.Repeat("a", 10000)
	_, err := ParseCommand([]byte(line))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("error for a long bad line: %d bytes, want an error of modest size", len(err.Error()))
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		cmd  Command
		want string
	}{
		{Command{Name: "AUTH", Args: []string{"EXTERNAL"}, Data: []byte("1000")}, "AUTH EXTERNAL 31303030\r\n"},
		{Command{Name: "AUTH", Args: []string{"EXTERNAL"}}, "AUTH EXTERNAL\r\n"},
		{Command{Name: "AUTH", Args: []string{"EXTERNAL"}, Data: []byte{}}, "AUTH EXTERNAL\r\n"},
		{Command{Name: "AUTH"}, "AUTH\r\n"},
		{Command{Name: "DATA"}, "DATA\r\n"},
		{Command{Name: "DATA", Data: []byte{0xab, 0x01}}, "DATA ab01\r\n"},
		{Command{Name: "OK", Args: []string{"0123456789abcdef0123456789abcdef"}}, "OK 0123456789abcdef0123456789abcdef\r\n"},
		{Command{Name: "REJECTED", Args: []string{"EXTERNAL", "ANONYMOUS"}}, "REJECTED EXTERNAL ANONYMOUS\r\n"},
		{Command{Name: "ERROR", Args: strings.Fields("no such mechanism")}, "ERROR no such mechanism\r\n"},
		{Command{Name: "BEGIN"}, "BEGIN\r\n"},
		{Command{Name: "NEGOTIATE_UNIX_FD"}, "NEGOTIATE_UNIX_FD\r\n"},
	}
	for _, tt := range tests {
		got, err := tt.cmd.Encode()
		if err != nil || string(got) != tt.want {
			t.Errorf("%#v.Encode() = %q, %v; want %q", tt.cmd, got, err, tt.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		cmd Command
		msg string
	}{
		{Command{}, "command name"},
		{Command{Name: "auth"}, "command name"},
		{Command{Name: "ERROR", Args: []string{"two words"}}, "without spaces"},
		{Command{Name: "ERROR", Args: []string{""}}, "non-empty"},
		{Command{Name: "ERROR", Args: []string{"tab\t"}}, "printable ASCII"},
		{Command{Name: "ERROR", Args: []string{"\r\nBEGIN"}}, "printable ASCII"},
		{Command{Name: "DATA", Args: []string{"31"}}, "put the payload in Data"},
		{Command{Name: "AUTH", Data: []byte("1")}, "no mechanism"},
		{Command{Name: "BEGIN", Data: []byte("1")}, "only AUTH and DATA carry data"},
		{Command{Name: "BEGIN", Args: []string{"x"}}, "takes no arguments"},
		{Command{Name: "OK", Args: []string{"abc"}}, "not a server GUID"},
	}
	for _, tt := range tests {
		got, err := tt.cmd.Encode()
		if err == nil {
			t.Errorf("%#v.Encode() = %q, want error", tt.cmd, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%#v.Encode() error %q, want it to contain %q", tt.cmd, err, tt.msg)
		}
	}
}

func TestText(t *testing.T) {
	c, err := ParseCommand([]byte("ERROR  something   went wrong "))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Text(); got != "something went wrong" {
		t.Errorf("Text() = %q", got)
	}
}

func TestReadLine(t *testing.T) {
	r := strings.NewReader("OK 1\r\n\r\nDATA\r\nrest")
	for _, want := range []string{"OK 1", "", "DATA"} {
		got, err := ReadLine(r)
		if err != nil || string(got) != want {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "rest" {
		t.Errorf("ReadLine consumed bytes after the line: left %q, want %q", rest, "rest")
	}

	// A reader that returns one byte at a time, or errors along with data,
	// works the same.
	for _, r := range []io.Reader{
		iotest.OneByteReader(strings.NewReader("AUTH\r\n")),
		iotest.DataErrReader(strings.NewReader("AUTH\r\n")),
		&zeroReader{r: strings.NewReader("AUTH\r\n"), zeros: 50},
	} {
		if got, err := ReadLine(r); err != nil || string(got) != "AUTH" {
			t.Errorf("ReadLine(%T) = %q, %v", r, got, err)
		}
	}
}

// zeroReader returns (0, nil) zeros times before each byte.
type zeroReader struct {
	r     io.Reader
	zeros int
	n     int
}

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n < z.zeros {
		z.n++
		return 0, nil
	}
	z.n = 0
	return z.r.Read(p[:1])
}

func TestReadLineErrors(t *testing.T) {
	long := strings.Repeat("A", MaxLineLength)
	tests := []struct {
		in   io.Reader
		is   error
		msg  string
		left string // bytes that must remain unread, if known
	}{
		{strings.NewReader(""), io.EOF, "EOF", ""},
		{strings.NewReader("OK"), io.ErrUnexpectedEOF, "unexpected EOF", ""},
		{strings.NewReader("OK\r"), io.ErrUnexpectedEOF, "unexpected EOF", ""},
		{strings.NewReader("OK\n"), nil, "bare '\\n'", ""},
		{strings.NewReader("OK\rX\r\n"), nil, "'\\r' followed by byte 0x58", "\r\n"},
		{strings.NewReader("O\x00K\r\n"), nil, "byte 0x00 at offset 1", "K\r\n"},
		{strings.NewReader("OK \xc3\xa9\r\n"), nil, "byte 0xc3 at offset 3", "\xa9\r\n"},
		{strings.NewReader("\x7f\r\n"), nil, "byte 0x7f", "\r\n"},
		{strings.NewReader(long + "\r\n"), nil, "", ""},
		{strings.NewReader(long + "A\r\n"), nil, "longer than 16384 bytes", "\r\n"},
		{iotest.ErrReader(errors.New("boom")), nil, "boom", ""},
		{iotest.TimeoutReader(strings.NewReader("OK")), iotest.ErrTimeout, "timeout", ""},
		{&zeroReader{r: strings.NewReader("x"), zeros: 1000}, io.ErrNoProgress, "multiple Read calls", ""},
	}
	for i, tt := range tests {
		got, err := ReadLine(tt.in)
		if tt.msg == "" {
			if err != nil || len(got) != MaxLineLength {
				t.Errorf("case %d: a line of exactly MaxLineLength bytes failed: %v", i, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("case %d: ReadLine = %q, want error", i, got)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("case %d: error %q does not match %q", i, err, tt.is)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("case %d: error %q, want it to contain %q", i, err, tt.msg)
		}
		if err != io.EOF && !strings.HasPrefix(err.Error(), "sasl: ") {
			t.Errorf("case %d: error %q lacks the package prefix", i, err)
		}
		if tt.left != "" {
			rest, _ := io.ReadAll(tt.in)
			if string(rest) != tt.left {
				t.Errorf("case %d: left %q unread, want %q", i, rest, tt.left)
			}
		}
	}
	if _, err := ReadLine(strings.NewReader("")); err != io.EOF {
		t.Errorf("ReadLine at end of input = %v, want io.EOF itself", err)
	}
}

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"0123456789abcdef0123456789abcdef":  true,
		"0123456789ABCDEF0123456789abcdef":  true,
		"0123456789abcdef0123456789abcde":   false,
		"0123456789abcdef0123456789abcdef0": false,
		"0123456789abcdef0123456789abcdeg":  false,
		"":                                  false,
	} {
		if got := IsGUID(s); got != want {
			t.Errorf("IsGUID(%q) = %v, want %v", s, got, want)
		}
	}
}
