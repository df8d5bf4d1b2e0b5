package aidl

import (
	"fmt"
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

// ErrorList is a list of problems, sorted by position when reported.
type ErrorList []*Error

// maxErrors bounds how many problems one run reports.
const maxErrors = 20

func (l *ErrorList) add(p Pos, msg string) {
	if len(*l) < maxErrors {
		*l = append(*l, &Error{Pos: p, Msg: msg})
	}
}

// Error joins the problems, a line each.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	if len(l) == maxErrors {
		fmt.Fprintf(&b, "\n(stopped after %d errors)", maxErrors)
	}
	return b.String()
}

// Err returns the list sorted by position as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return l
}
