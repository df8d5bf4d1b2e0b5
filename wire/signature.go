package wire

import (
	"fmt"
	"strings"
)

// Type codes of the D-Bus type system, as they appear in signatures.
const (
	TypeByte       byte = 'y'
	TypeBoolean    byte = 'b'
	TypeInt16      byte = 'n'
	TypeUint16     byte = 'q'
	TypeInt32      byte = 'i'
	TypeUint32     byte = 'u'
	TypeInt64      byte = 'x'
	TypeUint64     byte = 't'
	TypeDouble     byte = 'd'
	TypeString     byte = 's'
	TypeObjectPath byte = 'o'
	TypeSignature  byte = 'g'
	TypeUnixFD     byte = 'h'
	TypeArray      byte = 'a'
	TypeVariant    byte = 'v'
	TypeStruct     byte = 'r' // never in a signature: written as parentheses
	TypeDictEntry  byte = 'e' // never in a signature: written as braces
)

// Signature is a D-Bus type signature: a sequence of zero or more complete types. A value of
// this type is not necessarily valid; [ParseSignature] and [ValidateSignature] check one.
type Signature string

// String returns the signature text.
func (s Signature) String() string { return string(s) }

// IsBasic reports whether code is a basic type: one that can be a dict entry key.
func IsBasic(code byte) bool {
	switch code {
	case TypeByte, TypeBoolean, TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeInt64,
		TypeUint64, TypeDouble, TypeString, TypeObjectPath, TypeSignature, TypeUnixFD:
		return true
	}
	return false
}

// Alignment returns the alignment in bytes of values whose signature starts with code, or 0
// when code is not a type code. Struct and dict entry codes may be given as '(' and '{'.
func Alignment(code byte) int {
	switch code {
	case TypeByte, TypeSignature, TypeVariant:
		return 1
	case TypeInt16, TypeUint16:
		return 2
	case TypeBoolean, TypeInt32, TypeUint32, TypeUnixFD, TypeString, TypeObjectPath, TypeArray:
		return 4
	case TypeInt64, TypeUint64, TypeDouble, TypeStruct, TypeDictEntry, '(', '{':
		return 8
	}
	return 0
}

// Type is one complete type, parsed from a signature.
type Type struct {
	// Code is the type code; structs and dict entries use TypeStruct and TypeDictEntry.
	Code byte
	// Elem is the element type of an array.
	Elem *Type
	// Fields are the members of a struct, or the key and value of a dict entry.
	Fields []*Type
	// Sig is the type's own signature text.
	Sig Signature
}

// Align returns the alignment of values of t.
func (t *Type) Align() int { return Alignment(t.Code) }

// String returns the type's signature.
func (t *Type) String() string { return string(t.Sig) }

// IsDict reports whether t is an array of dict entries.
func (t *Type) IsDict() bool { return t.Code == TypeArray && t.Elem.Code == TypeDictEntry }

// SignatureError describes an invalid signature.
type SignatureError struct {
	Sig    string // the signature as given
	Offset int    // byte offset of the problem
	Reason string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("invalid D-Bus signature %q at offset %d: %s", e.Sig, e.Offset, e.Reason)
}

// ValidateSignature checks that s is a valid signature: a sequence of complete types within
// the specification's limits.
func ValidateSignature(s string) error {
	if len(s) > MaxSignatureLength {
		return &SignatureError{Sig: s, Offset: MaxSignatureLength, Reason: fmt.Sprintf("longer than %d bytes", MaxSignatureLength)}
	}
	for off := 0; off < len(s); {
		n, err := scanType(s, off, 0, 0)
		if err != nil {
			return err
		}
		off = n
	}
	return nil
}

// ValidateSingle checks that s is exactly one complete type, as a variant's signature must be.
func ValidateSingle(s string) error {
	if s == "" {
		return &SignatureError{Sig: s, Reason: "empty, but one complete type is required"}
	}
	if len(s) > MaxSignatureLength {
		return &SignatureError{Sig: s, Offset: MaxSignatureLength, Reason: fmt.Sprintf("longer than %d bytes", MaxSignatureLength)}
	}
	n, err := scanType(s, 0, 0, 0)
	if err != nil {
		return err
	}
	if n != len(s) {
		return &SignatureError{Sig: s, Offset: n, Reason: "more than one complete type where exactly one is required"}
	}
	return nil
}

