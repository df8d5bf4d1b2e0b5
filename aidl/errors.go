package aidl

import (
	"sort"
	"strings"
)

// Error is a problem in an AIDL file, at a position.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the problem as file:line:col: message.
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList is a list of problems. Err sorts it by position and returns it as an error.
type ErrorList []*Error

// maxErrors bounds how many problems one Parse or Load reports; after that a last entry says
// that there were more.
const maxErrors = 10

// tooMany is the message of the entry that ends a full list.
const tooMany = "too many errors"

func (l *ErrorList) add(p Pos, msg string) {
	switch {
	case len(*l) < maxErrors:
		*l = append(*l, &Error{Pos: p, Msg: msg})
	case len(*l) == maxErrors:
		*l = append(*l, &Error{Pos: p, Msg: tooMany})
	}
}

// full reports whether the list takes no more problems: it ends in the "too many errors" entry.
func (l ErrorList) full() bool { return len(l) > maxErrors }

// Error joins the problems, one a line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns nil when the list is empty, and otherwise the list, sorted by position (file,
// line, column) with exact repeats removed, as an error.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if (a.Msg == tooMany) != (b.Msg == tooMany) {
			return b.Msg == tooMany
		}
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
	out := l[:1]
	for _, e := range l[1:] {
		if last := out[len(out)-1]; last.Pos != e.Pos || last.Msg != e.Msg {
			out = append(out, e)
		}
	}
	return out
}
