package aidl

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxEvalDepth bounds the recursion of the evaluator: a long chain like 1 + 1 + … + 1 parses
// without nesting but evaluates as a deep tree.
const maxEvalDepth = 4000

// intType is the type of an integral value during evaluation, as the aidl compiler types it:
// a boolean (0 or 1), an 8-, 32- or 64-bit integer. The order is the order of promotion.
type intType int

const (
	tBool intType = iota
	tInt8
	tInt32
	tInt64
)

// bits is the width arithmetic of the type is done in: operands are promoted to int at least.
func (t intType) bits() int {
	if t == tInt64 {
		return 64
	}
	return 32
}

// promote is the type a binary operation on a and b computes in: the wider of the two, and
// int at least.
func promote(a, b intType) intType { return max(a, b, tInt32) }

// cval is a value during evaluation: a Value and, for an integer or a boolean, its type.
type cval struct {
	Value
	it intType
}

// integral reports whether v takes part in integer arithmetic: an integer, a boolean (0 or 1)
// or a char (a UTF-16 code unit).
func (v *cval) integral() bool {
	return v.Kind == IntValue || v.Kind == BoolValue || v.Kind == CharValue
}

// ival is v as an integer: a boolean is 0 or 1.
func (v *cval) ival() int64 {
	if v.Kind == BoolValue {
		if v.Bool {
			return 1
		}
		return 0
	}
	return v.Int
}

// itype is v's integer type; a char counts as an int.
func (v *cval) itype() intType {
	switch v.Kind {
	case BoolValue:
		return tBool
	case CharValue:
		return tInt32
	}
	return v.it
}

func boolVal(b bool) *cval { return &cval{Value: Value{Kind: BoolValue, Bool: b}} }

func intVal(n int64, t intType) *cval {
	if t == tBool {
		return boolVal(n != 0)
	}
	return &cval{Value: Value{Kind: IntValue, Int: n}, it: t}
}

// intTypeOf is the evaluation type of a declared integral type name.
func intTypeOf(name string) intType {
	switch name {
	case "byte":
		return tInt8
	case "long":
		return tInt64
	case "boolean":
		return tBool
	}
	return tInt32
}

// digits removes the digit separators of a literal's digits: an underscore stands between two
// digits (1_000, 0xffff_ffff), never first or last.
func digits(s string, hex bool) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	isD := isDigit
	if hex {
		isD = isHex
	}
	if s == "" || !isD(s[0]) || !isD(s[len(s)-1]) {
		return "", false
	}
	return strings.ReplaceAll(s, "_", ""), true
}

// validSeparators reports whether every underscore of a floating-point literal stands between
// two digits.
func validSeparators(t string) bool {
	for i := range len(t) {
		if t[i] == '_' && (i == 0 || i == len(t)-1 || !isDigit(t[i-1]) && t[i-1] != '_' || !isDigit(t[i+1]) && t[i+1] != '_') {
			return false
		}
	}
	return !strings.Contains(t, "_.") && !strings.Contains(t, "._")
}

