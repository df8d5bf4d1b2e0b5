// Package address parses, formats and resolves D-Bus server addresses.
//
// A D-Bus server address names a transport and the parameters needed to
// reach a server over it, for example
//
//	unix:path=/run/user/1000/bus,guid=4f0d7b1c2a9e8d6f5b3c1a0e9d8c7b6a
//
// Several addresses may be joined with semicolons; a client tries them in
// order and uses the first one it can connect to. The syntax is defined in
// the "Server Addresses" section of the D-Bus specification:
//
//	address-list = [address *(";" address)]
//	address      = transport ":" [key "=" value *("," key "=" value)]
//
// Values are percent-encoded. The bytes [-0-9A-Za-z_/.\*] may appear as
// they are; every byte may appear as %XX, where XX are two hexadecimal
// digits of either case. Any other raw byte makes the address invalid.
//
// This package understands the unix transport: path= and abstract= for
// connecting, and the listen-only forms tmpdir=, dir= and runtime=yes,
// which a server resolves to a concrete socket before it listens (see
// [Address.ListenTarget]). Other transports (tcp, nonce-tcp, unixexec,
// launchd, autolaunch, systemd, ...) parse fine but are reported as
// unsupported by [Address.DialTarget], so callers can skip them.
package address

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Address is one D-Bus server address: a transport name and its
// parameters.
//
// Params holds the unescaped parameter values by key. Keys records the
// order in which the keys appeared, so that [Address.String] reproduces it;
// Parse always fills both. When building an Address by hand, Keys may be
// left nil: String then writes the parameters in sorted key order.
type Address struct {
	// Transport is the transport name, such as "unix" or "tcp".
	Transport string
	// Params maps each parameter key to its unescaped value.
	Params map[string]string
	// Keys lists the keys of Params in their original order. Keys that are
	// missing from Params are ignored; keys of Params missing from Keys are
	// written after the listed ones, in sorted order.
	Keys []string
}

// ErrUnsupportedTransport is matched (with errors.Is) by the error that
// [Address.DialTarget] and [Address.ListenTarget] return for a transport
// this package cannot use. A client trying a list of addresses should skip
// such entries and try the next one.
var ErrUnsupportedTransport = errors.New("unsupported transport")

// ErrListenOnly is matched (with errors.Is) by the error that
// [Address.DialTarget] returns for a unix address of the tmpdir=, dir= or
// runtime= form. Such an address tells a server where to create a socket;
// a client needs the concrete path= or abstract= address that the server
// reports once it listens.
var ErrListenOnly = errors.New("address can only be used for listening")

// SyntaxError reports an address that does not follow the D-Bus address
// syntax.
type SyntaxError struct {
	// Input is the whole string given to Parse.
	Input string
	// Entry is the zero-based index of the offending entry among the
	// non-empty semicolon-separated entries, or -1 if the error concerns
	// the list as a whole.
	Entry int
	// Offset is the byte offset in Input at which the problem was found.
	Offset int
	// Msg describes what is wrong.
	Msg string
}

// Error implements the error interface.
func (e *SyntaxError) Error() string {
	if e.Entry < 0 {
		return fmt.Sprintf("invalid D-Bus address %q: %s", e.Input, e.Msg)
	}
	return fmt.Sprintf("invalid D-Bus address %q: entry %d, byte %d: %s", e.Input, e.Entry, e.Offset, e.Msg)
}

// Parse parses a semicolon-separated list of D-Bus server addresses, such
// as the value of DBUS_SESSION_BUS_ADDRESS.
//
// Empty entries (for example between two adjacent semicolons) are skipped,
// but a list with no entries at all is an error. Each entry must be of the
// form transport:key=value,key=value. The transport name and the keys must
// be non-empty and consist of ASCII letters, digits, '-', '_' and '.';
// values must be non-empty and correctly percent-encoded, and a key may
// appear only once per entry. A guid parameter, if present, must be 32
// hexadecimal digits.
//
// On error, Parse returns a *SyntaxError that names the offending entry and
// byte offset.
func Parse(s string) ([]Address, error) {
	var list []Address
	start := 0
	for start <= len(s) {
		end := strings.IndexByte(s[start:], ';')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		if end > start {
			a, err := parseEntry(s, start, end, len(list))
			if err != nil {
				return nil, err
			}
			list = append(list, a)
		}
		start = end + 1
	}
	if len(list) == 0 {
		return nil, &SyntaxError{Input: s, Entry: -1, Msg: "no address given; expected at least one entry such as unix:path=/run/dbus/system_bus_socket"}
	}
	return list, nil
}

