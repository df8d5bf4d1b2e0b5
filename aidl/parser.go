package aidl

import (
	"fmt"
	"strings"
)

// maxDepth bounds the nesting of types, declarations and expressions.
const maxDepth = 200

// Parse parses one AIDL file. path is used in positions. The result is not resolved: types
// and constants are resolved by a Loader.
func Parse(path string, src []byte) (*File, error) {
	var errs ErrorList
	lx := &lexer{file: path, src: src, line: 1, col: 1, errs: &errs}
	p := &parser{toks: lx.tokens(), errs: &errs, file: &File{Path: path}}
	p.parseFile()
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p.file, nil
}

type parser struct {
	toks  []token
	i     int
	errs  *ErrorList
	file  *File
	depth int
}

// bail stops the parse at the first error: AIDL files are small and a first error is the
// useful one; later ones are usually its echoes.
type bail struct{}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
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

func (p *parser) is(text string) bool {
	t := p.peek()
	return (t.kind == tPunct || t.kind == tIdent) && t.text == text
}

func (p *parser) accept(text string) bool {
	if p.is(text) {
		p.next()
		return true
	}
	return false
}

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

// qualified reads a.b.c.
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
		p.fail(p.peek(), "nesting deeper than %d", maxDepth)
	}
}
func (p *parser) leave() { p.depth-- }