// parseIntLiteral reads an integer literal as the aidl compiler does: digits, decimal or hex
// (0x), with digit separators (_), and a suffix. Without a suffix a decimal literal is a byte,
// an int or a long, the first that holds it, and a hex literal is an int when it fits 32 bits
// (its bits taken as two's complement: 0xffffffff is -1) and a long otherwise. l or L makes a
// long; u8, u32 and u64 give the bits of an unsigned 8-, 32- or 64-bit number, read as the
// signed byte, int or long (0xffu8 is -1).
func parseIntLiteral(text string) (*cval, error) {
	t := strings.ToLower(text)
	suffix := ""
	for _, s := range []string{"u8", "u32", "u64", "l"} {
		if strings.HasSuffix(t, s) && len(t) > len(s) {
			suffix, t = s, strings.TrimSuffix(t, s)
			break
		}
	}
	hex := strings.HasPrefix(t, "0x")
	base := 10
	if hex {
		t, base = t[2:], 16
	}
	t, ok := digits(t, hex)
	if !ok || t == "" || strings.HasSuffix(t, "l") || strings.Contains(t, "u") {
		return nil, fmt.Errorf("bad integer literal %s: give digits, an underscore only between two of them, and one suffix (L, u8, u32 or u64)", text)
	}
	u, err := strconv.ParseUint(t, base, 64)
	if errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("integer literal %s does not fit 64 bits", text)
	}
	if err != nil {
		return nil, fmt.Errorf("bad integer literal %s", text)
	}
	switch suffix {
	case "u8":
		if u > math.MaxUint8 {
			return nil, fmt.Errorf("byte literal %s is out of range 0..255", text)
		}
		return intVal(int64(int8(uint8(u))), tInt8), nil
	case "u32":
		if u > math.MaxUint32 {
			return nil, fmt.Errorf("u32 literal %s is out of range 0..4294967295", text)
		}
		return intVal(int64(int32(uint32(u))), tInt32), nil
	case "u64":
		return intVal(int64(u), tInt64), nil
	case "l":
		if !hex && u > math.MaxInt64 {
			return nil, fmt.Errorf("long literal %s does not fit 64 bits", text)
		}
		return intVal(int64(u), tInt64), nil
	}
	switch {
	case hex && u <= math.MaxUint32:
		return intVal(int64(int32(uint32(u))), tInt32), nil
	case hex:
		return intVal(int64(u), tInt64), nil
	case u <= math.MaxInt8:
		return intVal(int64(u), tInt8), nil
	case u <= math.MaxInt32:
		return intVal(int64(u), tInt32), nil
	case u <= math.MaxInt64:
		return intVal(int64(u), tInt64), nil
	}
	return nil, fmt.Errorf("integer literal %s does not fit 64 bits", text)
}

// unquote reads a string or char literal with Java escapes.
func unquote(text string) (string, error) {
	if len(text) < 2 {
		return "", fmt.Errorf("bad literal %s", text)
	}
	body := text[1 : len(text)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", fmt.Errorf("literal %s ends in a backslash", text)
		}
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '0':
			b.WriteByte(0)
		case '\\', '\'', '"':
			b.WriteByte(body[i])
		case 'u':
			if i+5 > len(body) {
				return "", fmt.Errorf("literal %s has a short \\u escape", text)
			}
			r, err := strconv.ParseUint(body[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("literal %s has a bad \\u escape", text)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			return "", fmt.Errorf("literal %s has an unknown escape \\%c", text, body[i])
		}
	}
	return b.String(), nil
}

// evaluator computes constant expressions in the scope of a declaration.
type evaluator struct {
	l        *Loader
	visiting map[any]bool
	done     map[*Enum]bool
	known    map[*Enumerator]bool // enumerators whose value is computed
	// chain counts the constants and enums being evaluated, one inside another's reference.
	chain int
}

// maxChain bounds a chain of constants that each refer to the next.
const maxChain = 1000

// push enters the evaluation of a referenced constant or enum at p.
func (ev *evaluator) push(p Pos) {
	if ev.chain++; ev.chain > maxChain {
		ev.fail(p, "more than %d constants refer one to the next", maxChain)
	}
}