// parseEntry parses s[start:end] as a single address. Offsets in errors are
// relative to s.
func parseEntry(s string, start, end, index int) (Address, error) {
	fail := func(off int, format string, args ...any) (Address, error) {
		return Address{}, &SyntaxError{Input: s, Entry: index, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	entry := s[start:end]
	colon := strings.IndexByte(entry, ':')
	if colon < 0 {
		return fail(start, "entry %q has no ':' after the transport name; write it as transport:key=value,... (for example unix:path=/tmp/bus)", entry)
	}
	transport := entry[:colon]
	if transport == "" {
		return fail(start, "entry %q has an empty transport name before ':'", entry)
	}
	if i := indexInvalidName(transport); i >= 0 {
		return fail(start+i, "transport name %q contains %s; only ASCII letters, digits, '-', '_' and '.' are allowed", transport, describeByte(transport[i]))
	}
	a := Address{Transport: transport, Params: map[string]string{}}
	pos := start + colon + 1
	if pos == end {
		return a, nil
	}
	for {
		next := strings.IndexByte(s[pos:end], ',')
		pairEnd := end
		if next >= 0 {
			pairEnd = pos + next
		}
		pair := s[pos:pairEnd]
		if pair == "" {
			return fail(pos, "empty parameter (two adjacent commas, or a comma right after ':' or at the end of the entry)")
		}
		eq := strings.IndexByte(pair, '=')
		if eq < 0 {
			return fail(pos, "parameter %q has no '='; write it as key=value", pair)
		}
		key, raw := pair[:eq], pair[eq+1:]
		if key == "" {
			return fail(pos, "parameter %q has an empty key before '='", pair)
		}
		if i := indexInvalidName(key); i >= 0 {
			return fail(pos+i, "key %q contains %s; only ASCII letters, digits, '-', '_' and '.' are allowed", key, describeByte(key[i]))
		}
		if raw == "" {
			return fail(pos+eq+1, "key %q has an empty value", key)
		}
		if _, dup := a.Params[key]; dup {
			return fail(pos, "key %q appears more than once in this entry", key)
		}
		value, off, err := unescape(raw)
		if err != nil {
			return fail(pos+eq+1+off, "value of key %q: %v", key, err)
		}
		if key == "guid" && !isGUID(value) {
			return fail(pos+eq+1, "guid %q is not 32 hexadecimal digits", value)
		}
		a.Params[key] = value
		a.Keys = append(a.Keys, key)
		if next < 0 {
			return a, nil
		}
		pos = pairEnd + 1
	}
}

// String returns the address in D-Bus address syntax, percent-encoding
// values as needed. It does not validate the address: the result of a
// successful Parse always re-parses to an equal Address, but an Address
// built by hand with, say, an empty value does not.
func (a Address) String() string {
	var b strings.Builder
	b.WriteString(a.Transport)
	b.WriteByte(':')
	for i, k := range a.orderedKeys() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		appendEscaped(&b, a.Params[k])
	}
	return b.String()
}

// orderedKeys returns the keys of a.Params in the order described on
// Address.Keys, without duplicates.
func (a Address) orderedKeys() []string {
	keys := make([]string, 0, len(a.Params))
	seen := make(map[string]bool, len(a.Params))
	for _, k := range a.Keys {
		if _, ok := a.Params[k]; ok && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if len(keys) == len(a.Params) {
		return keys
	}
	var rest []string
	for k := range a.Params {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// Equal reports whether a and b have the same transport, the same
// parameters and the same parameter order (as written by String).
func (a Address) Equal(b Address) bool {
	return a.Transport == b.Transport &&
		maps.Equal(a.Params, b.Params) &&
		slices.Equal(a.orderedKeys(), b.orderedKeys())
}

// GUID returns the value of the guid parameter, or "" if there is none.
// The guid identifies the server; a client may check that the server it
// reached reports the same one during authentication.
func (a Address) GUID() string {
	return a.Params["guid"]
}

// FormatList joins addresses into a semicolon-separated list, the inverse
// of Parse.
func FormatList(list []Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.String()
	}
	return strings.Join(parts, ";")
}

// indexInvalidName returns the index of the first byte of s that may not
// appear in a transport name or key, or -1.
func indexInvalidName(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return i
		}
	}
	return -1
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isGUID reports whether s is 32 hexadecimal digits, the form of a D-Bus
// server GUID.
func isGUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if unhex(s[i]) < 0 {
			return false
		}
	}
	return true
}

// describeByte names c for an error message.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02X", c)
}
