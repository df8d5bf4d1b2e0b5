package aidl

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

// maxTokens bounds the tokens of one file.
const maxTokens = 1 << 20

// token is one lexical token, with the documentation comment directly before it.
type token struct {
	kind tokKind
	text string
	pos  Pos
	// doc is the comment directly before the token, markers included: the last block comment
	// or the last run of line comments. A line comment that ends a line holding code belongs
	// to that code: it is the trail of the line's last token.
	doc   string
	trail string
}

// String describes the token for messages: 'void', string "x", end of file.
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

// puncts are the operators and separators, two-character ones first.
var puncts = []string{"<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"{", "}", "(", ")", "[", "]", "<", ">", ",", ";", "=", ".", "@", "?", ":", "+", "-", "*", "/", "%", "!", "~", "&", "|", "^"}

// tokens lexes the whole source; the last token is tEOF.
func (l *lexer) tokens() []token {
	var out []token
	var doc strings.Builder
	lineDoc := false // doc holds line comments
	lastLine := 0    // the line of the previous token
	for {
		// Whitespace and comments.
		for l.off < len(l.src) {
			c := l.src[l.off]
			switch {
			case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
				l.advance(1)
				continue
			case c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '/':
				end := l.off
				for end < len(l.src) && l.src[end] != '\n' {
					end++
				}
				if l.line == lastLine && len(out) > 0 {
					// A trailing comment: it describes the code before it.
					out[len(out)-1].trail = string(l.src[l.off:end])
					l.advance(end - l.off)
					continue
				}
				if !lineDoc {
					doc.Reset()
				} else {
					doc.WriteByte('\n')
				}
				lineDoc = true
				doc.Write(l.src[l.off:end])
				l.advance(end - l.off)
				continue
			case c == '/' && l.off+1 < len(l.src) && l.src[l.off+1] == '*':
				start := l.pos()
				end := strings.Index(string(l.src[l.off+2:]), "*/")
				if end < 0 {
					l.errorf(start, "unterminated comment: expected '*/' before end of file")
					l.advance(len(l.src) - l.off)
					continue
				}
				doc.Reset()
				lineDoc = false
				doc.Write(l.src[l.off : l.off+2+end+2])
				l.advance(2 + end + 2)
				continue
			}
			break
		}
		p := l.pos()
		tok := token{pos: p, doc: doc.String()}
		doc.Reset()
		lineDoc = false
		if l.off >= len(l.src) {
			tok.kind = tEOF
			return append(out, tok)
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
			rest := string(l.src[l.off:min(l.off+2, len(l.src))])
			for _, pu := range puncts {
				if strings.HasPrefix(rest, pu) {
					tok.kind, tok.text = tPunct, pu
					break
				}
			}
			if tok.kind != tPunct {
				r, n := utf8.DecodeRune(l.src[l.off:])
				l.errorf(p, "unexpected character %q", r)
				l.advance(n)
				continue
			}
			l.advance(len(tok.text))
		}
		lastLine = l.line
		out = append(out, tok)
		if len(out) >= maxTokens {
			l.errorf(p, "file too long: more than %d tokens", maxTokens)
			return append(out, token{kind: tEOF, pos: p})
		}
	}
}

// number reads a numeric literal: decimal or hex digits with any digit separators (_), a
// fraction and exponent for floats, and any suffix (l, L, u8, u32, u64, f, d), which the
// evaluator checks.
func (l *lexer) number() (tokKind, string) {
	start := l.off
	kind := tInt
	if l.src[l.off] == '0' && l.off+1 < len(l.src) && (l.src[l.off+1] == 'x' || l.src[l.off+1] == 'X') {
		l.advance(2)
		for l.off < len(l.src) && (isHex(l.src[l.off]) || l.src[l.off] == '_') {
			l.advance(1)
		}
	} else {
		for l.off < len(l.src) && (isDigit(l.src[l.off]) || l.src[l.off] == '_') {
			l.advance(1)
		}
		if l.off < len(l.src) && l.src[l.off] == '.' {
			kind = tFloat
			l.advance(1)
			for l.off < len(l.src) && (isDigit(l.src[l.off]) || l.src[l.off] == '_') {
				l.advance(1)
			}
		}
		if l.off+1 < len(l.src) && (l.src[l.off] == 'e' || l.src[l.off] == 'E') &&
			(isDigit(l.src[l.off+1]) || (l.src[l.off+1] == '+' || l.src[l.off+1] == '-') && l.off+2 < len(l.src) && isDigit(l.src[l.off+2])) {
			kind = tFloat
			l.advance(2)
			for l.off < len(l.src) && isDigit(l.src[l.off]) {
				l.advance(1)
			}
		}
		if l.off < len(l.src) {
			if c := l.src[l.off]; c == 'f' || c == 'F' || c == 'd' || c == 'D' {
				kind = tFloat
			}
		}
	}
	// The suffix, and any letters run into the number (reported by the evaluator).
	for l.off < len(l.src) && (isLetter(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.advance(1)
	}
	return kind, string(l.src[start:l.off])
}

// quoted reads a string or char literal, quotes included, escapes kept as written.
func (l *lexer) quoted(q byte) string {
	start := l.off
	p := l.pos()
	l.advance(1)
	for l.off < len(l.src) && l.src[l.off] != q {
		if l.src[l.off] == '\n' {
			l.errorf(p, "unterminated literal: expected %c before end of line", q)
			return string(l.src[start:l.off]) + string(q)
		}
		if l.src[l.off] == '\\' {
			l.advance(1)
			if l.off < len(l.src) && l.src[l.off] == '\n' {
				continue
			}
		}
		l.advance(1)
	}
	if l.off >= len(l.src) {
		l.errorf(p, "unterminated literal: expected %c before end of file", q)
		return string(l.src[start:]) + string(q)
	}
	l.advance(1)
	return string(l.src[start:l.off])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
