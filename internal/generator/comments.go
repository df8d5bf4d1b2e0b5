package generator

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Generated comments, the generator's own and those copied from .proto files, are wrapped at
// commentWidth columns, counting an indenting tab as tabWidth columns.
const (
	commentWidth = 100
	tabWidth     = 4
)

// isComment reports whether s is one or more whole comment lines.
func isComment(s string) bool {
	if s == "" {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimLeft(l, " \t"), "//") {
			return false
		}
	}
	return true
}

// listItem matches the start of a list item in a comment: "- ", "* ", "+ ", "1. ", "1) ".
var listItem = regexp.MustCompile(`^([-*+]|\d+[.)])\s`)

// wrapComment rewraps comment lines so that each fits in width columns where it can. The text
// of a paragraph (lines of text up to an empty comment line) is refilled; empty lines, lines
// indented beyond the single space after "//" (code, indented lists), directives ("//go:…")
// and the first line of a list item start afresh and are kept as they are. Lines break only
// at spaces, never inside a word or a `backquoted span`; a word longer than the width stands
// on a line of its own.
func wrapComment(lines []string, width int) []string {
	var out, para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, fill(strings.Join(para, " "), width)...)
			para = para[:0]
		}
	}
	for _, l := range lines {
		text := strings.TrimPrefix(strings.TrimLeft(l, " \t"), "//")
		switch {
		case strings.TrimSpace(text) == "":
			flush()
			out = append(out, "//")
		case !strings.HasPrefix(text, " ") || strings.HasPrefix(text, "  ") || strings.HasPrefix(text, " \t"):
			flush()
			out = append(out, "//"+strings.TrimRight(text, " \t"))
		default:
			body := strings.TrimSpace(text)
			if listItem.MatchString(body) {
				flush()
			}
			para = append(para, body)
		}
	}
	flush()
	return out
}

// fill breaks text into comment lines of at most width columns, where words allow.
func fill(text string, width int) []string {
	var out []string
	line := ""
	for _, w := range words(text) {
		switch {
		case line == "":
			line = "// " + w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			out = append(out, line)
			line = "// " + w
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// words splits text at spaces, keeping a backquoted span that contains spaces in one word.
func words(text string) []string {
	var out []string
	cur := ""
	for _, f := range strings.Fields(text) {
		if cur != "" {
			cur += " " + f
		} else {
			cur = f
		}
		if strings.Count(cur, "`")%2 == 0 {
			out = append(out, cur)
			cur = ""
		}
	}
	if cur != "" {
		out = append(out, cur) // an unclosed backquote: the rest stays together
	}
	return out
}
