package aidl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Loader reads AIDL files and the files they import, and resolves them: every type to its
// declaration, every constant expression to its value. Imports are found as the aidl
// compiler's -I flags find them: import a.b.C is a/b/C.aidl under one of the include
// directories. A file named on the command line whose path ends in its package's directories
// makes the directory above them an include directory too.
type Loader struct {
	// IncludeDirs are searched in order for imported files.
	IncludeDirs []string
	// ReadFile reads a file; nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)

	files   []*File
	byPath  map[string]*File
	decls   map[string]Decl // by qualified name
	roots   []string        // include directories implied by the files loaded
	errs    ErrorList
	missing map[string]bool // files looked for and not found
	// imported marks the files whose imports are resolved.
	imported map[*File]bool
}

var builtins = map[string]bool{
	"void": true, "boolean": true, "byte": true, "char": true, "int": true, "long": true,
	"float": true, "double": true, "String": true, "CharSequence": true, "List": true,
	"Map": true, "IBinder": true, "FileDescriptor": true, "ParcelFileDescriptor": true,
	"ParcelableHolder": true,
}

// frameworkBuiltin reports whether an import names a type the language has built in, such
// as android.os.ParcelFileDescriptor or java.util.List.
func frameworkBuiltin(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || !builtins[name[i+1:]] {
		return false
	}
	switch name[:i] {
	case "android.os", "java.util", "java.lang", "java.io":
		return true
	}
	return false
}

// Files returns every file loaded, those named and those imported, in load order.
func (l *Loader) Files() []*File { return l.files }

// Lookup returns the declaration with the qualified name, or nil.
func (l *Loader) Lookup(name string) Decl { return l.decls[name] }

