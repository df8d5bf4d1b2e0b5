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
	}
	var out []*File
	for _, p := range paths {
		f, err := l.parse(p)
		if err != nil {
			return nil, err
		}
		if f == nil {
			return nil, fmt.Errorf("reading %s: no such file", p)
		}
		out = append(out, f)
		if f.Package != "" && len(f.Decls) > 0 {
			suffix := filepath.Join(strings.Split(f.Package, ".")...)
			dir := filepath.Dir(filepath.Clean(p))
			if root := filepath.Clean(strings.TrimSuffix(dir, suffix)); strings.HasSuffix(dir, suffix) && !contains(l.roots, root) && !contains(l.IncludeDirs, root) {
				l.roots = append(l.roots, root)
			}
		}
	}
	// Imports, transitively.
	for i := 0; i < len(l.files); i++ {
		f := l.files[i]
		for _, im := range f.Imports {
			if frameworkBuiltin(im.Name) {
				continue // android.os.ParcelFileDescriptor and the like: built into the language
			}
			if im.Decl = l.find(im.Name); im.Decl == nil {
				l.errs.add(im.Pos, fmt.Sprintf("cannot find import %s: looked for %s in the include directories %v", im.Name, l.candidates(im.Name), l.dirs()))
			}
		}
	}
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	// Types, then values, of every file (files loaded while resolving are resolved too).
	for i := 0; i < len(l.files); i++ {
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

// candidates lists the files an import of name may be in, relative to an include directory.
func (l *Loader) candidates(name string) []string {
	parts := strings.Split(name, ".")
	var out []string
	for k := len(parts); k >= 1; k-- {
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
		for _, n := range s.Base().Nested {
			if n.Base().Name == first {
				d = n
				break
			}
		}
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
			var next Decl
			for _, n := range d.Base().Nested {
				if n.Base().Name == p {
					next = n
				}
			}
			if next == nil {
				d = nil
				break
			}
			d = next
		}
		if d != nil {
			return d
		}
	}
	if len(parts) > 1 {
		return l.find(name)
	}
	return nil
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
		l.errs.add(t.Pos, fmt.Sprintf("unknown type %s: import it, or check its spelling", t.Name))
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
	case *Enum:
		if a := FindAnnotation(d.Annotations, "Backing"); a != nil {
			if p := a.Param("type"); p != nil {
				if lit, ok := p.Value.(*Literal); ok && lit.Kind == StringLit {
					d.Backing, _ = unquote(lit.Text)
				}
			}
			if d.Backing != "byte" && d.Backing != "int" && d.Backing != "long" {
				l.errs.add(a.Pos, fmt.Sprintf("@Backing type %q is not byte, int or long", d.Backing))
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
				if a.Direction != In && !canBeOut(a.Type) {
					l.errs.add(a.Pos, fmt.Sprintf("argument %s is %s, but a %s can only be in: use an array, List, Map or parcelable", a.Name, a.Direction, a.Type.Name))
				}
				if a.Type.IsArray() || a.Type.Name == "List" || a.Type.Name == "Map" || a.Type.Kind == Declared && isParcel(a.Type.Decl) {
					if !a.ExplicitDirection {
						l.errs.add(a.Pos, fmt.Sprintf("argument %s needs a direction (in, out or inout)", a.Name))
					}
				}
			}
		}
		if withID > 0 && withID < len(d.Methods) {
			l.errs.add(d.Pos, fmt.Sprintf("interface %s gives transaction ids to %d of its %d methods: give all or none", d.Name, withID, len(d.Methods)))
		}
	case *Parcelable:
		for _, f := range d.Fields {
			name(f.Name, f.Pos)
		}
	case *Union:
		for _, f := range d.Fields {
			name(f.Name, f.Pos)
		}
		if len(d.Fields) == 0 {
			l.errs.add(d.Pos, fmt.Sprintf("union %s has no members", d.Name))
		}
	case *Enum:
		for _, e := range d.Enumerators {
			name(e.Name, e.Pos)
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
