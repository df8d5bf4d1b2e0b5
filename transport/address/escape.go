package address

import (
	"fmt"
	"strings"
)

// isOptionallyEscaped reports whether c may appear unescaped in an address
// value. The set is the one the D-Bus specification gives:
// ASCII letters and digits and the bytes - _ / \ * and '.'.
func isOptionallyEscaped(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '/' || c == '\\' || c == '*' || c == '.'
}

// Escape percent-encodes s for use as a value in a D-Bus address. Bytes in
// the optionally-escaped set [-0-9A-Za-z_/.\*] are kept as they are; every
// other byte is written as %XX with lower-case hexadecimal digits.
func Escape(s string) string {
	var b strings.Builder
	appendEscaped(&b, s)
	return b.String()
}

func appendEscaped(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isOptionallyEscaped(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
}

// Unescape decodes a percent-encoded D-Bus address value. It accepts %XX
// with hexadecimal digits of either case for any byte, and the bytes of the
// optionally-escaped set [-0-9A-Za-z_/.\*] as they are; any other byte, or a
// '%' not followed by two hexadecimal digits, is an error. The result may
// contain arbitrary bytes, including NUL and invalid UTF-8.
func Unescape(s string) (string, error) {
	v, _, err := unescape(s)
	return v, err
}

// unescape is Unescape that also returns the offset in s of the problem.
func unescape(s string) (string, int, error) {
	if strings.IndexByte(s, '%') < 0 {
		for i := 0; i < len(s); i++ {
			if !isOptionallyEscaped(s[i]) {
				return "", i, invalidByteError(s[i])
			}
		}
		return s, 0, nil
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if len(s)-i < 3 {
				return "", i, fmt.Errorf("truncated escape %q at the end; '%%' must be followed by two hexadecimal digits", s[i:])
			}
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return "", i, fmt.Errorf("invalid escape %q; '%%' must be followed by two hexadecimal digits", s[i:i+3])
			}
			buf = append(buf, byte(hi<<4|lo))
			i += 2
		case isOptionallyEscaped(c):
			buf = append(buf, c)
		default:
			return "", i, invalidByteError(c)
		}
	}
	return string(buf), 0, nil
}

func invalidByteError(c byte) error {
	return fmt.Errorf("%s must be percent-encoded as %%%02x; only [-0-9A-Za-z_/.\\*] may appear unescaped", describeByte(c), c)
}

// unhex returns the value of the hexadecimal digit c, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
