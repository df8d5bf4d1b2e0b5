// Package aidl parses the stable Android Interface Definition Language: the interfaces,
// parcelables, enums, unions and constants that binder services are declared in.
//
// Parse reads one file into a *File. A Loader reads files and resolves the types they name
// across include directories, as the aidl compiler's -I flags do, and evaluates every constant
// expression, so that a resolved tree carries each type's declaration and each constant's value.
// Errors carry the file, line and column and say what was expected.
package aidl

import "fmt"

// Pos is a position in a source file. Line and Col count from 1; Col counts bytes.
type Pos struct {
	File      string
	Line, Col int
}

// String formats p as file:line:col, the form editors jump to.
func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// File is one parsed .aidl file.
type File struct {
	Path    string // as given to Parse or found by the Loader
	Package string // "" when the file declares none
	Imports []*Import
	// Decls are the top-level declarations; stable AIDL files hold one.
	Decls []Decl
}

// Import is one import statement.
type Import struct {
	Pos  Pos
	Name string // fully qualified: "android.hardware.vibrator.Effect"
	// Decl is the imported declaration, set by the Loader.
	Decl Decl
}

// Doc is a declaration's documentation comment (/** … */ or /* … */ directly before it),
// with the comment markers and leading asterisks removed.
type Doc struct {
	Text string
	// Hide is set when the comment carries @hide.
	Hide bool
	// Deprecated is set when the comment carries @deprecated; DeprecatedNote is the text after
	// the tag, if any.
	Deprecated     bool
	DeprecatedNote string
}

// Annotation is an annotation such as @nullable, @Backing(type="long") or
// @Descriptor(value="android.os.IFoo").
type Annotation struct {
	Pos    Pos
	Name   string // without the @
	Params []*AnnotationParam
}

// AnnotationParam is one name=value parameter of an annotation. A single unnamed value, as in
// @JavaPassthrough("…"), is stored with the name "value".
type AnnotationParam struct {
	Name  string
	Value Expr
}