// scanType checks the complete type starting at off and returns the offset just past it.
// arrays and structs count the enclosing containers.
func scanType(s string, off, arrays, structs int) (int, error) {
	if off >= len(s) {
		return off, &SignatureError{Sig: s, Offset: off, Reason: "ends where a complete type is required"}
	}
	c := s[off]
	switch {
	case IsBasic(c) || c == TypeVariant:
		return off + 1, nil
	case c == TypeArray:
		if arrays+1 > MaxArrayDepth {
			return off, &SignatureError{Sig: s, Offset: off, Reason: fmt.Sprintf("arrays nest deeper than %d", MaxArrayDepth)}
		}
		if off+1 < len(s) && s[off+1] == '{' {
			return scanDictEntry(s, off+1, arrays+1, structs)
		}
		return scanType(s, off+1, arrays+1, structs)
	case c == '(':
		if structs+1 > MaxStructDepth {
			return off, &SignatureError{Sig: s, Offset: off, Reason: fmt.Sprintf("structs nest deeper than %d", MaxStructDepth)}
		}
		p := off + 1
		if p < len(s) && s[p] == ')' {
			return p, &SignatureError{Sig: s, Offset: p, Reason: "empty struct: a struct needs at least one field"}
		}
		for {
			if p >= len(s) {
				return p, &SignatureError{Sig: s, Offset: off, Reason: "struct is not closed with ')'"}
			}
			if s[p] == ')' {
				return p + 1, nil
			}
			n, err := scanType(s, p, arrays, structs+1)
			if err != nil {
				return n, err
			}
			p = n
		}
	case c == '{':
		return off, &SignatureError{Sig: s, Offset: off, Reason: "dict entry '{' outside an array: write a{KV}"}
	case c == ')' || c == '}':
		return off, &SignatureError{Sig: s, Offset: off, Reason: fmt.Sprintf("unbalanced %q", c)}
	}
	return off, &SignatureError{Sig: s, Offset: off, Reason: fmt.Sprintf("unknown type code %q", c)}
}

func scanDictEntry(s string, off, arrays, structs int) (int, error) {
	if structs+1 > MaxStructDepth {
		return off, &SignatureError{Sig: s, Offset: off, Reason: fmt.Sprintf("structs and dict entries nest deeper than %d", MaxStructDepth)}
	}
	p := off + 1
	if p >= len(s) {
		return p, &SignatureError{Sig: s, Offset: off, Reason: "dict entry is not closed with '}'"}
	}
	if !IsBasic(s[p]) {
		return p, &SignatureError{Sig: s, Offset: p, Reason: "dict entry key must be a basic type (not a container or variant)"}
	}
	p++
	if p >= len(s) || s[p] == '}' {
		return p, &SignatureError{Sig: s, Offset: p, Reason: "dict entry needs a value type after its key"}
	}
	n, err := scanType(s, p, arrays, structs+1)
	if err != nil {
		return n, err
	}
	if n >= len(s) || s[n] != '}' {
		return n, &SignatureError{Sig: s, Offset: n, Reason: "dict entry must hold exactly a key and a value, then '}'"}
	}
	return n + 1, nil
}

// ParseSignature validates s and parses it into its complete types.
func ParseSignature(s string) ([]*Type, error) {
	if err := ValidateSignature(s); err != nil {
		return nil, err
	}
	var types []*Type
	for off := 0; off < len(s); {
		t, n := parseValid(s, off)
		types = append(types, t)
		off = n
	}
	return types, nil
}

// ParseType validates s as exactly one complete type and parses it.
func ParseType(s string) (*Type, error) {
	if err := ValidateSingle(s); err != nil {
		return nil, err
	}
	t, _ := parseValid(s, 0)
	return t, nil
}

// MustParseType is ParseType for signatures known to be valid; it panics on an invalid one.
func MustParseType(s string) *Type {
	t, err := ParseType(s)
	if err != nil {
		panic(err)
	}
	return t
}

// parseValid builds the Type starting at off of an already validated signature.
func parseValid(s string, off int) (*Type, int) {
	c := s[off]
	switch c {
	case TypeArray:
		elem, n := parseValid(s, off+1)
		return &Type{Code: TypeArray, Elem: elem, Sig: Signature(s[off:n])}, n
	case '(', '{':
		code, closer := TypeStruct, byte(')')
		if c == '{' {
			code, closer = TypeDictEntry, '}'
		}
		t := &Type{Code: code}
		p := off + 1
		for s[p] != closer {
			f, n := parseValid(s, p)
			t.Fields = append(t.Fields, f)
			p = n
		}
		t.Sig = Signature(s[off : p+1])
		return t, p + 1
	}
	return &Type{Code: c, Sig: Signature(s[off : off+1])}, off + 1
}

// SplitSignature returns the complete types of a valid signature as strings.
func SplitSignature(s string) ([]string, error) {
	if err := ValidateSignature(s); err != nil {
		return nil, err
	}
	var out []string
	for off := 0; off < len(s); {
		n, _ := scanType(s, off, 0, 0)
		out = append(out, s[off:n])
		off = n
	}
	return out, nil
}

// JoinTypes concatenates the signatures of types.
func JoinTypes(types []*Type) Signature {
	var b strings.Builder
	for _, t := range types {
		b.WriteString(string(t.Sig))
	}
	return Signature(b.String())
}
