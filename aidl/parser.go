package aidl

import (
	"fmt"
	"strings"
)

// maxDepth bounds the nesting of declarations, types and expressions.
const maxDepth = 200

// Parse parses one AIDL file; path is used in positions and kept in File.Path. The result is
// not resolved: a Loader resolves types and evaluates constants.
//
// On a syntax error Parse goes on after the broken member (at the next ';' or '}') and reports
// up to ten problems in an ErrorList; it then returns what it could read with the error.
func Parse(path string, src []byte) (*File, error) {
	var errs ErrorList
	lx := &lexer{file: path, src: src, line: 1, col: 1, errs: &errs}
	p := &parser{toks: lx.tokens(), errs: &errs, file: &File{Path: path}}
	p.parseFile()
	return p.file, errs.Err()
}

type parser struct {
	toks  []token
	i     int
	errs  *ErrorList
	file  *File
	depth int
}

// bail unwinds the parse from an error to the nearest recovery point.
type bail struct{}

// stop unwinds the whole parse: the error list is full.
type stop struct{}

// tok returns the token at index j, or the final tEOF beyond the end.
func (p *parser) tok(j int) token {
	if j < len(p.toks) {
		return p.toks[j]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) peek() token       { return p.toks[p.i] }
func (p *parser) peekN(n int) token { return p.tok(p.i + n) }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(t token, format string, args ...any) {
	p.errs.add(t.pos, fmt.Sprintf(format, args...))
	panic(bail{})
}

// isTok reports whether t is the punctuation or word text.
func isTok(t token, text string) bool {
	return (t.kind == tPunct || t.kind == tIdent) && t.text == text
}

func (p *parser) is(text string) bool { return isTok(p.peek(), text) }

func (p *parser) accept(text string) bool {
	if p.is(text) {
		p.next()
		return true
	}
	return false
}

// expect reads text, or reports "expected 'text' context, found …".
func (p *parser) expect(text, context string) token {
	t := p.peek()
	if !p.is(text) {
		p.fail(t, "expected '%s' %s, found %s", text, context, t)
	}
	return p.next()
}

func (p *parser) ident(what string) token {
	t := p.peek()
	if t.kind != tIdent {
		p.fail(t, "expected %s, found %s", what, t)
	}
	return p.next()
}

// qualified reads a name with dots: a.b.C.
func (p *parser) qualified(what string) (string, Pos) {
	t := p.ident(what)
	name := t.text
	for p.is(".") && p.peekN(1).kind == tIdent {
		p.next()
		name += "." + p.next().text
	}
	return name, t.pos
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.peek(), "nesting deeper than %d levels", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// guard runs f, one statement or member. When f fails it skips to the statement's end (see
// skip) so that the parse goes on, and reports false.
func (p *parser) guard(topLevel bool, f func()) (ok bool) {
	start, depth := p.i, p.depth
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, isBail := r.(bail); !isBail {
			panic(r)
		}
		if p.errs.full() {
			panic(stop{})
		}
		p.depth = depth
		p.skip(start, topLevel)
		ok = false
	}()
	f()
	return true
}

// skip moves past a broken statement that started at token start: to just after the next ';'
// or braced block at its level, or to the '}' that closes the enclosing body. At the top level
// it also stops before a word that starts a declaration.
func (p *parser) skip(start int, topLevel bool) {
	if p.i == start && !p.is("}") {
		p.next()
	}
	// Braces the statement opened before it broke (a body, an array literal) still count.
	nest := 0
	for _, t := range p.toks[start:p.i] {
		if isTok(t, "{") {
			nest++
		} else if isTok(t, "}") && nest > 0 {
			nest--
		}
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return
		case nest == 0 && isTok(t, ";"):
			p.next()
			return
		case nest == 0 && isTok(t, "}"):
			if topLevel {
				p.next()
				continue
			}
			return
		case nest == 0 && topLevel && t.kind == tIdent && declKeyword(t.text):
			return
		case isTok(t, "{"):
			nest++
		case isTok(t, "}"):
			nest--
			if nest == 0 {
				p.next()
				p.accept(";")
				return
			}
		}
		p.next()
	}
}

func declKeyword(w string) bool {
	switch w {
	case "interface", "parcelable", "enum", "union", "oneway":
		return true
	}
	return false
}