// Param returns the parameter named name, or nil.
func (a *Annotation) Param(name string) *AnnotationParam {
	for _, p := range a.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// FindAnnotation returns the annotation named name in as, or nil.
func FindAnnotation(as []*Annotation, name string) *Annotation {
	for _, a := range as {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Decl is a type declaration: *Interface, *Parcelable, *Enum or *Union.
type Decl interface {
	// Base returns the parts every declaration has.
	Base() *DeclBase
}

// DeclBase holds what every declaration has.
type DeclBase struct {
	Pos         Pos
	Name        string // the simple name: "IVibrator"
	Doc         *Doc   // nil when there is no comment
	Annotations []*Annotation
	// Package is the declaring file's package; Parent is the enclosing declaration of a nested
	// type, nil at top level; File is the declaring file.
	Package string
	Parent  Decl
	File    *File
	// Consts are the constants declared inside (interfaces and parcelables, unions).
	Consts []*Const
	// Nested are the types declared inside.
	Nested []Decl
}

// Base returns d itself.
func (d *DeclBase) Base() *DeclBase { return d }

// QualifiedName returns the name as other files import it: the package, the enclosing
// declarations and the name, joined by dots ("android.hardware.Foo.Inner").
func (d *DeclBase) QualifiedName() string {
	n := d.Name
	for p := d.Parent; p != nil; p = p.Base().Parent {
		n = p.Base().Name + "." + n
	}
	if d.Package != "" {
		n = d.Package + "." + n
	}
	return n
}

// Interface is an interface declaration.
type Interface struct {
	DeclBase
	// Oneway is set for a oneway interface: every method is oneway.
	Oneway  bool
	Methods []*Method
}

// Method is a method of an interface.
type Method struct {
	Pos         Pos
	Name        string
	Doc         *Doc
	Annotations []*Annotation
	// Oneway is set when the method or its interface is oneway.
	Oneway bool
	Return *Type // "void" for none
	Args   []*Arg
	// ID is the explicit transaction id (method() = 3), or -1 when none is given.
	ID int64
	// Trailing is the comment at the end of the method's line (// …), markers removed.
	Trailing string
}

// Direction is the direction of a method argument.
type Direction int

// Directions. An argument written without one is In.
const (
	In Direction = iota
	Out
	InOut
)

// String returns the keyword: "in", "out" or "inout".
func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case InOut:
		return "inout"
	}
	return "in"
}

// Arg is a method argument.
type Arg struct {
	Pos         Pos
	Name        string
	Annotations []*Annotation
	Direction   Direction
	// ExplicitDirection is set when the direction was written.
	ExplicitDirection bool
	Type              *Type
}

// Parcelable is a structured parcelable (Fields set) or a forward declaration of one defined
// in another language (Forward set, no fields).
type Parcelable struct {
	DeclBase
	// TypeParams are the names of a generic parcelable's parameters: Foo<T, U>.
	TypeParams []string
	Fields     []*Field
	// Forward is set for "parcelable Foo;" and for declarations with cpp_header, ndk_header
	// or rust_type; the headers are kept as written.
	Forward                        bool
	CppHeader, NdkHeader, RustType string
}

// Union is a union declaration: exactly one of its fields holds a value.
type Union struct {
	DeclBase
	TypeParams []string
	Fields     []*Field
	// Tag is the enum every union implicitly declares, named Tag, with one enumerator per
	// field, in order, numbered from 0 and backed by int (Foo.Tag.bar). The Loader sets it; it
	// is not in Nested.
	Tag *Enum
}

// Field is a field of a parcelable or a member of a union.
type Field struct {
	Pos         Pos
	Name        string
	Doc         *Doc
	Annotations []*Annotation
	Type        *Type
	// Default is the initializer (int x = 3;), nil when there is none. DefaultValue is its
	// value, set by the Loader.
	Default      Expr
	DefaultValue *Value
	// Trailing is the comment at the end of the field's line (// …), markers removed.
	Trailing string
}

// Enum is an enum declaration.
type Enum struct {
	DeclBase
	// Backing is the backing type: "byte" (the default), "int" or "long".
	Backing     string
	Enumerators []*Enumerator
}

// Enumerator is one value of an enum.
type Enumerator struct {
	Pos  Pos
	Name string
	Doc  *Doc
	// Annotations are those written before the name (rare: @SuppressWarnings and the like).
	Annotations []*Annotation
	// Expr is the written value, nil when the value follows the previous one (auto-increment:
	// the first is 0). Value is the value, set by the Loader.
	Expr  Expr
	Value int64
	// Trailing is the comment at the end of the enumerator's line (// …), markers removed.
	Trailing string
}

// Const is a constant declared in an interface, parcelable or union.
type Const struct {
	Pos         Pos
	Name        string
	Doc         *Doc
	Annotations []*Annotation
	Type        *Type
	Expr        Expr
	// Value is the constant's value, converted to Type, set by the Loader.
	Value *Value
}

// Type is a type as written, resolved by the Loader.
type Type struct {
	Pos Pos
	// Name is the name as written: a built-in ("int", "String", "List", "IBinder", …), a
	// type parameter of the enclosing generic parcelable ("T"), or a declared type, simple or
	// qualified ("Effect", "android.hardware.vibrator.Effect", "IFoo.Inner").
	Name string
	// Args are the generic arguments: List<T>, Map<K, V>, Foo<T>.
	Args        []*Type
	Annotations []*Annotation
	// Dims are the array dimensions, outermost first: T[] is one dimension of size -1, T[2][3]
	// two fixed dimensions.
	Dims []*Dim

	// Kind, and Decl for a declared type, are set by the Loader.
	Kind TypeKind
	Decl Decl
}

// Dim is one array dimension.
type Dim struct {
	// Size is the fixed size, or -1 for a dynamic array. SizeExpr is the written size
	// expression, nil for a dynamic array.
	Size     int64
	SizeExpr Expr
}

// TypeKind says what a type name refers to.
type TypeKind int

// Type kinds.
const (
	Unresolved TypeKind = iota
	Builtin             // void boolean byte char int long float double String CharSequence List Map IBinder FileDescriptor ParcelFileDescriptor ParcelableHolder
	Declared            // Decl holds the declaration
	TypeParam           // a parameter of the enclosing generic parcelable or union
)

// IsArray reports whether t is an array.
func (t *Type) IsArray() bool { return len(t.Dims) > 0 }

// Nullable reports whether t carries @nullable.
func (t *Type) Nullable() bool { return FindAnnotation(t.Annotations, "nullable") != nil }

// Expr is a constant expression. Its concrete types are *Literal, *Ref, *Unary, *Binary,
// *Ternary and *ArrayLit.
type Expr interface {
	// Position returns where the expression starts.
	Position() Pos
}

// LiteralKind is the kind of a literal.
type LiteralKind int

// Literal kinds.
const (
	IntLit LiteralKind = iota
	FloatLit
	StringLit
	CharLit
	BoolLit
	NullLit
)

// Literal is a literal as written; Text keeps its spelling (with quotes, suffixes and escapes).
type Literal struct {
	Pos  Pos
	Kind LiteralKind
	Text string
}

// Ref names a constant or an enumerator: "MAX", "IFoo.MAX", "Effect.CLICK",
// "android.hardware.Foo.MAX".
type Ref struct {
	Pos  Pos
	Name string
}

// Unary is a unary operation: + - ~ !.
type Unary struct {
	Pos Pos
	Op  string
	X   Expr
}

// Binary is a binary operation: * / % + - << >> < > <= >= == != & ^ | && ||.
type Binary struct {
	Pos  Pos
	Op   string
	X, Y Expr
}

// Ternary is cond ? then : else.
type Ternary struct {
	Pos              Pos
	Cond, Then, Else Expr
}

// ArrayLit is a braced array initializer: {1, 2, 3}.
type ArrayLit struct {
	Pos   Pos
	Elems []Expr
}

// Position returns where the literal starts.
func (e *Literal) Position() Pos { return e.Pos }

// Position returns where the reference starts.
func (e *Ref) Position() Pos { return e.Pos }

// Position returns where the operator starts.
func (e *Unary) Position() Pos { return e.Pos }

// Position returns where the left operand starts.
func (e *Binary) Position() Pos { return e.Pos }

// Position returns where the condition starts.
func (e *Ternary) Position() Pos { return e.Pos }

// Position returns where the opening brace is.
func (e *ArrayLit) Position() Pos { return e.Pos }

// ValueKind is the kind of an evaluated constant.
type ValueKind int

// Value kinds.
const (
	IntValue ValueKind = iota
	FloatValue
	StringValue
	BoolValue
	CharValue
	ArrayValue
	NullValue
)

// Value is an evaluated constant expression, converted to the type it initializes.
type Value struct {
	Kind ValueKind
	// Int holds integers (byte, int, long, enum values) and, for CharValue, the UTF-16 code
	// unit.
	Int   int64
	Float float64
	Str   string
	Bool  bool
	Elems []*Value
	// Enumerator is the enumerator an enum-typed value names, when it came from one.
	Enumerator *Enumerator
}