func (p *parser) parseFile() {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bail); !ok {
				panic(r)
			}
		}
	}()
	f := p.file
	if p.accept("package") {
		f.Package, _ = p.qualified("a package name")
		p.expect(";", "after the package name")
	}
	for p.is("import") {
		p.next()
		name, pos := p.qualified("an imported type name")
		f.Imports = append(f.Imports, &Import{Pos: pos, Name: name})
		p.expect(";", "after the import")
	}
	for p.peek().kind != tEOF {
		f.Decls = append(f.Decls, p.decl(nil))
	}
	if len(f.Decls) == 0 {
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
		body := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(text, "/**"), "/*"), "*/")
		for _, ln := range strings.Split(body, "\n") {
			ln = strings.TrimSpace(ln)
			if strings.HasPrefix(ln, "*") {
				ln = strings.TrimPrefix(strings.TrimPrefix(ln, "*"), " ")
			}
			lines = append(lines, strings.TrimRight(ln, " \t"))
		}
	} else {
		for _, ln := range strings.Split(text, "\n") {
			ln = strings.TrimPrefix(strings.TrimSpace(ln), "//")
			lines = append(lines, strings.TrimPrefix(ln, " "))
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

// annotations reads zero or more annotations.
func (p *parser) annotations() []*Annotation {
	var as []*Annotation
	for p.is("@") {
		at := p.next()
		name, _ := p.qualified("an annotation name")
		a := &Annotation{Pos: at.pos, Name: name}
		if p.accept("(") {
			if !p.is(")") {
				if p.peek().kind == tIdent && p.peekN(1).text == "=" && p.peekN(1).kind == tPunct {
					for {
						n := p.ident("an annotation parameter name").text
						p.expect("=", "after the annotation parameter name")
						a.Params = append(a.Params, &AnnotationParam{Name: n, Value: p.expr()})
						if !p.accept(",") {
							break
						}
					}
				} else {
					a.Params = append(a.Params, &AnnotationParam{Name: "value", Value: p.expr()})
				}
			}
			p.expect(")", "to close the annotation's parameters")
		}
		as = append(as, a)
	}
	return as
}

// decl reads a type declaration.
func (p *parser) decl(parent Decl) Decl {
	p.enter()
	defer p.leave()
	first := p.peek()
	annots := p.annotations()
	doc := docOf(first.doc)
	kw := p.peek()
	base := DeclBase{Doc: doc, Annotations: annots, Package: p.file.Package, Parent: parent, File: p.file}
	switch {
	case p.is("oneway") && p.peekN(1).text == "interface":
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

func (p *parser) declName(b *DeclBase) {
	t := p.ident("a type name")
	b.Pos, b.Name = t.pos, t.text
}

func (p *parser) typeParams() []string {
	var ps []string
	if p.accept("<") {
		for {
			ps = append(ps, p.ident("a type parameter name").text)
			if !p.accept(",") {
				break
			}
		}
		p.closeAngle("to close the type parameters")
	}
	return ps
}

// closeAngle reads '>', splitting a '>>' token.
func (p *parser) closeAngle(context string) {
	t := p.peek()
	if t.kind == tPunct && t.text == ">>" {
		p.toks[p.i].text = ">"
		p.toks[p.i].pos.Col++
		return
	}
	p.expect(">", context)
}

func (p *parser) interfaceBody(b DeclBase, oneway bool) Decl {
	it := &Interface{DeclBase: b, Oneway: oneway}
	p.declName(&it.DeclBase)
	p.expect("{", "to open the interface body")
	for !p.is("}") {
		if p.peek().kind == tEOF {
			p.fail(p.peek(), "expected '}' to close interface %s, found end of file", it.Name)
		}
		if p.isDeclStart() {
			it.Nested = append(it.Nested, p.decl(it))
			continue
		}
		first := p.peek()
		annots := p.annotations()
		if p.is("const") {
			it.Consts = append(it.Consts, p.constDecl(first, annots))
			continue
		}
		it.Methods = append(it.Methods, p.method(first, annots, oneway))
	}
	p.next()
	p.accept(";")
	return it
}

// isDeclStart reports whether a nested declaration starts here (after any annotations).
func (p *parser) isDeclStart() bool {
	j := p.i
	for p.toks[j].kind == tPunct && p.toks[j].text == "@" {
		// skip @Name(…)
		j++
		for p.toks[j].kind == tIdent && p.toks[j+1].text == "." && p.toks[j+1].kind == tPunct {
			j += 2
		}
		j++
		if p.toks[j].text == "(" && p.toks[j].kind == tPunct {
			depth := 0
			for ; p.toks[j].kind != tEOF; j++ {
				if p.toks[j].kind == tPunct && p.toks[j].text == "(" {
					depth++
				}
				if p.toks[j].kind == tPunct && p.toks[j].text == ")" {
					depth--
					if depth == 0 {
						j++
						break
					}
				}
			}
		}
		if p.toks[j].kind == tEOF {
			return false
		}
	}
	t := p.toks[j]
	if t.kind != tIdent {
		return false
	}
	switch t.text {
	case "interface", "parcelable", "enum", "union":
		return true
	case "oneway":
		return p.toks[j+1].text == "interface"
	}
	return false
}

func (p *parser) constDecl(first token, annots []*Annotation) *Const {
	p.expect("const", "")
	c := &Const{Doc: docOf(first.doc), Annotations: annots}
	c.Type = p.typ()
	t := p.ident("a constant name")
	c.Pos, c.Name = t.pos, t.text
	p.expect("=", "after the constant name")
	c.Expr = p.expr()
	p.expect(";", "after the constant's value")
	return c
}

func (p *parser) method(first token, annots []*Annotation, ifaceOneway bool) *Method {
	m := &Method{Doc: docOf(first.doc), Annotations: annots, Oneway: ifaceOneway, ID: -1}
	if p.accept("oneway") {
		m.Oneway = true
	}
	m.Return = p.typ()
	t := p.ident("a method name")
	m.Pos, m.Name = t.pos, t.text
	p.expect("(", "after the method name")
	for !p.is(")") {
		a := &Arg{}
		a.Annotations = p.annotations()
		switch {
		case p.is("in"):
			p.next()
			a.Direction, a.ExplicitDirection = In, true
		case p.is("out"):
			p.next()
			a.Direction, a.ExplicitDirection = Out, true
		case p.is("inout"):
			p.next()
			a.Direction, a.ExplicitDirection = InOut, true
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
	p.expect(")", "to close the argument list")
	if p.accept("=") {
		t := p.peek()
		if t.kind != tInt {
			p.fail(t, "expected a transaction id (an integer) after '=', found %s", t)
		}
		p.next()
		v, err := parseIntLiteral(t.text)
		if err != nil || v.Int < 0 || v.Int > 0xffffff {
			p.fail(t, "transaction id %s is out of range: give 0 to 16777215", t.text)
		}
		m.ID = v.Int
	}
	p.expect(";", "after the method declaration")
	return m
}

func (p *parser) parcelable(b DeclBase) Decl {
	pc := &Parcelable{DeclBase: b}
	p.declName(&pc.DeclBase)
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
	if p.accept(";") {
		pc.Forward = true
		return pc
	}
	if pc.Forward {
		p.expect(";", "after the forward declaration")
	}
	pc.Fields = p.fieldsBody(pc, &pc.DeclBase)
	return pc
}

func (p *parser) stringLit(what string) string {
	t := p.peek()
	if t.kind != tString {
		p.fail(t, "expected %s, found %s", what, t)
	}
	p.next()
	v, _ := unquote(t.text)
	return v
}

func (p *parser) union(b DeclBase) Decl {
	u := &Union{DeclBase: b}
	p.declName(&u.DeclBase)
	u.TypeParams = p.typeParams()
	u.Fields = p.fieldsBody(u, &u.DeclBase)
	return u
}

// fieldsBody reads { fields, constants, nested declarations } of a parcelable or union.
func (p *parser) fieldsBody(self Decl, b *DeclBase) []*Field {
	var fs []*Field
	p.expect("{", "to open the body of "+b.Name)
	for !p.is("}") {
		if p.peek().kind == tEOF {
			p.fail(p.peek(), "expected '}' to close %s, found end of file", b.Name)
		}
		if p.isDeclStart() {
			b.Nested = append(b.Nested, p.decl(self))
			continue
		}
		first := p.peek()
		annots := p.annotations()
		if p.is("const") {
			b.Consts = append(b.Consts, p.constDecl(first, annots))
			continue
		}
		f := &Field{Doc: docOf(first.doc), Annotations: annots}
		f.Type = p.typ()
		// Annotations written before the type belong to the type too (@nullable String s).
		f.Type.Annotations = append(annots[:len(annots):len(annots)], f.Type.Annotations...)
		t := p.ident("a field name")
		f.Pos, f.Name = t.pos, t.text
		if p.accept("=") {
			f.Default = p.expr()
		}
		p.expect(";", "after the field "+f.Name)
		fs = append(fs, f)
	}
	p.next()
	p.accept(";")
	return fs
}

func (p *parser) enum(b DeclBase) Decl {
	e := &Enum{DeclBase: b, Backing: "byte"}
	p.declName(&e.DeclBase)
	p.expect("{", "to open the enum body")
	for !p.is("}") {
		first := p.peek()
		p.annotations()
		t := p.ident("an enumerator name")
		en := &Enumerator{Pos: t.pos, Name: t.text, Doc: docOf(first.doc)}
		if p.accept("=") {
			en.Expr = p.expr()
		}
		e.Enumerators = append(e.Enumerators, en)
		if !p.accept(",") {
			break
		}
	}
	p.expect("}", "to close the enum body")
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
		p.closeAngle("to close the type arguments of " + name)
	}
	for p.is("[") {
		p.next()
		if p.accept("]") {
			t.Dims = append(t.Dims, &Dim{Size: -1})
			continue
		}
		t.Dims = append(t.Dims, &Dim{Size: -1, SizeExpr: p.expr()})
		p.expect("]", "to close the array size")
	}
	return t
}

// Expressions, by precedence, lowest first.
var binaryLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", ">", "<=", ">="}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"},
}

func (p *parser) expr() Expr {
	p.enter()
	defer p.leave()
	c := p.binary(0)
	if p.accept("?") {
		then := p.expr()
		p.expect(":", "in the conditional expression")
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
			p.expect(")", "to close the parenthesis")
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
			p.expect("}", "to close the array")
			return a
		}
	}
	p.fail(t, "expected a value (a literal, a constant name or a parenthesized expression), found %s", t)
	return nil
}
