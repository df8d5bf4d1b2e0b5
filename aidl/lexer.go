package aidl

import (
	"fmt"
	"strings"
)

// tokKind is the kind of a token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tFloat
	tString
	tChar
	tPunct
)

// token is one lexical token, with the documentation comment directly before it.
type token struct {
	kind tokKind
	text string
	pos  Pos
	doc  string // the text of the comments before the token, markers included
	// adjacent is set when the token follows the previous one without space (for >>).
	adjacent bool
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return "string " + t.text
	}
	return "'" + t.text + "'"
}

// lexer splits AIDL source into tokens.
type lexer struct {
	file      string
	src       []byte
	off       int
	line, col int
	errs      *ErrorList
}

func (l *lexer) pos() Pos { return Pos{File: l.file, Line: l.line, Col: l.col} }

func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); i++ {
		if l.src[l.off] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off++
	}
}

func (l *lexer) errorf(p Pos, format string, args ...any) {
	l.errs.add(p, fmt.Sprintf(format, args...))
}

// three-, two- and one-character punctuation, longest first.
var puncts = []string{"<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"{", "}", "(", ")", "[", "]", "<", ">", ",", ";", "=", ".", "@", "?", ":", "+", "-", "*", "/", "%", "!", "~", "&", "|", "^"}

// tokens lexes the whole source.
func (l *lexer) tokens() []token {
	var out []token
	var doc strings.Builder
	spaced := true
	for {
		// Whitespace and comments.
		for l.off < len(l.src) {
			c := l.src[l.off]
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
				l.advance(1)
				spaced = true
				continue
			case c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '/':
				end := l.off
				for end < len(l.src) && l.src[end] != '\n' {
					end++
				}
				if doc.Len() > 0 && !strings.HasPrefix(lastLine(doc.String()), "//") {
					doc.Reset()
				}
				if doc.Len() > 0 {
					doc.WriteByte('\n')
				}
				doc.Write(l.src[l.off:end])
				l.advance(end - l.off)
				spaced = true
				continue
			case c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '*':
				start := l.pos()
				end := strings.Index(string(l.src[l.off+2:]), "*/")
				if end < 0 {
					l.errorf(start, "unterminated comment: expected '*/' before the end of the file")
					l.advance(len(l.src) - l.off)
					continue
				}
				doc.Reset()
				doc.Write(l.src[l.off : l.off+2+end+2])
				l.advance(2 + end + 2)
				spaced = true
				continue
			}
			break
		}
		p := l.pos()
		tok := token{pos: p, doc: doc.String(), adjacent: !spaced}
		doc.Reset()
		spaced = false
		if l.off >= len(l.src) {
			tok.kind = tEOF
			out = append(out, tok)
			return out
		}
		c := l.src[l.off]
		start := l.off
		switch {
		case isLetter(c):
			for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
				l.advance(1)
			}
			tok.kind, tok.text = tIdent, string(l.src[start:l.off])
		case isDigit(c) || c == '.' && l.off+1 < len(l.src) && isDigit(l.src[l.off+1]):
			tok.kind, tok.text = l.number()
		case c == '"':
			tok.kind, tok.text = tString, l.quoted('"')
		case c == '\'':
			tok.kind, tok.text = tChar, l.quoted('\'')
		default:
			found := false
			for _, pu := range puncts {
				if strings.HasPrefix(string(l.src[l.off:min(l.off+2, len(l.src))]), pu) {
					tok.kind, tok.text = tPunct, pu
					l.advance(len(pu))
					found = true
					break
				}
			}
			if !found {
				l.errorf(p, "unexpected character %q", c)
				l.advance(1)
				continue
			}
		}
		out = append(out, tok)
		if len(out) > 1<<20 {
			l.errorf(p, "too many tokens")
			return append(out, token{kind: tEOF, pos: p})
		}
	}
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func (l *lexer) number() (tokKind, string) {
	start := l.off
	kind := tInt
	if l.src[l.off] == '0' && l.off+1 < len(l.src) && (l.src[l.off+1] == 'x' || l.src[l.off+1] == 'X') {
		l.advance(2)
		for l.off < len(l.src) && isHex(l.src[l.off]) {
			l.advance(1)
		}
	} else {
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			l.advance(1)
		}
		if l.off < len(l.src) && l.src[l.off] == '.' {
			kind = tFloat
			l.advance(1)
			for l.off < len(l.src) && isDigit(l.src[l.off]) {
				l.advance(1)
			}
		}
		if l.off < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') {
			kind = tFloat
			l.advance(1)
			if l.off < len(l.src) && (l.src[l.off] == '+' || l.src[l.off] == '-') {
				l.advance(1)
			}
			for l.off < len(l.src) && isDigit(l.src[l.off]) {
				l.advance(1)
			}
		}
	}
	// suffixes: l L u8 f F d D
	for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
		if c := l.src[l.off]; c == 'f' || c == 'F' || c == 'd' || c == 'D' {
			if kind == tInt && !strings.HasPrefix(strings.ToLower(string(l.src[start:l.off])), "0x") {
				kind = tFloat
			}
		}
		l.advance(1)
	}
	return kind, string(l.src[start:l.off])
}

func (l *lexer) quoted(q byte) string {
	start := l.off
	p := l.pos()
	l.advance(1)
	for l.off < len(l.src) && l.src[l.off] != q {
		if l.src[l.off] == '\n' {
			l.errorf(p, "unterminated literal: expected %c before the end of the line", q)
			return string(l.src[start:l.off]) + string(q)
		}
		if l.src[l.off] == '\\' {
			l.advance(1)
		}
		l.advance(1)
	}
	if l.off >= len(l.src) {
		l.errorf(p, "unterminated literal: expected %c before the end of the file", q)
		return string(l.src[start:]) + string(q)
	}
	l.advance(1)
	return string(l.src[start:l.off])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