func (ev *evaluator) fail(p Pos, format string, args ...any) {
	panic(&Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// eval computes x in the scope of decl (consts of decl and its parents; the enum's own
// enumerators when decl is an enum).
func (ev *evaluator) eval(x Expr, decl Decl, depth int) *cval {
	if depth > maxEvalDepth {
		ev.fail(x.Position(), "expression nested deeper than %d levels", maxEvalDepth)
	}
	switch x := x.(type) {
	case *Literal:
		switch x.Kind {
		case IntLit:
			v, err := parseIntLiteral(x.Text)
			if err != nil {
				ev.fail(x.Pos, "%v", err)
			}
			return v
		case FloatLit:
			t := strings.TrimRight(strings.ToLower(x.Text), "fd")
			f, err := strconv.ParseFloat(strings.ReplaceAll(t, "_", ""), 64)
			if err != nil || !validSeparators(t) {
				ev.fail(x.Pos, "bad floating-point literal %s", x.Text)
			}
			return &cval{Value: Value{Kind: FloatValue, Float: f}}
		case StringLit:
			s, err := unquote(x.Text)
			if err != nil {
				ev.fail(x.Pos, "%v", err)
			}
			return &cval{Value: Value{Kind: StringValue, Str: s}}
		case CharLit:
			s, err := unquote(x.Text)
			r := []rune(s)
			if err != nil || len(r) != 1 || r[0] > 0xffff {
				ev.fail(x.Pos, "bad char literal %s: give one UTF-16 code unit", x.Text)
			}
			return &cval{Value: Value{Kind: CharValue, Int: int64(r[0])}}
		case BoolLit:
			return &cval{Value: Value{Kind: BoolValue, Bool: x.Text == "true"}}
		case NullLit:
			return &cval{Value: Value{Kind: NullValue}}
		}
	case *Ref:
		return ev.ref(x, decl)
	case *Unary:
		return ev.unary(x, ev.eval(x.X, decl, depth+1))
	case *Binary:
		return ev.binary(x, ev.eval(x.X, decl, depth+1), ev.eval(x.Y, decl, depth+1))
	case *Ternary:
		c := ev.eval(x.Cond, decl, depth+1)
		if !c.integral() {
			ev.fail(x.Cond.Position(), "the condition of ?: must be a boolean, found %s", kindName(c))
		}
		if c.ival() != 0 {
			return ev.eval(x.Then, decl, depth+1)
		}
		return ev.eval(x.Else, decl, depth+1)
	case *ArrayLit:
		v := &cval{Value: Value{Kind: ArrayValue}}
		for _, e := range x.Elems {
			ev := ev.eval(e, decl, depth+1)
			v.Elems = append(v.Elems, &ev.Value)
		}
		return v
	}
	ev.fail(x.Position(), "cannot evaluate this expression")
	return nil
}

// unary computes +v, -v, ~v or !v. As in the aidl compiler, an integer keeps its type (a byte
// stays a byte: -(-128) overflows it), ! of an integer is 0 or 1 of its type, and a boolean
// takes + - and ! but not ~.
func (ev *evaluator) unary(x *Unary, v *cval) *cval {
	switch {
	case v.Kind == FloatValue && (x.Op == "+" || x.Op == "-"):
		if x.Op == "-" {
			return &cval{Value: Value{Kind: FloatValue, Float: -v.Float}}
		}
		return v
	case v.Kind == BoolValue && x.Op != "~":
		if x.Op == "!" {
			return boolVal(!v.Bool)
		}
		return v // -true and +true are true, as C++ converts them back to bool
	case v.Kind == IntValue || v.Kind == CharValue:
		t, n := v.itype(), v.ival()
		switch x.Op {
		case "+":
			return intVal(n, t)
		case "!":
			return intVal(b2i(n == 0), t)
		case "~":
			return intVal(^n, t)
		case "-":
			if !fitsType(-n, t) || n == math.MinInt64 {
				ev.fail(x.Pos, "constant expression overflows %s: -(%d)", typeName(t), n)
			}
			return intVal(-n, t)
		}
	}
	ev.fail(x.Pos, "operator %s does not apply to %s", x.Op, kindName(v))
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// fitsType reports whether n is in the range of t.
func fitsType(n int64, t intType) bool {
	switch t {
	case tBool:
		return n == 0 || n == 1
	case tInt8:
		return n >= math.MinInt8 && n <= math.MaxInt8
	case tInt32:
		return n >= math.MinInt32 && n <= math.MaxInt32
	}
	return true
}

func typeName(t intType) string {
	return [...]string{"boolean", "byte", "int", "long"}[t]
}

func kindName(v *cval) string {
	switch v.Kind {
	case IntValue:
		if v.it == tInt64 {
			return "a long"
		}
		return "an int"
	case FloatValue:
		return "a floating-point number"
	case StringValue:
		return "a string"
	case BoolValue:
		return "a boolean"
	case CharValue:
		return "a char"
	case ArrayValue:
		return "an array"
	}
	return "null"
}

// binary computes a op b. Integers, booleans and chars compute as the aidl compiler does: in
// the wider operand's type and in int at least, an overflow being an error, comparisons and
// && || giving a boolean, which counts as 0 or 1 where a number is needed. Strings and
// floating-point numbers go further than the aidl compiler: + joins a string with any value,
// and floating-point numbers take arithmetic and comparisons.
func (ev *evaluator) binary(x *Binary, a, b *cval) *cval {
	isNum := func(v *cval) bool { return v.integral() || v.Kind == FloatValue }
	switch {
	case x.Op == "+" && (a.Kind == StringValue || b.Kind == StringValue):
		return &cval{Value: Value{Kind: StringValue, Str: text(a) + text(b)}}
	case x.Op == "&&" || x.Op == "||":
		if !a.integral() || !b.integral() {
			ev.fail(x.Pos, "operator %s needs booleans, found %s and %s", x.Op, kindName(a), kindName(b))
		}
		if x.Op == "&&" {
			return boolVal(a.ival() != 0 && b.ival() != 0)
		}
		return boolVal(a.ival() != 0 || b.ival() != 0)
	case (x.Op == "==" || x.Op == "!=") && a.Kind == StringValue && b.Kind == StringValue:
		return boolVal((a.Str == b.Str) == (x.Op == "=="))
	case !isNum(a) || !isNum(b):
		ev.fail(x.Pos, "operator %s does not apply to %s and %s", x.Op, kindName(a), kindName(b))
	case a.Kind == FloatValue || b.Kind == FloatValue:
		fa, fb := num(a), num(b)
		var r float64
		switch x.Op {
		case "+":
			r = fa + fb
		case "-":
			r = fa - fb
		case "*":
			r = fa * fb
		case "/":
			r = fa / fb
		case "<", ">", "<=", ">=", "==", "!=":
			return boolVal(compare(x.Op, fa, fb))
		default:
			ev.fail(x.Pos, "operator %s does not apply to floating-point numbers", x.Op)
		}
		return &cval{Value: Value{Kind: FloatValue, Float: r}}
	}
	ia, ib := a.ival(), b.ival()
	t := promote(a.itype(), b.itype())
	long := t == tInt64
	var r int64
	ok := true
	switch x.Op {
	case "+":
		r = ia + ib
		ok = (r > ia) == (ib > 0) || ib == 0
	case "-":
		r = ia - ib
		ok = (r < ia) == (ib > 0) || ib == 0
	case "*":
		r = ia * ib
		ok = ia == 0 || (r/ia == ib && !(ia == -1 && ib == math.MinInt64) && !(ib == -1 && ia == math.MinInt64))
	case "/", "%":
		if ib == 0 {
			ev.fail(x.Pos, "division by zero")
		}
		if ib == -1 && ia == math.MinInt64 {
			ok = false
			break
		}
		if x.Op == "/" {
			r = ia / ib
		} else {
			r = ia % ib
		}
	case "<<", ">>":
		r, ok = ev.shift(x, ia, ib, long)
	case "&":
		r = ia & ib
	case "|":
		r = ia | ib
	case "^":
		r = ia ^ ib
	case "<", ">", "<=", ">=", "==", "!=":
		return boolVal(compare(x.Op, ia, ib))
	default:
		ev.fail(x.Pos, "unknown operator %s", x.Op)
	}
	if !ok || !fitsType(r, t) {
		hint := ""
		if !long {
			hint = " (an L suffix on an operand computes in 64 bits)"
		}
		ev.fail(x.Pos, "constant expression overflows %s: %d %s %d%s", typeName(t), ia, x.Op, ib, hint)
	}
	return intVal(r, t)
}

// shift computes a << n or a >> n in 32 or 64 bits. As in AIDL, a negative count shifts the
// other way, a count of the width or more is an error, and bits shifted out of a non-negative
// value (past the sign bit, as unsigned) overflow; a negative value shifts as in Java.
func (ev *evaluator) shift(x *Binary, a, n int64, long bool) (int64, bool) {
	op := x.Op
	if n < 0 && n != math.MinInt64 {
		n = -n
		op = map[string]string{"<<": ">>", ">>": "<<"}[op]
	}
	width := int64(32)
	if long {
		width = 64
	}
	if n < 0 || n >= width {
		ev.fail(x.Pos, "shift count %d is out of range for %s: give 0 to %d", n, typeName(map[bool]intType{true: tInt64, false: tInt32}[long]), width-1)
	}
	if op == ">>" {
		return a >> n, true
	}
	if a >= 0 {
		if uint64(a)>>(uint64(width)-uint64(n)) != 0 && n > 0 {
			return 0, false
		}
		if long {
			return int64(uint64(a) << n), true
		}
		return int64(int32(uint32(a) << n)), true
	}
	r := a << n
	if r>>n != a || !long && r < math.MinInt32 {
		return 0, false
	}
	return r, true
}

func num(v *cval) float64 {
	if v.Kind == FloatValue {
		return v.Float
	}
	return float64(v.Int)
}

func compare[T int64 | float64](op string, a, b T) bool {
	switch op {
	case "<":
		return a < b
	case ">":
		return a > b
	case "<=":
		return a <= b
	case ">=":
		return a >= b
	case "==":
		return a == b
	}
	return a != b
}

// text is a value as string concatenation shows it.
func text(v *cval) string {
	switch v.Kind {
	case StringValue:
		return v.Str
	case IntValue:
		return strconv.FormatInt(v.Int, 10)
	case FloatValue:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case BoolValue:
		return strconv.FormatBool(v.Bool)
	case CharValue:
		return string(rune(v.Int))
	}
	return "null"
}

// ref evaluates a reference to a constant or enumerator.
func (ev *evaluator) ref(r *Ref, scope Decl) *cval {
	parts := strings.Split(r.Name, ".")
	if len(parts) == 1 {
		for d := scope; d != nil; d = d.Base().Parent {
			if v := ev.member(d, parts[0], r.Pos); v != nil {
				return v
			}
		}
		ev.fail(r.Pos, "unknown constant %s", r.Name)
	}
	owner := strings.Join(parts[:len(parts)-1], ".")
	d := ev.l.resolveName(owner, scope)
	if d == nil {
		ev.fail(r.Pos, "unknown constant %s: %s is not a type in scope", r.Name, owner)
	}
	if v := ev.member(d, parts[len(parts)-1], r.Pos); v != nil {
		return v
	}
	ev.fail(r.Pos, "%s has no constant or enumerator %s", owner, parts[len(parts)-1])
	return nil
}

// member evaluates the constant or enumerator name of d, or returns nil.
func (ev *evaluator) member(d Decl, name string, at Pos) *cval {
	if e, ok := d.(*Enum); ok {
		for _, en := range e.Enumerators {
			if en.Name == name {
				if !ev.known[en] {
					if ev.visiting[e] {
						ev.fail(at, "enumerator %s is used before its value is known: refer only to earlier enumerators", name)
					}
					ev.enum(e)
				}
				v := intVal(en.Value, intTypeOf(e.Backing))
				v.Enumerator = en
				return v
			}
		}
	}
	for _, c := range d.Base().Consts {
		if c.Name == name {
			ev.constant(c, d)
			v := &cval{Value: *c.Value}
			if v.Kind == IntValue {
				v.it = intTypeOf(c.Type.Name)
			}
			return v
		}
	}
	return nil
}

// constant evaluates c, declared in d, once.
func (ev *evaluator) constant(c *Const, d Decl) {
	if c.Value != nil {
		return
	}
	if ev.visiting[c] {
		ev.fail(c.Pos, "constant %s refers to itself", c.Name)
	}
	ev.visiting[c] = true
	ev.push(c.Pos)
	defer func() { delete(ev.visiting, c); ev.chain-- }()
	v := ev.eval(c.Expr, d, 0)
	c.Value = ev.convert(v, c.Type, c.Expr.Position())
}

// enum evaluates the enumerators of e once, numbering those without a value from the previous.
func (ev *evaluator) enum(e *Enum) {
	if len(e.Enumerators) == 0 || ev.done[e] {
		return
	}
	if ev.visiting[e] {
		ev.fail(e.Pos, "the values of enum %s refer to themselves", e.Name)
	}
	ev.visiting[e] = true
	ev.push(e.Pos)
	defer func() { delete(ev.visiting, e); ev.chain-- }()
	next := int64(0)
	backing := &Type{Name: e.Backing, Kind: Builtin}
	for _, en := range e.Enumerators {
		if en.Expr != nil {
			v := ev.convert(ev.eval(en.Expr, e, 0), backing, en.Expr.Position())
			next = v.Int
		} else if en != e.Enumerators[0] && !fits(next, e.Backing) {
			ev.fail(en.Pos, "enumerator %s: %d does not fit the backing type %s", en.Name, next, e.Backing)
		}
		en.Value = next
		ev.known[en] = true
		next++
	}
	ev.done[e] = true
}

func fits(v int64, typ string) bool {
	switch typ {
	case "byte":
		return v >= math.MinInt8 && v <= math.MaxInt8
	case "int":
		return v >= math.MinInt32 && v <= math.MaxInt32
	}
	return true
}

// convert checks that v can initialize a value of type t and returns it as that type.
func (ev *evaluator) convert(v *cval, t *Type, at Pos) *Value {
	if v.Kind == NullValue {
		return &v.Value
	}
	if t.IsArray() || (t.Kind == Builtin && t.Name == "List") {
		if v.Kind != ArrayValue {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		if t.IsArray() && t.Dims[0].Size >= 0 && int64(len(v.Elems)) != t.Dims[0].Size {
			ev.fail(at, "expected an array of %d elements, found %d", t.Dims[0].Size, len(v.Elems))
		}
		elem := &Type{Pos: t.Pos, Name: t.Name, Args: t.Args, Kind: t.Kind, Decl: t.Decl}
		if t.IsArray() {
			elem.Dims = t.Dims[1:]
		} else if len(t.Args) == 1 {
			elem = t.Args[0]
		}
		out := &Value{Kind: ArrayValue}
		for _, e := range v.Elems {
			out.Elems = append(out.Elems, ev.convert(&cval{Value: *e}, elem, at))
		}
		return out
	}
	if t.Kind == Declared {
		if e, ok := t.Decl.(*Enum); ok {
			if !hasEnumerator(e, v.Enumerator) {
				ev.fail(at, "%s cannot initialize %s: name one of its enumerators (%s.NAME)", kindName(v), typeDesc(t), e.Name)
			}
			return &v.Value
		}
		ev.fail(at, "%s cannot be a constant or have a default value", typeDesc(t))
	}
	switch t.Name {
	case "byte", "int", "long":
		if !v.integral() {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		n := v.ival() // a boolean initializes a number as 0 or 1, as in the aidl compiler
		switch t.Name {
		case "byte":
			if n < math.MinInt8 || n > math.MaxUint8 {
				ev.fail(at, "%d does not fit a byte (-128..127, or 0..255 written as hex)", n)
			}
			n = int64(int8(uint8(n)))
		case "int":
			if n < math.MinInt32 || n > math.MaxInt32 {
				ev.fail(at, "%d does not fit an int (-2147483648..2147483647)", n)
			}
		}
		return &Value{Kind: IntValue, Int: n, Enumerator: v.Enumerator}
	case "char":
		if v.Kind != CharValue && v.Kind != IntValue || v.Int < 0 || v.Int > 0xffff {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		return &Value{Kind: CharValue, Int: v.Int}
	case "float", "double":
		if v.Kind != FloatValue && v.Kind != IntValue {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		f := num(v)
		if t.Name == "float" {
			f = float64(float32(f))
		}
		return &Value{Kind: FloatValue, Float: f}
	case "boolean":
		if !v.integral() {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		return &Value{Kind: BoolValue, Bool: v.ival() != 0} // a number is true when not 0
	case "String", "CharSequence":
		if v.Kind != StringValue {
			ev.fail(at, "%s cannot initialize %s", kindName(v), typeDesc(t))
		}
		return &v.Value
	}
	ev.fail(at, "%s cannot be a constant or have a default value", typeDesc(t))
	return nil
}

// typeDesc names a type with an article for messages: "an int", "a String", "an int[]",
// "a List<String>".
func typeDesc(t *Type) string {
	n := typeString(t)
	if strings.ContainsRune("aeiouAEIOU", rune(n[0])) {
		return "an " + n
	}
	return "a " + n
}

// typeString spells a type as written, without annotations.
func typeString(t *Type) string {
	n := t.Name
	if n == "" {
		n = "?"
	}
	if len(t.Args) > 0 {
		var as []string
		for _, a := range t.Args {
			as = append(as, typeString(a))
		}
		n += "<" + strings.Join(as, ", ") + ">"
	}
	for _, d := range t.Dims {
		if d.Size >= 0 {
			n += "[" + strconv.FormatInt(d.Size, 10) + "]"
		} else {
			n += "[]"
		}
	}
	return n
}

func hasEnumerator(e *Enum, en *Enumerator) bool {
	for _, x := range e.Enumerators {
		if x == en {
			return true
		}
	}
	return false
}