func (p *parser) parseFile() {
	defer func() {
		if r := recover(); r != nil {
			switch r.(type) {
			case bail, stop:
			default:
				panic(r)
			}
		}
	}()
	f := p.file
	if p.is("package") {
		p.guard(true, func() {
			p.next()
			f.Package, _ = p.qualified("a package name")
			p.expect(";", "after package name")
		})
	}
	for p.is("import") {
		p.guard(true, func() {
			p.next()
			name, pos := p.qualified("a type name to import")
			f.Imports = append(f.Imports, &Import{Pos: pos, Name: name})
			p.expect(";", "after import")
		})
	}
	for p.peek().kind != tEOF {
		p.guard(true, func() {
			if t := p.peek(); isTok(t, "package") || isTok(t, "import") {
				p.fail(t, "expected a declaration, found %s: package and imports come first", t)
			}
			f.Decls = append(f.Decls, p.decl(nil))
		})
	}
	if len(f.Decls) == 0 && len(*p.errs) == 0 {
		p.fail(p.peek(), "expected a declaration (interface, parcelable, enum or union), found end of file")
	}
}

// docOf turns the comment text before a token into a Doc, or nil.
func docOf(text string) *Doc {
	if text == "" {
		return nil
	}
	var lines []string
	if strings.HasPrefix(text, "/*") {
		body := strings.TrimSuffix(strings.TrimPrefix(text, "/*"), "*/")
		body = strings.TrimLeft(body, "*")
		for _, ln := range strings.Split(body, "\n") {
			ln = strings.TrimSpace(ln)
			if strings.HasPrefix(ln, "*") {
				ln = strings.TrimPrefix(strings.TrimPrefix(ln, "*"), " ")
			}
			lines = append(lines, strings.TrimRight(ln, " \t\r"))
		}
	} else {
		for _, ln := range strings.Split(text, "\n") {
			ln = strings.TrimLeft(strings.TrimSpace(ln), "/")
			lines = append(lines, strings.TrimRight(strings.TrimPrefix(ln, " "), " \t\r"))
		}
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	d := &Doc{Text: strings.Join(lines, "\n")}
	for _, ln := range lines {
		for _, w := range strings.Fields(ln) {
			switch w {
			case "@hide":
				d.Hide = true
			case "@deprecated":
				d.Deprecated = true
				d.DeprecatedNote = strings.TrimSpace(ln[strings.Index(ln, "@deprecated")+len("@deprecated"):])
			}
		}
	}
	return d
}

// trailing returns the text of the comment that ends the line of the last token read (a ';'
// or ',' or the last token of a value), markers removed.
func (p *parser) trailing() string {
	if p.i == 0 {
		return ""
	}
	if d := docOf(p.toks[p.i-1].trail); d != nil {
		return d.Text
	}
	return ""
}

// isLicence reports whether a comment is a file's licence header rather than documentation.
func isLicence(text string) bool {
	t := strings.ToLower(text)
	return strings.Contains(t, "copyright") || strings.Contains(t, "licensed under") || strings.Contains(t, "spdx-license-identifier")
}

// docAt returns the documentation of a construct whose first token is at index first: the
// comment before it or, when there is none there, the comment before the current token (a
// comment written between the annotations and the keyword).
func (p *parser) docAt(first int) *Doc {
	if d := p.tok(first).doc; d != "" {
		return docOf(d)
	}
	return docOf(p.peek().doc)
}

// annotations reads zero or more annotations.
func (p *parser) annotations() []*Annotation {
	var as []*Annotation
	for p.is("@") {
		at := p.next()
		name, _ := p.qualified("an annotation name after '@'")
		a := &Annotation{Pos: at.pos, Name: name}
		if p.accept("(") {
			if !p.is(")") {
				if p.peek().kind == tIdent && isTok(p.peekN(1), "=") {
					for {
						n := p.ident("an annotation parameter name")
						if a.Param(n.text) != nil {
							p.fail(n, "annotation parameter %s is given twice", n.text)
						}
						p.expect("=", "after annotation parameter name")
						a.Params = append(a.Params, &AnnotationParam{Name: n.text, Value: p.expr()})
						if !p.accept(",") {
							break
						}
					}
				} else {
					a.Params = append(a.Params, &AnnotationParam{Name: "value", Value: p.expr()})
				}
			}
			p.expect(")", "to close annotation parameters")
		}
		as = append(as, a)
	}
	return as
}

// decl reads a type declaration.
func (p *parser) decl(parent Decl) Decl {
	p.enter()
	defer p.leave()
	first := p.i
	annots := p.annotations()
	doc := p.docAt(first)
	if first == 0 && doc != nil && isLicence(p.tok(0).doc) {
		doc = nil // a file without package or imports: the comment before it is the licence
	}
	base := DeclBase{Doc: doc, Annotations: annots, Package: p.file.Package, Parent: parent, File: p.file}
	kw := p.peek()
	switch {
	case p.is("oneway") && isTok(p.peekN(1), "interface"):
		p.next()
		p.next()
		return p.interfaceBody(base, true)
	case p.is("interface"):
		p.next()
		return p.interfaceBody(base, false)
	case p.is("parcelable"):
		p.next()
		return p.parcelable(base)
	case p.is("enum"):
		p.next()
		return p.enum(base)
	case p.is("union"):
		p.next()
		return p.union(base)
	}
	p.fail(kw, "expected interface, parcelable, enum or union, found %s", kw)
	return nil
}

func (p *parser) declName(b *DeclBase, what string) {
	t := p.ident("a name after " + what)
	b.Pos, b.Name = t.pos, t.text
}

func (p *parser) typeParams() []string {
	var ps []string
	if p.accept("<") {
		for {
			t := p.ident("a type parameter name")
			for _, q := range ps {
				if q == t.text {
					p.fail(t, "type parameter %s is declared twice", t.text)
				}
			}
			ps = append(ps, t.text)
			if !p.accept(",") {
				break
			}
		}
		p.closeAngle("to close type parameters")
	}
	return ps
}

// closeAngle reads '>', splitting a '>>' token into two.
func (p *parser) closeAngle(context string) {
	t := p.peek()
	if t.kind == tPunct && t.text == ">>" {
		p.toks[p.i].text = ">"
		p.toks[p.i].pos.Col++
		return
	}
	p.expect(">", context)
}

// body reads the members between braces, calling member for each one that is not a nested
// declaration. A broken member is skipped and the next one read.
func (p *parser) body(self Decl, what string, member func(first int, annots []*Annotation)) {
	b := self.Base()
	p.expect("{", "to open "+what+" body")
	for !p.is("}") {
		if t := p.peek(); t.kind == tEOF {
			p.fail(t, "expected '}' to close %s %s, found end of file", what, b.Name)
		}
		p.guard(false, func() {
			if p.isDeclStart() {
				b.Nested = append(b.Nested, p.decl(self))
				return
			}
			first := p.i
			annots := p.annotations()
			if p.is("const") {
				b.Consts = append(b.Consts, p.constDecl(first, annots))
				return
			}
			member(first, annots)
		})
	}
	p.next()
	p.accept(";")
}

func (p *parser) interfaceBody(b DeclBase, oneway bool) Decl {
	it := &Interface{DeclBase: b, Oneway: oneway}
	p.declName(&it.DeclBase, "interface")
	p.body(it, "interface", func(first int, annots []*Annotation) {
		it.Methods = append(it.Methods, p.method(first, annots, oneway))
	})
	return it
}

// isDeclStart reports whether a nested declaration starts here, after any annotations.
func (p *parser) isDeclStart() bool {
	j := p.i
	for isTok(p.tok(j), "@") {
		j++ // the @
		for p.tok(j).kind == tIdent && isTok(p.tok(j+1), ".") {
			j += 2
		}
		j++ // the last part of the name
		if isTok(p.tok(j), "(") {
			for depth := 0; p.tok(j).kind != tEOF; j++ {
				if isTok(p.tok(j), "(") {
					depth++
				} else if isTok(p.tok(j), ")") {
					if depth--; depth == 0 {
						j++
						break
					}
				}
			}
		}
	}
	t := p.tok(j)
	if t.kind != tIdent {
		return false
	}
	switch t.text {
	case "interface", "parcelable", "enum", "union":
		return true
	case "oneway":
		return isTok(p.tok(j+1), "interface")
	}
	return false
}

func (p *parser) constDecl(first int, annots []*Annotation) *Const {
	c := &Const{Doc: p.docAt(first), Annotations: annots}
	p.expect("const", "")
	c.Type = p.typ()
	t := p.ident("a constant name")
	c.Pos, c.Name = t.pos, t.text
	p.expect("=", "after constant name "+c.Name)
	c.Expr = p.expr()
	p.expect(";", "after constant declaration")
	return c
}

func (p *parser) method(first int, annots []*Annotation, ifaceOneway bool) *Method {
	m := &Method{Doc: p.docAt(first), Annotations: annots, Oneway: ifaceOneway, ID: -1}
	if p.accept("oneway") {
		m.Oneway = true
	}
	m.Return = p.typ()
	// @nullable before the return type (@nullable String get()) is read as the method's; it
	// describes the type.
	if a := FindAnnotation(annots, "nullable"); a != nil && FindAnnotation(m.Return.Annotations, "nullable") == nil {
		m.Return.Annotations = append([]*Annotation{a}, m.Return.Annotations...)
	}
	t := p.ident("a method name")
	m.Pos, m.Name = t.pos, t.text
	p.expect("(", "after method name "+m.Name)
	for !p.is(")") {
		a := &Arg{}
		a.Annotations = p.annotations()
		for _, d := range []Direction{In, Out, InOut} {
			if p.is(d.String()) {
				p.next()
				a.Direction, a.ExplicitDirection = d, true
				break
			}
		}
		a.Type = p.typ()
		// Annotations before the direction describe the type too (@nullable in Foo f).
		a.Type.Annotations = append(a.Annotations[:len(a.Annotations):len(a.Annotations)], a.Type.Annotations...)
		n := p.ident("an argument name")
		a.Pos, a.Name = n.pos, n.text
		m.Args = append(m.Args, a)
		if !p.accept(",") {
			break
		}
	}
	p.expect(")", "to close argument list")
	if p.accept("=") {
		t := p.peek()
		if t.kind != tInt {
			p.fail(t, "expected a transaction id (an integer) after '=', found %s", t)
		}
		p.next()
		v, err := parseIntLiteral(t.text)
		if err != nil || v.Int < 0 || v.Int > maxTransactionID {
			p.fail(t, "transaction id %s is out of range: give 0 to %d", t.text, maxTransactionID)
		}
		m.ID = v.Int
	}
	p.expect(";", "after method declaration")
	m.Trailing = p.trailing()
	return m
}

// maxTransactionID is the largest explicit method id: user transactions end at 0x00ffffff.
const maxTransactionID = 0x00ffffff - 1

func (p *parser) parcelable(b DeclBase) Decl {
	pc := &Parcelable{DeclBase: b}
	p.declName(&pc.DeclBase, "parcelable")
	// A parcelable defined in another language may be a nested class there:
	// parcelable Outer.Inner cpp_header "…";
	for p.is(".") && p.peekN(1).kind == tIdent {
		p.next()
		pc.Name += "." + p.next().text
	}
	pc.TypeParams = p.typeParams()
	for {
		switch {
		case p.accept("cpp_header"):
			pc.Forward, pc.CppHeader = true, p.stringLit("a header name after cpp_header")
			continue
		case p.accept("ndk_header"):
			pc.Forward, pc.NdkHeader = true, p.stringLit("a header name after ndk_header")
			continue
		case p.accept("rust_type"):
			pc.Forward, pc.RustType = true, p.stringLit("a type name after rust_type")
			continue
		}
		break
	}
	if pc.Forward || p.is(";") {
		pc.Forward = true
		p.expect(";", "after forward declaration of "+pc.Name)
		return pc
	}
	pc.Fields = p.fieldsBody(pc, "parcelable")
	return pc
}

func (p *parser) stringLit(what string) string {
	t := p.peek()
	if t.kind != tString {
		p.fail(t, "expected %s, found %s", what, t)
	}
	p.next()
	v, err := unquote(t.text)
	if err != nil {
		p.fail(t, "%v", err)
	}
	return v
}

func (p *parser) union(b DeclBase) Decl {
	u := &Union{DeclBase: b}
	p.declName(&u.DeclBase, "union")
	u.TypeParams = p.typeParams()
	u.Fields = p.fieldsBody(u, "union")
	return u
}

// fieldsBody reads the body of a parcelable or union: fields, constants and nested types.
func (p *parser) fieldsBody(self Decl, what string) []*Field {
	var fs []*Field
	p.body(self, what, func(first int, annots []*Annotation) {
		f := &Field{Doc: p.docAt(first), Annotations: annots}
		f.Type = p.typ()
		// Annotations written before the type belong to the type too (@nullable String s).
		f.Type.Annotations = append(annots[:len(annots):len(annots)], f.Type.Annotations...)
		t := p.ident("a field name")
		f.Pos, f.Name = t.pos, t.text
		if p.accept("=") {
			f.Default = p.expr()
		}
		p.expect(";", "after field "+f.Name)
		f.Trailing = p.trailing()
		fs = append(fs, f)
	})
	return fs
}

func (p *parser) enum(b DeclBase) Decl {
	e := &Enum{DeclBase: b, Backing: "byte"}
	if a := FindAnnotation(b.Annotations, "Backing"); a != nil {
		if p := a.Param("type"); p != nil {
			if lit, ok := p.Value.(*Literal); ok && lit.Kind == StringLit {
				e.Backing, _ = unquote(lit.Text)
			}
		}
	}
	p.declName(&e.DeclBase, "enum")
	p.expect("{", "to open enum body")
	for !p.is("}") {
		first := p.i
		annots := p.annotations()
		t := p.ident("an enumerator name")
		en := &Enumerator{Pos: t.pos, Name: t.text, Doc: p.docAt(first), Annotations: annots}
		if first == p.i-1 {
			en.Doc = docOf(t.doc)
		}
		if p.accept("=") {
			en.Expr = p.expr()
		}
		e.Enumerators = append(e.Enumerators, en)
		more := p.accept(",")
		en.Trailing = p.trailing()
		if !more {
			break
		}
	}
	p.expect("}", "to close enum body")
	p.accept(";")
	return e
}

// typ reads a type: annotations, a name, generic arguments and array dimensions.
func (p *parser) typ() *Type {
	p.enter()
	defer p.leave()
	annots := p.annotations()
	name, pos := p.qualified("a type")
	t := &Type{Pos: pos, Name: name, Annotations: annots}
	if p.accept("<") {
		for {
			t.Args = append(t.Args, p.typ())
			if !p.accept(",") {
				break
			}
		}
		p.closeAngle("to close type arguments of " + name)
	}
	for p.is("[") {
		p.next()
		if p.accept("]") {
			t.Dims = append(t.Dims, &Dim{Size: -1})
			continue
		}
		t.Dims = append(t.Dims, &Dim{Size: -1, SizeExpr: p.expr()})
		p.expect("]", "to close array size")
	}
	return t
}

// binaryLevels are the binary operators by precedence, lowest first, as in C and Java.
var binaryLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"},
}

