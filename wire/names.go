package wire

import (
	"fmt"
	"strings"
)

// ObjectPath is a D-Bus object path such as /org/example/Thing.
type ObjectPath string

// IsValid reports whether p is a valid object path.
func (p ObjectPath) IsValid() bool { return ValidateObjectPath(string(p)) == nil }

// NameError describes a name or object path that breaks the specification's rules.
type NameError struct {
	Kind   string // "object path", "bus name", "interface name", ...
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid D-Bus %s %q: %s", e.Kind, e.Name, e.Reason)
}

func nameErr(kind, name, format string, args ...any) error {
	return &NameError{Kind: kind, Name: name, Reason: fmt.Sprintf(format, args...)}
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ValidateObjectPath checks an object path: "/" or slash-separated, non-empty elements of
// [A-Za-z0-9_], with no trailing slash.
func ValidateObjectPath(p string) error {
	const kind = "object path"
	if p == "" || p[0] != '/' {
		return nameErr(kind, p, "must start with '/'")
	}
	if p == "/" {
		return nil
	}
	if p[len(p)-1] == '/' {
		return nameErr(kind, p, "must not end with '/' (only the root path \"/\" may)")
	}
	prev := byte('/')
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			if prev == '/' {
				return nameErr(kind, p, "empty element at offset %d ('//')", i)
			}
		case isAlpha(c) || isDigit(c):
		default:
			return nameErr(kind, p, "byte %q at offset %d: elements may hold only [A-Za-z0-9_]", c, i)
		}
		prev = c
	}
	return nil
}

// ValidateMemberName checks a method or signal name: 1 to 255 bytes of [A-Za-z0-9_], not
// starting with a digit.
func ValidateMemberName(m string) error {
	const kind = "member name"
	if m == "" {
		return nameErr(kind, m, "must not be empty")
	}
	if len(m) > MaxNameLength {
		return nameErr(kind, m[:32]+"...", "longer than %d bytes", MaxNameLength)
	}
	if isDigit(m[0]) {
		return nameErr(kind, m, "must not start with a digit")
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !isAlpha(c) && !isDigit(c) {
			return nameErr(kind, m, "byte %q at offset %d: only [A-Za-z0-9_] are allowed", c, i)
		}
	}
	return nil
}

// ValidateInterfaceName checks an interface name: two or more dot-separated elements of
// [A-Za-z0-9_], none starting with a digit, at most 255 bytes.
func ValidateInterfaceName(s string) error { return validateDotted("interface name", s) }

// ValidateErrorName checks an error name, which follows the interface name rules.
func ValidateErrorName(s string) error { return validateDotted("error name", s) }

func validateDotted(kind, s string) error {
	if len(s) > MaxNameLength {
		return nameErr(kind, s[:32]+"...", "longer than %d bytes", MaxNameLength)
	}
	if !strings.Contains(s, ".") {
		return nameErr(kind, s, "needs at least two dot-separated elements, like org.example.Name")
	}
	for i, rest, more := 1, s, true; more; i++ {
		var el string
		el, rest, more = strings.Cut(rest, ".")
		if el == "" {
			return nameErr(kind, s, "element %d is empty", i)
		}
		if isDigit(el[0]) {
			return nameErr(kind, s, "element %q starts with a digit", el)
		}
		for j := 0; j < len(el); j++ {
			if c := el[j]; !isAlpha(c) && !isDigit(c) {
				return nameErr(kind, s, "byte %q in element %q: only [A-Za-z0-9_] are allowed", c, el)
			}
		}
	}
	return nil
}

// ValidateBusName checks a unique (":1.42") or well-known ("org.example.Service") bus name.
func ValidateBusName(s string) error {
	if strings.HasPrefix(s, ":") {
		return ValidateUniqueName(s)
	}
	return validateBusName("bus name", s, false)
}

// ValidateUniqueName checks a unique connection name such as ":1.42".
func ValidateUniqueName(s string) error {
	if !strings.HasPrefix(s, ":") {
		return nameErr("unique name", s, "must start with ':'")
	}
	return validateBusName("unique name", s, true)
}

// ValidateWellKnownName checks a well-known bus name such as "org.example.Service".
func ValidateWellKnownName(s string) error {
	if strings.HasPrefix(s, ":") {
		return nameErr("well-known name", s, "must not start with ':' (that makes a unique name)")
	}
	return validateBusName("well-known name", s, false)
}

func validateBusName(kind, s string, unique bool) error {
	if len(s) > MaxNameLength {
		return nameErr(kind, s[:32]+"...", "longer than %d bytes", MaxNameLength)
	}
	body := s
	if unique {
		body = s[1:]
	}
	if !strings.Contains(body, ".") {
		return nameErr(kind, s, "needs at least two dot-separated elements")
	}
	for i, rest, more := 1, body, true; more; i++ {
		var el string
		el, rest, more = strings.Cut(rest, ".")
		if el == "" {
			return nameErr(kind, s, "element %d is empty", i)
		}
		if !unique && isDigit(el[0]) {
			return nameErr(kind, s, "element %q starts with a digit", el)
		}
		for j := 0; j < len(el); j++ {
			if c := el[j]; !isAlpha(c) && !isDigit(c) && c != '-' {
				return nameErr(kind, s, "byte %q in element %q: only [A-Za-z0-9_-] are allowed", c, el)
			}
		}
	}
	return nil
}