// Load reads the files at paths and every file they import, resolves them, and returns the
// files at paths.
func (l *Loader) Load(paths ...string) ([]*File, error) {
	if l.byPath == nil {
		l.byPath = map[string]*File{}
		l.decls = map[string]Decl{}
		l.missing = map[string]bool{}
		l.imported = map[*File]bool{}
	}
	l.errs = nil
	var out []*File
	for _, p := range paths {
		f, err := l.parse(p)
		if err != nil {
			var el ErrorList
			if !errors.As(err, &el) {
				return nil, err
			}
			l.errs = append(l.errs, el...)
			continue
		}
		if f == nil {
			return nil, fmt.Errorf("reading %s: %w", p, fs.ErrNotExist)
		}
		out = append(out, f)
		if root, ok := impliedRoot(p, f.Package); ok && !contains(l.roots, root) && !contains(l.IncludeDirs, root) {
			l.roots = append(l.roots, root)
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	// Imports, transitively.
	for i := 0; i < len(l.files); i++ {
		l.resolveImports(l.files[i])
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	// Types, then values, of every file (files loaded while resolving, named by a qualified
	// name without an import, are resolved too, their imports first).
	for i := 0; i < len(l.files); i++ {
		l.resolveImports(l.files[i])
		for _, d := range l.files[i].Decls {
			l.resolveDecl(d)
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	ev := &evaluator{l: l, visiting: map[any]bool{}, done: map[*Enum]bool{}, known: map[*Enumerator]bool{}}
	for _, f := range l.files {
		for _, d := range f.Decls {
			l.evalDecl(ev, d)
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	for _, f := range l.files {
		for _, d := range f.Decls {
			l.check(d)
		}
	}
	return out, l.errs.Err()
}

// resolveImports finds the declarations f imports, once.
func (l *Loader) resolveImports(f *File) {
	if l.imported[f] {
		return
	}
	l.imported[f] = true
	for _, im := range f.Imports {
		if frameworkBuiltin(im.Name) {
			continue // android.os.ParcelFileDescriptor and the like: built into the language
		}
		if im.Decl = l.find(im.Name); im.Decl == nil {
			l.errs.add(im.Pos, fmt.Sprintf("cannot find import %s: looked for %s in include directories %v", im.Name, strings.Join(l.candidates(im.Name), " and "), l.dirs()))
		}
	}
}

// impliedRoot returns the include directory that a file's path implies: the path without its
// package's directories, when it ends in them.
func impliedRoot(path, pkg string) (string, bool) {
	if pkg == "" {
		return "", false
	}
	dir := filepath.ToSlash(filepath.Dir(filepath.Clean(path)))
	suffix := strings.ReplaceAll(pkg, ".", "/")
	switch {
	case dir == suffix:
		return ".", true
	case strings.HasSuffix(dir, "/"+suffix):
		root := strings.TrimSuffix(dir, "/"+suffix)
		if root == "" {
			root = "/"
		}
		return filepath.FromSlash(root), true
	}
	return "", false
}

func (l *Loader) dirs() []string {
	return append(append([]string(nil), l.IncludeDirs...), l.roots...)
}

func (l *Loader) read(path string) ([]byte, error) {
	if l.ReadFile != nil {
		return l.ReadFile(path)
	}
	return os.ReadFile(path)
}

// parse reads and parses path once; it returns nil, nil when the file does not exist.
func (l *Loader) parse(path string) (*File, error) {
	if f := l.byPath[path]; f != nil {
		return f, nil
	}
	if l.missing[path] {
		return nil, nil
	}
	src, err := l.read(path)
	if errors.Is(err, fs.ErrNotExist) {
		l.missing[path] = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f, err := Parse(path, src)
	if err != nil {
		return nil, err
	}
	l.byPath[path] = f
	l.files = append(l.files, f)
	for _, d := range f.Decls {
		l.register(d)
	}
	return f, nil
}

func (l *Loader) register(d Decl) {
	b := d.Base()
	name := b.QualifiedName()
	if old := l.decls[name]; old != nil && old != d {
		l.errs.add(b.Pos, fmt.Sprintf("%s is declared twice (also at %s)", name, old.Base().Pos))
		return
	}
	l.decls[name] = d
	for _, n := range b.Nested {
		l.register(n)
	}
}

// candidates lists the files a type of the qualified name may be in, relative to an include
// directory: a/b/C.aidl for a.b.C and, for a nested type a.b.C.Inner, a/b/C/Inner.aidl and
// then a/b/C.aidl. Only names that start with a capital letter are taken for types when the
// name has any; package names are lower case.
func (l *Loader) candidates(name string) []string {
	parts := strings.Split(name, ".")
	first := len(parts)
	for i, p := range parts {
		if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
			first = i + 1
			break
		}
	}
	var out []string
	for k := len(parts); k >= first && k >= 1; k-- {
		out = append(out, filepath.Join(parts[:k]...)+".aidl")
	}
	return out
}

// find returns the declaration with the qualified name, loading its file if needed.
func (l *Loader) find(name string) Decl {
	if d := l.decls[name]; d != nil {
		return d
	}
	for _, c := range l.candidates(name) {
		for _, dir := range l.dirs() {
			f, err := l.parse(filepath.Join(dir, c))
			if err != nil {
				var el ErrorList
				if errors.As(err, &el) {
					l.errs = append(l.errs, el...)
				} else {
					l.errs.add(Pos{File: filepath.Join(dir, c)}, err.Error())
				}
				return nil
			}
			if f != nil {
				if d := l.decls[name]; d != nil {
					return d
				}
				// import a.Outer names a file that declares parcelable Outer.Inner.
				for _, d := range f.Decls {
					if strings.HasPrefix(d.Base().QualifiedName(), name+".") {
						return d
					}
				}
			}
		}
	}
	return nil
}

// resolveName resolves a type name as written in scope: a nested type of scope or its
// parents, an imported type, a type of the same package, or a qualified name.
func (l *Loader) resolveName(name string, scope Decl) Decl {
	parts := strings.Split(name, ".")
	first := parts[0]
	var d Decl
	for s := scope; s != nil && d == nil; s = s.Base().Parent {
		if s.Base().Name == first {
			d = s
			break
		}
		d = l.nested(s, first)
	}
	var file *File
	if scope != nil {
		file = scope.Base().File
	}
	if d == nil && file != nil {
		for _, im := range file.Imports {
			if im.Decl != nil && (im.Name == first || strings.HasSuffix(im.Name, "."+first)) {
				d = im.Decl
				break
			}
		}
		if d == nil && file.Package != "" {
			d = l.find(file.Package + "." + first)
		} else if d == nil {
			d = l.decls[first]
		}
	}
	if d != nil {
		for _, p := range parts[1:] {
			if d = l.nested(d, p); d == nil {
				break
			}
		}
		if d != nil {
			return d
		}
	}
	if len(parts) > 1 {
		if file != nil && file.Package != "" {
			if d := l.find(file.Package + "." + name); d != nil {
				return d // a forward parcelable named Outer.Inner in the same package
			}
		}
		return l.find(name)
	}
	return nil
}

// nested returns the type named name declared in d, or a union's implicit Tag enum, or nil.
func (l *Loader) nested(d Decl, name string) Decl {
	for _, n := range d.Base().Nested {
		if n.Base().Name == name {
			return n
		}
	}
	if u, ok := d.(*Union); ok && name == "Tag" {
		return l.unionTag(u)
	}
	return nil
}

// unionTag returns u's implicit Tag enum, building it the first time.
func (l *Loader) unionTag(u *Union) *Enum {
	if u.Tag == nil {
		e := &Enum{DeclBase: DeclBase{Pos: u.Pos, Name: "Tag", Package: u.Package, Parent: u, File: u.File}, Backing: "int"}
		for _, f := range u.Fields {
			e.Enumerators = append(e.Enumerators, &Enumerator{Pos: f.Pos, Name: f.Name})
		}
		u.Tag = e
		if l.decls != nil {
			if _, taken := l.decls[e.QualifiedName()]; !taken {
				l.decls[e.QualifiedName()] = e
			}
		}
	}
	return u.Tag
}

func typeParamsOf(d Decl) []string {
	switch d := d.(type) {
	case *Parcelable:
		return d.TypeParams
	case *Union:
		return d.TypeParams
	}
	return nil
}

// resolveType resolves t and its arguments in scope.
func (l *Loader) resolveType(t *Type, scope Decl) {
	for _, a := range t.Args {
		l.resolveType(a, scope)
	}
	for s := scope; s != nil; s = s.Base().Parent {
		for _, tp := range typeParamsOf(s) {
			if tp == t.Name {
				t.Kind = TypeParam
				return
			}
		}
	}
	if builtins[t.Name] {
		t.Kind = Builtin
		switch {
		case t.Name == "List" && len(t.Args) > 1, t.Name == "Map" && len(t.Args) != 0 && len(t.Args) != 2:
			l.errs.add(t.Pos, fmt.Sprintf("%s takes %s type arguments, found %d", t.Name, map[string]string{"List": "one", "Map": "two"}[t.Name], len(t.Args)))
		case t.Name != "List" && t.Name != "Map" && len(t.Args) > 0:
			l.errs.add(t.Pos, fmt.Sprintf("%s takes no type arguments", t.Name))
		}
		return
	}
	d := l.resolveName(t.Name, scope)
	if d == nil {
		msg := fmt.Sprintf("unknown type %q", t.Name)
		if s := l.suggest(t.Name, scope); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if !strings.Contains(t.Name, ".") {
			msg += ": import it, or declare it in this package"
		}
		l.errs.add(t.Pos, msg)
		return
	}
	t.Kind, t.Decl = Declared, d
	if n := len(typeParamsOf(d)); len(t.Args) != n && len(t.Args) > 0 {
		l.errs.add(t.Pos, fmt.Sprintf("%s takes %d type arguments, found %d", t.Name, n, len(t.Args)))
	}
}

func (l *Loader) resolveDecl(d Decl) {
	b := d.Base()
	for _, c := range b.Consts {
		l.resolveType(c.Type, d)
	}
	switch d := d.(type) {
	case *Interface:
		for _, m := range d.Methods {
			l.resolveType(m.Return, d)
			for _, a := range m.Args {
				l.resolveType(a.Type, d)
			}
		}
	case *Parcelable:
		for _, f := range d.Fields {
			l.resolveType(f.Type, d)
		}
	case *Union:
		for _, f := range d.Fields {
			l.resolveType(f.Type, d)
		}
		l.nested(d, "Tag") // builds the implicit Tag enum unless the union declares its own

	case *Enum:
		if a := FindAnnotation(d.Annotations, "Backing"); a != nil {
			if p := a.Param("type"); p == nil {
				l.errs.add(a.Pos, `@Backing needs a type: @Backing(type="byte"), "int" or "long"`)
			} else if lit, ok := p.Value.(*Literal); !ok || lit.Kind != StringLit {
				l.errs.add(p.Value.Position(), `@Backing type must be a string: "byte", "int" or "long"`)
			} else if d.Backing != "byte" && d.Backing != "int" && d.Backing != "long" {
				l.errs.add(p.Value.Position(), fmt.Sprintf(`@Backing type %q is not "byte", "int" or "long"`, d.Backing))
			}
		}
	}
	for _, n := range b.Nested {
		l.resolveDecl(n)
	}
}

// evalDecl evaluates every constant expression of d.
func (l *Loader) evalDecl(ev *evaluator, d Decl) {
	try := func(f func()) {
		if l.errs.full() {
			return
		}
		defer func() {
			if r := recover(); r != nil {
				e, ok := r.(*Error)
				if !ok {
					panic(r)
				}
				l.errs.add(e.Pos, e.Msg)
			}
		}()
		f()
	}
	b := d.Base()
	for _, c := range b.Consts {
		try(func() { ev.constant(c, d) })
	}
	var fields []*Field
	switch d := d.(type) {
	case *Enum:
		try(func() { ev.enum(d) })
	case *Parcelable:
		fields = d.Fields
	case *Union:
		fields = d.Fields
		if d.Tag != nil {
			try(func() { ev.enum(d.Tag) })
		}
	case *Interface:
		for _, m := range d.Methods {
			for _, a := range m.Args {
				try(func() { l.evalDims(ev, a.Type, d) })
			}
			try(func() { l.evalDims(ev, m.Return, d) })
		}
	}
	for _, f := range fields {
		try(func() {
			l.evalDims(ev, f.Type, d)
			if f.Default != nil {
				f.DefaultValue = ev.convert(ev.eval(f.Default, d, 0), f.Type, f.Default.Position())
			}
		})
	}
	for _, n := range b.Nested {
		l.evalDecl(ev, n)
	}
}

func (l *Loader) evalDims(ev *evaluator, t *Type, scope Decl) {
	for _, dim := range t.Dims {
		if dim.SizeExpr == nil {
			continue
		}
		v := ev.eval(dim.SizeExpr, scope, 0)
		if v.Kind != IntValue || v.Int <= 0 || v.Int > 1<<20 {
			ev.fail(dim.SizeExpr.Position(), "an array size must be a positive int, found %s", text(v))
		}
		dim.Size = v.Int
	}
	for _, a := range t.Args {
		l.evalDims(ev, a, scope)
	}
}

// check reports what the language forbids once types are known.
func (l *Loader) check(d Decl) {
	b := d.Base()
	seen := map[string]Pos{}
	name := func(n string, p Pos) {
		if old, ok := seen[n]; ok {
			l.errs.add(p, fmt.Sprintf("%s is declared twice in %s (also at %s)", n, b.Name, old))
		}
		seen[n] = p
	}
	for _, c := range b.Consts {
		name(c.Name, c.Pos)
	}
	switch d := d.(type) {
	case *Interface:
		withID, ids := 0, map[int64]string{}
		for _, m := range d.Methods {
			name(m.Name, m.Pos)
			if m.ID >= 0 {
				withID++
				if other, ok := ids[m.ID]; ok {
					l.errs.add(m.Pos, fmt.Sprintf("transaction id %d of %s is taken by %s", m.ID, m.Name, other))
				}
				ids[m.ID] = m.Name
			}
			if m.Oneway && m.Return.Name != "void" {
				l.errs.add(m.Return.Pos, fmt.Sprintf("oneway method %s must return void", m.Name))
			}
			for _, a := range m.Args {
				if a.Direction != In && m.Oneway {
					l.errs.add(a.Pos, fmt.Sprintf("oneway method %s cannot have %s argument %s", m.Name, a.Direction, a.Name))
				}
				if a.Type.Name == "void" && a.Type.Kind == Builtin {
					l.errs.add(a.Type.Pos, fmt.Sprintf("argument %s cannot be void", a.Name))
				} else if a.Direction != In && !canBeOut(a.Type) {
					l.errs.add(a.Pos, fmt.Sprintf("%s argument %s: %s can only be in (out and inout take arrays, List, Map, parcelables, unions and ParcelFileDescriptor)", a.Direction, a.Name, typeDesc(a.Type)))
				} else if !a.ExplicitDirection && canBeOut(a.Type) && a.Type.Name != "ParcelFileDescriptor" {
					l.errs.add(a.Pos, fmt.Sprintf("argument %s needs a direction: %s can be in, out or inout", a.Name, typeDesc(a.Type)))
				}
			}
		}
		if withID > 0 && withID < len(d.Methods) {
			l.errs.add(d.Pos, fmt.Sprintf("interface %s gives transaction ids to %d of its %d methods: give all or none", d.Name, withID, len(d.Methods)))
		}
	case *Parcelable:
		l.checkFields(d.Fields, name)
	case *Union:
		l.checkFields(d.Fields, name)
		if len(d.Fields) == 0 {
			l.errs.add(d.Pos, fmt.Sprintf("union %s has no members", d.Name))
		}
	case *Enum:
		for _, e := range d.Enumerators {
			name(e.Name, e.Pos)
		}
		if len(d.Enumerators) == 0 {
			l.errs.add(d.Pos, fmt.Sprintf("enum %s has no enumerators", d.Name))
		}
	}
	for _, n := range b.Nested {
		name(n.Base().Name, n.Base().Pos)
		l.check(n)
	}
}

func isParcel(d Decl) bool {
	switch d.(type) {
	case *Parcelable, *Union:
		return true
	}
	return false
}

func canBeOut(t *Type) bool {
	if t.IsArray() {
		return true
	}
	switch t.Kind {
	case Builtin:
		return t.Name == "List" || t.Name == "Map" || t.Name == "ParcelFileDescriptor"
	case Declared:
		return isParcel(t.Decl)
	case TypeParam:
		return true
	}
	return false
}

func (l *Loader) checkFields(fs []*Field, name func(string, Pos)) {
	for _, f := range fs {
		name(f.Name, f.Pos)
		if f.Type.Name == "void" && f.Type.Kind == Builtin {
			l.errs.add(f.Type.Pos, fmt.Sprintf("field %s cannot be void", f.Name))
		}
	}
}

// suggest returns a known type name close to name, for "did you mean": a built-in, a type
// nested in scope or its parents, an imported type, or a type of a loaded package.
func (l *Loader) suggest(name string, scope Decl) string {
	var cands []string
	for b := range builtins {
		cands = append(cands, b)
	}
	for s := scope; s != nil; s = s.Base().Parent {
		cands = append(cands, s.Base().Name)
		for _, n := range s.Base().Nested {
			cands = append(cands, n.Base().Name)
		}
	}
	if scope != nil && scope.Base().File != nil {
		for _, im := range scope.Base().File.Imports {
			cands = append(cands, im.Name[strings.LastIndexByte(im.Name, '.')+1:])
		}
	}
	for q := range l.decls {
		cands = append(cands, q)
		if d := l.decls[q]; scope != nil && d.Base().Package == scope.Base().Package {
			cands = append(cands, strings.TrimPrefix(q, d.Base().Package+"."))
		}
	}
	best, bestDist := "", 3
	if len(name) <= 4 {
		bestDist = 2
	}
	for _, c := range cands {
		if c == name {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist || d == bestDist && best != "" && c < best {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counting bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