// expr reads a constant expression: a conditional, the lowest precedence.
func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	c := p.binary(0)
	if p.accept("?") {
		then := p.expr()
		p.expect(":", "in conditional expression")
		els := p.expr()
		return &Ternary{Pos: c.Position(), Cond: c, Then: then, Else: els}
	}
	return c
}

func (p *parser) binary(level int) Expr {
	if level == len(binaryLevels) {
		return p.unary()
	}
	x := p.binary(level + 1)
	for {
		t := p.peek()
		if t.kind != tPunct || !contains(binaryLevels[level], t.text) {
			return x
		}
		p.next()
		y := p.binary(level + 1)
		x = &Binary{Pos: x.Position(), Op: t.text, X: x, Y: y}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() Expr {
	p.enter()
	defer p.leave()
	t := p.peek()
	if t.kind == tPunct && (t.text == "+" || t.text == "-" || t.text == "~" || t.text == "!") {
		p.next()
		return &Unary{Pos: t.pos, Op: t.text, X: p.unary()}
	}
	return p.primary()
}

func (p *parser) primary() Expr {
	t := p.peek()
	switch t.kind {
	case tInt:
		p.next()
		return &Literal{Pos: t.pos, Kind: IntLit, Text: t.text}
	case tFloat:
		p.next()
		return &Literal{Pos: t.pos, Kind: FloatLit, Text: t.text}
	case tString:
		p.next()
		return &Literal{Pos: t.pos, Kind: StringLit, Text: t.text}
	case tChar:
		p.next()
		return &Literal{Pos: t.pos, Kind: CharLit, Text: t.text}
	case tIdent:
		switch t.text {
		case "true", "false":
			p.next()
			return &Literal{Pos: t.pos, Kind: BoolLit, Text: t.text}
		case "null":
			p.next()
			return &Literal{Pos: t.pos, Kind: NullLit, Text: t.text}
		}
		name, pos := p.qualified("a constant name")
		return &Ref{Pos: pos, Name: name}
	case tPunct:
		switch t.text {
		case "(":
			p.next()
			x := p.expr()
			p.expect(")", "to close parenthesized expression")
			return x
		case "{":
			p.next()
			a := &ArrayLit{Pos: t.pos}
			for !p.is("}") {
				a.Elems = append(a.Elems, p.expr())
				if !p.accept(",") {
					break
				}
			}
			p.expect("}", "to close array")
			return a
		}
	}
	p.fail(t, "expected a value (a literal, a constant name or a parenthesized expression), found %s", t)
	return nil
}
