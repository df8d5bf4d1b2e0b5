package wire_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/kdbus-go/kdbus/wire"
)

// propertyCases is how many values each direction of the godbus comparison checks on every
// run, -short or not.
const propertyCases = 10000

// maxFDs bounds the generated h values; messages that carry h declare this many descriptors.
const maxFDs = 16

// basicCodes are the type codes that can be dict keys.
const basicCodes = "ybnqiuxtdsogh"

// testSeed returns the seed for random tests: WIRE_SEED if set, else the clock. It logs the
// seed so that a failure can be reproduced.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WIRE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WIRE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with WIRE_SEED=%d)", seed, seed)
	return seed
}

// gen generates random valid signatures and values for them in the representation that
// Unmarshal produces. It counts the type codes and dict key types it generates, so tests can
// check that the cases they ran covered the whole type system.
type gen struct {
	r     *rand.Rand
	codes map[string]int // type codes, "a{K" for dicts keyed by K
}

// newGen returns a generator seeded with seed.
func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), codes: map[string]int{}}
}

// count records that the generator produced code, unless it is generating a signature value
// (codes is nil then).
func (g *gen) count(code string) {
	if g.codes != nil {
		g.codes[code]++
	}
}

// typeSig returns one random complete type. Containers nest at most budget deep; with a
// negative budget only basic types are chosen, with zero basic types and variants.
func (g *gen) typeSig(budget int) string {
	n := len(basicCodes)
	switch {
	case budget == 0:
		n++
	case budget > 0:
		n += 4
	}
	k := g.r.IntN(n)
	switch {
	case k < len(basicCodes):
		c := basicCodes[k : k+1]
		g.count(c)
		return c
	case k == len(basicCodes):
		g.count("v")
		return "v"
	case k == len(basicCodes)+1:
		g.count("a")
		return "a" + g.typeSig(budget-1)
	case k == len(basicCodes)+2:
		g.count("(")
		var b strings.Builder
		b.WriteByte('(')
		for range 1 + g.r.IntN(3) {
			b.WriteString(g.typeSig(budget - 1))
		}
		b.WriteByte(')')
		return b.String()
	default:
		key := basicCodes[g.r.IntN(len(basicCodes))]
		g.count("a{" + string(key))
		return "a{" + string(key) + g.typeSig(budget-1) + "}"
	}
}

// signature returns a random valid signature of 1 to 4 complete types.
func (g *gen) signature() string {
	for {
		var b strings.Builder
		for range 1 + g.r.IntN(4) {
			b.WriteString(g.typeSig(3))
		}
		if b.Len() <= wire.MaxSignatureLength {
			return b.String()
		}
	}
}

// values returns random values for the complete types of sig.
func (g *gen) values(sig string) []any {
	types, err := wire.ParseSignature(sig)
	if err != nil {
		panic(err)
	}
	out := make([]any, len(types))
	for i, t := range types {
		out[i] = g.value(t, 3)
	}
	return out
}

// value returns a random value of type t. budget bounds the containers that variants
// inside it may add.
func (g *gen) value(t *wire.Type, budget int) any {
	switch t.Code {
	case wire.TypeVariant:
		sig := g.typeSig(budget - 1)
		return wire.Variant{Sig: wire.Signature(sig), Value: g.value(wire.MustParseType(sig), budget-1)}
	case wire.TypeStruct:
		s := make(wire.Struct, len(t.Fields))
		for i, f := range t.Fields {
			s[i] = g.value(f, budget-1)
		}
		return s
	case wire.TypeArray:
		n := g.arrayLen()
		switch {
		case t.Elem.Code == wire.TypeByte:
			b := make([]byte, g.r.IntN(4)*g.r.IntN(6))
			for i := range b {
				b[i] = byte(g.r.Uint32())
			}
			return b
		case t.IsDict():
			entries := []wire.DictEntry{}
			seen := map[any]bool{}
			for range n {
				k := g.value(t.Elem.Fields[0], budget-1)
				if seen[k] { // unique keys; note -0 and +0 are the same key
					continue
				}
				seen[k] = true
				entries = append(entries, wire.DictEntry{Key: k, Value: g.value(t.Elem.Fields[1], budget-1)})
			}
			return entries
		}
		elems := []any{}
		for range n {
			elems = append(elems, g.value(t.Elem, budget-1))
		}
		return elems
	}
	return g.basic(t.Code)
}

// arrayLen returns a random array length, often zero so that empty arrays (and their
// padding) are well covered.
func (g *gen) arrayLen() int {
	if g.r.IntN(4) == 0 {
		return 0
	}
	return 1 + g.r.IntN(3)
}

// integer returns a random integer in [lo, hi], often one of the extremes, 0, 1 or -1.
func (g *gen) integer(lo int64, hi uint64) uint64 {
	switch g.r.IntN(8) {
	case 0:
		return uint64(lo)
	case 1:
		return hi
	case 2:
		return 0
	case 3:
		if lo < 0 {
			return math.MaxUint64 // -1 once truncated
		}
		return 1
	}
	return g.r.Uint64()
}

// stringRunes are the characters random strings are made of: ASCII and one to four byte
// UTF-8 sequences at their boundaries.
var stringRunes = []rune("aZ09 _/.\t\n\u007f\u0080é\u00ff\u07ff\u0800€漢\ufffd\uffff\U00010000😀\U0010ffff")

// string returns a random valid D-Bus string, usually short.
func (g *gen) string() string {
	var b strings.Builder
	n := g.r.IntN(12)
	if g.r.IntN(16) == 0 {
		n = 40 + g.r.IntN(40)
	}
	for range n {
		b.WriteRune(stringRunes[g.r.IntN(len(stringRunes))])
	}
	return b.String()
}

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"

// element returns a random name element of [A-Za-z0-9_], not starting with a digit.
func (g *gen) element() string {
	b := []byte{nameChars[g.r.IntN(len(nameChars)-10)]}
	for range g.r.IntN(7) {
		b = append(b, nameChars[g.r.IntN(len(nameChars))])
	}
	return string(b)
}

// objectPath returns a random valid object path.
func (g *gen) objectPath() string {
	if g.r.IntN(6) == 0 {
		return "/"
	}
	var b strings.Builder
	for range 1 + g.r.IntN(4) {
		b.WriteByte('/')
		b.WriteString(g.element())
	}
	return b.String()
}

// dotted returns a random interface-style name of two to four elements.
func (g *gen) dotted() string {
	els := make([]string, 2+g.r.IntN(3))
	for i := range els {
		els[i] = g.element()
	}
	return strings.Join(els, ".")
}

// busName returns a random unique or well-known bus name.
func (g *gen) busName() string {
	if g.r.IntN(2) == 0 {
		return fmt.Sprintf(":%d.%d", g.r.IntN(10), g.r.IntN(1000))
	}
	return strings.ReplaceAll(g.dotted(), "_", "-")
}

// specialDoubles are doubles at the edges of the format, chosen half of the time.
var specialDoubles = []float64{
	0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
	math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, math.Pi,
}

// double returns a random double other than NaN.
func (g *gen) double() float64 {
	if g.r.IntN(2) == 0 {
		return specialDoubles[g.r.IntN(len(specialDoubles))]
	}
	for {
		if f := math.Float64frombits(g.r.Uint64()); !math.IsNaN(f) {
			return f
		}
	}
}

// basic returns a random value of a basic type.
func (g *gen) basic(code byte) any {
	switch code {
	case wire.TypeByte:
		return byte(g.integer(0, math.MaxUint8))
	case wire.TypeBoolean:
		return g.r.IntN(2) == 1
	case wire.TypeInt16:
		return int16(g.integer(math.MinInt16, math.MaxInt16))
	case wire.TypeUint16:
		return uint16(g.integer(0, math.MaxUint16))
	case wire.TypeInt32:
		return int32(g.integer(math.MinInt32, math.MaxInt32))
	case wire.TypeUint32:
		return uint32(g.integer(0, math.MaxUint32))
	case wire.TypeInt64:
		return int64(g.integer(math.MinInt64, math.MaxInt64))
	case wire.TypeUint64:
		return g.integer(0, math.MaxUint64)
	case wire.TypeDouble:
		return g.double()
	case wire.TypeString:
		return g.string()
	case wire.TypeObjectPath:
		return wire.ObjectPath(g.objectPath())
	case wire.TypeSignature:
		codes := g.codes
		g.codes = nil
		defer func() { g.codes = codes }()
		var b strings.Builder
		for range g.r.IntN(4) {
			b.WriteString(g.typeSig(1))
		}
		return wire.Signature(b.String())
	case wire.TypeUnixFD:
		return wire.UnixFD(g.r.IntN(maxFDs))
	}
	panic(fmt.Sprintf("no basic type %q", code))
}

// header returns a random valid message header for a body of signature sig.
func (g *gen) header(sig string) *wire.Message {
	m := &wire.Message{
		Order:     wire.LittleEndian,
		Type:      wire.MessageType(1 + g.r.IntN(4)),
		Flags:     wire.Flags(g.r.IntN(8)),
		Serial:    1 + g.r.Uint32N(math.MaxUint32),
		Signature: wire.Signature(sig),
	}
	if g.r.IntN(2) == 0 {
		m.Order = wire.BigEndian
	}
	switch m.Type {
	case wire.MethodCall, wire.Signal:
		m.Path = wire.ObjectPath(g.objectPath())
		m.Member = g.element()
		if m.Type == wire.Signal || g.r.IntN(2) == 0 {
			m.Interface = g.dotted()
		}
	case wire.Error:
		m.ErrorName = g.dotted()
		fallthrough
	case wire.MethodReturn:
		m.ReplySerial = 1 + g.r.Uint32N(math.MaxUint32)
	}
	if g.r.IntN(2) == 0 {
		m.Destination = g.busName()
	}
	if g.r.IntN(2) == 0 {
		m.Sender = g.busName()
	}
	if strings.Contains(sig, "h") || strings.Contains(sig, "v") {
		m.UnixFDs = maxFDs
	}
	return m
}

// checkCoverage fails t unless g generated every type code and every dict key type.
func checkCoverage(t *testing.T, g *gen) {
	t.Helper()
	var want []string
	for _, c := range basicCodes {
		want = append(want, string(c), "a{"+string(c))
	}
	want = append(want, "v", "a", "(")
	for _, w := range want {
		if g.codes[w] == 0 {
			t.Errorf("the generator never produced %q: the random cases do not cover the type system", w)
		}
	}
}

// godbusRefuses reports whether v, of type t, holds a dict keyed by b or g that godbus cannot
// handle. godbus's isKeyType admits only integer, float and string kinds as keys, so it
// refuses bool keys and its Signature struct as a key, though the specification allows every
// basic type as a key. Its encoder refuses such a dict type even when the dict is empty; its
// decoder checks the key type per entry, so it decodes empty ones. evenEmpty chooses the
// encoder's rule.
func godbusRefuses(t *wire.Type, v any, evenEmpty bool) bool {
	switch t.Code {
	case wire.TypeVariant:
		vr := v.(wire.Variant)
		return godbusRefuses(wire.MustParseType(string(vr.Sig)), vr.Value, evenEmpty)
	case wire.TypeStruct:
		for i, f := range t.Fields {
			if godbusRefuses(f, v.(wire.Struct)[i], evenEmpty) {
				return true
			}
		}
	case wire.TypeArray:
		if t.IsDict() {
			entries := v.([]wire.DictEntry)
			key := t.Elem.Fields[0].Code
			if (key == wire.TypeBoolean || key == wire.TypeSignature) && (evenEmpty || len(entries) > 0) {
				return true
			}
			for _, e := range entries {
				if godbusRefuses(t.Elem.Fields[1], e.Value, evenEmpty) {
					return true
				}
			}
			return false
		}
		if t.Elem.Code == wire.TypeByte {
			return false
		}
		for _, e := range v.([]any) {
			if godbusRefuses(t.Elem, e, evenEmpty) {
				return true
			}
		}
	}
	return false
}

// godbusCannotDecode reports whether godbus's decoder refuses v; see godbusRefuses.
func godbusCannotDecode(t *wire.Type, v any) bool { return godbusRefuses(t, v, false) }

// godbusCannotEncode reports whether godbus's encoder refuses v; see godbusRefuses.
func godbusCannotEncode(t *wire.Type, v any) bool { return godbusRefuses(t, v, true) }

// godbusType returns the Go type that godbus decodes values of t into.
func godbusType(t *wire.Type) reflect.Type {
	switch t.Code {
	case wire.TypeByte:
		return reflect.TypeFor[byte]()
	case wire.TypeBoolean:
		return reflect.TypeFor[bool]()
	case wire.TypeInt16:
		return reflect.TypeFor[int16]()
	case wire.TypeUint16:
		return reflect.TypeFor[uint16]()
	case wire.TypeInt32:
		return reflect.TypeFor[int32]()
	case wire.TypeUint32:
		return reflect.TypeFor[uint32]()
	case wire.TypeInt64:
		return reflect.TypeFor[int64]()
	case wire.TypeUint64:
		return reflect.TypeFor[uint64]()
	case wire.TypeDouble:
		return reflect.TypeFor[float64]()
	case wire.TypeString:
		return reflect.TypeFor[string]()
	case wire.TypeObjectPath:
		return reflect.TypeFor[dbus.ObjectPath]()
	case wire.TypeSignature:
		return reflect.TypeFor[dbus.Signature]()
	case wire.TypeUnixFD:
		return reflect.TypeFor[dbus.UnixFDIndex]()
	case wire.TypeVariant:
		return reflect.TypeFor[dbus.Variant]()
	case wire.TypeStruct:
		return reflect.TypeFor[[]any]()
	case wire.TypeArray:
		if t.IsDict() {
			return reflect.MapOf(godbusType(t.Elem.Fields[0]), godbusType(t.Elem.Fields[1]))
		}
		return reflect.SliceOf(godbusType(t.Elem))
	}
	panic(fmt.Sprintf("no Go type for %q", t.Sig))
}

// godbusBasic converts a basic value to godbus's type for it; the types of the integers,
// floats, booleans and strings are the same in both.
func godbusBasic(v any) any {
	switch v := v.(type) {
	case wire.ObjectPath:
		return dbus.ObjectPath(v)
	case wire.Signature:
		return dbus.ParseSignatureMust(string(v))
	case wire.UnixFD:
		return dbus.UnixFDIndex(v)
	}
	return v
}

// godbusVariant converts a variant, with conv for its value.
func godbusVariant(v any, conv func(*wire.Type, any) any) dbus.Variant {
	vr := v.(wire.Variant)
	return dbus.MakeVariantWithSignature(conv(wire.MustParseType(string(vr.Sig)), vr.Value), dbus.ParseSignatureMust(string(vr.Sig)))
}

// godbusDecoded converts v, of type t, to the value that godbus's decoder produces for it:
// structs as []any, arrays as typed slices, dicts as maps.
func godbusDecoded(t *wire.Type, v any) any {
	switch t.Code {
	case wire.TypeVariant:
		return godbusVariant(v, godbusDecoded)
	case wire.TypeStruct:
		out := make([]any, len(t.Fields))
		for i, f := range t.Fields {
			out[i] = godbusDecoded(f, v.(wire.Struct)[i])
		}
		return out
	case wire.TypeArray:
		return godbusArray(t, v, godbusType, godbusDecoded)
	}
	return godbusBasic(v)
}

// godbusArray converts an array value to a slice or map of the Go type typeOf(t), converting
// its elements with conv.
func godbusArray(t *wire.Type, v any, typeOf func(*wire.Type) reflect.Type, conv func(*wire.Type, any) any) any {
	if t.Elem.Code == wire.TypeByte {
		return v
	}
	if t.IsDict() {
		m := reflect.MakeMap(typeOf(t))
		for _, e := range v.([]wire.DictEntry) {
			m.SetMapIndex(reflect.ValueOf(conv(t.Elem.Fields[0], e.Key)), reflect.ValueOf(conv(t.Elem.Fields[1], e.Value)))
		}
		return m.Interface()
	}
	elems := v.([]any)
	s := reflect.MakeSlice(typeOf(t), 0, len(elems))
	for _, e := range elems {
		s = reflect.Append(s, reflect.ValueOf(conv(t.Elem, e)))
	}
	return s.Interface()
}

// godbusEncodableType returns a Go type that godbus's encoder encodes as t: structs become
// struct types with one exported field per member.
func godbusEncodableType(t *wire.Type) reflect.Type {
	switch t.Code {
	case wire.TypeStruct:
		fields := make([]reflect.StructField, len(t.Fields))
		for i, f := range t.Fields {
			fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: godbusEncodableType(f)}
		}
		return reflect.StructOf(fields)
	case wire.TypeArray:
		if t.IsDict() {
			return reflect.MapOf(godbusEncodableType(t.Elem.Fields[0]), godbusEncodableType(t.Elem.Fields[1]))
		}
		return reflect.SliceOf(godbusEncodableType(t.Elem))
	}
	return godbusType(t)
}

// godbusEncodable converts v, of type t, to a Go value that godbus encodes as t.
func godbusEncodable(t *wire.Type, v any) any {
	switch t.Code {
	case wire.TypeVariant:
		return godbusVariant(v, godbusEncodable)
	case wire.TypeStruct:
		s := reflect.New(godbusEncodableType(t)).Elem()
		for i, f := range t.Fields {
			s.Field(i).Set(reflect.ValueOf(godbusEncodable(f, v.(wire.Struct)[i])))
		}
		return s.Interface()
	case wire.TypeArray:
		return godbusArray(t, v, godbusEncodableType, godbusEncodable)
	}
	return godbusBasic(v)
}

// godbusHeaders returns the header fields of m as godbus represents them.
func godbusHeaders(m *wire.Message) map[dbus.HeaderField]dbus.Variant {
	h := map[dbus.HeaderField]dbus.Variant{}
	str := func(f dbus.HeaderField, v string) {
		if v != "" {
			h[f] = dbus.MakeVariant(v)
		}
	}
	u32 := func(f dbus.HeaderField, v uint32) {
		if v != 0 {
			h[f] = dbus.MakeVariant(v)
		}
	}
	if m.Path != "" {
		h[dbus.FieldPath] = dbus.MakeVariant(dbus.ObjectPath(m.Path))
	}
	str(dbus.FieldInterface, m.Interface)
	str(dbus.FieldMember, m.Member)
	str(dbus.FieldErrorName, m.ErrorName)
	u32(dbus.FieldReplySerial, m.ReplySerial)
	str(dbus.FieldDestination, m.Destination)
	str(dbus.FieldSender, m.Sender)
	if m.Signature != "" {
		h[dbus.FieldSignature] = dbus.MakeVariant(dbus.ParseSignatureMust(string(m.Signature)))
	}
	u32(dbus.FieldUnixFDs, m.UnixFDs)
	return h
}

// byteOrder returns the encoding/binary order of o.
func byteOrder(o wire.ByteOrder) binary.ByteOrder {
	if o == wire.BigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// godbusMessage returns a godbus message with the given serial and no header fields.
// godbus has no setter for the serial (a Conn assigns it when sending) and EncodeTo writes
// the zero serial that the specification forbids, so we decode a minimal method return,
// which is the public way to obtain a message with a serial.
func godbusMessage(tb testing.TB, serial uint32) *dbus.Message {
	tb.Helper()
	b := []byte{'l', 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, wire.FieldReplySerial, 1, 'u', 0, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[8:], serial)
	msg, err := dbus.DecodeMessage(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("godbus refused the template message: %v", err)
	}
	if msg.Serial() != serial {
		tb.Fatalf("godbus decoded serial %d, want %d", msg.Serial(), serial)
	}
	msg.Headers = map[dbus.HeaderField]dbus.Variant{}
	return msg
}

// compareKeys orders dict keys of the reflection layer's basic types.
func compareKeys(a, b any) int {
	switch a := a.(type) {
	case byte:
		return cmp.Compare(a, b.(byte))
	case bool:
		return cmp.Compare(boolInt(a), boolInt(b.(bool)))
	case int16:
		return cmp.Compare(a, b.(int16))
	case uint16:
		return cmp.Compare(a, b.(uint16))
	case int32:
		return cmp.Compare(a, b.(int32))
	case uint32:
		return cmp.Compare(a, b.(uint32))
	case int64:
		return cmp.Compare(a, b.(int64))
	case uint64:
		return cmp.Compare(a, b.(uint64))
	case float64:
		return cmp.Compare(a, b.(float64))
	case string:
		return cmp.Compare(a, b.(string))
	case wire.ObjectPath:
		return cmp.Compare(a, b.(wire.ObjectPath))
	case wire.Signature:
		return cmp.Compare(a, b.(wire.Signature))
	case wire.UnixFD:
		return cmp.Compare(a, b.(wire.UnixFD))
	}
	panic(fmt.Sprintf("%T is not a dict key type", a))
}

// boolInt orders false before true.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortDicts returns a copy of v, of type t, with the entries of every dict sorted by key, so
// that dicts compare regardless of the order they were encoded in.
func sortDicts(t *wire.Type, v any) any {
	switch t.Code {
	case wire.TypeVariant:
		vr := v.(wire.Variant)
		return wire.Variant{Sig: vr.Sig, Value: sortDicts(wire.MustParseType(string(vr.Sig)), vr.Value)}
	case wire.TypeStruct:
		out := make(wire.Struct, len(t.Fields))
		for i, f := range t.Fields {
			out[i] = sortDicts(f, v.(wire.Struct)[i])
		}
		return out
	case wire.TypeArray:
		if t.Elem.Code == wire.TypeByte {
			return v
		}
		if t.IsDict() {
			out := []wire.DictEntry{}
			for _, e := range v.([]wire.DictEntry) {
				out = append(out, wire.DictEntry{Key: e.Key, Value: sortDicts(t.Elem.Fields[1], e.Value)})
			}
			slices.SortFunc(out, func(a, b wire.DictEntry) int { return compareKeys(a.Key, b.Key) })
			return out
		}
		out := []any{}
		for _, e := range v.([]any) {
			out = append(out, sortDicts(t.Elem, e))
		}
		return out
	}
	return v
}

// sortAllDicts applies sortDicts to the values of a body of signature sig.
func sortAllDicts(sig string, vs []any) []any {
	types, err := wire.ParseSignature(sig)
	if err != nil {
		panic(err)
	}
	out := make([]any, len(vs))
	for i, t := range types {
		out[i] = sortDicts(t, vs[i])
	}
	return out
}

// hasDict reports whether v, of type t, holds a dict anywhere, variants included.
func hasDict(t *wire.Type, v any) bool {
	switch t.Code {
	case wire.TypeVariant:
		vr := v.(wire.Variant)
		return hasDict(wire.MustParseType(string(vr.Sig)), vr.Value)
	case wire.TypeStruct:
		for i, f := range t.Fields {
			if hasDict(f, v.(wire.Struct)[i]) {
				return true
			}
		}
	case wire.TypeArray:
		if t.IsDict() {
			return true
		}
		if t.Elem.Code == wire.TypeByte {
			return false
		}
		for _, e := range v.([]any) {
			if hasDict(t.Elem, e) {
				return true
			}
		}
	}
	return false
}

// anyOf reports whether f holds for the value of any type of sig in vs.
func anyOf(sig string, vs []any, f func(*wire.Type, any) bool) bool {
	types, err := wire.ParseSignature(sig)
	if err != nil {
		panic(err)
	}
	for i, t := range types {
		if f(t, vs[i]) {
			return true
		}
	}
	return false
}

// convertAll applies conv to the values of a body of signature sig.
func convertAll(sig string, vs []any, conv func(*wire.Type, any) any) []any {
	types, err := wire.ParseSignature(sig)
	if err != nil {
		panic(err)
	}
	out := make([]any, len(vs))
	for i, t := range types {
		out[i] = conv(t, vs[i])
	}
	return out
}

// TestGodbusDecodesOurs encodes random messages with Message.AppendTo and checks that godbus
// decodes the same header and body values.
func TestGodbusDecodesOurs(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	start := time.Now()
	compared, refused := 0, 0
	for i := 0; compared < propertyCases; i++ {
		sig := g.signature()
		vals := g.values(sig)
		m := g.header(sig)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d case %d, signature %q, %s, %s\nours: %#v\n%s", seed, i, sig, m.Order, m, vals, fmt.Sprintf(format, args...))
		}
		body, err := wire.Marshal(m.Order, m.Signature, vals...)
		if err != nil {
			fail("Marshal: %v", err)
		}
		m.Body = body
		buf, err := m.AppendTo(nil)
		if err != nil {
			fail("AppendTo: %v", err)
		}
		msg, err := dbus.DecodeMessage(bytes.NewReader(buf))
		if anyOf(sig, vals, godbusCannotDecode) {
			if !errors.As(err, new(dbus.InvalidTypeError)) {
				fail("godbus was expected to refuse a non-empty dict keyed by b or g with InvalidTypeError, got %v", err)
			}
			refused++
			continue
		}
		if err != nil {
			fail("godbus refused the message: %v\nbytes: %x", err, buf)
		}
		if msg.Type != dbus.Type(m.Type) || msg.Flags != dbus.Flags(m.Flags) || msg.Serial() != m.Serial {
			fail("godbus decoded type %d, flags %d, serial %d", msg.Type, msg.Flags, msg.Serial())
		}
		if want := godbusHeaders(m); !reflect.DeepEqual(msg.Headers, want) {
			fail("header fields differ\ngodbus:   %#v\nexpected: %#v", msg.Headers, want)
		}
		if want := convertAll(sig, vals, godbusDecoded); !reflect.DeepEqual(msg.Body, want) {
			fail("body values differ\ngodbus:   %#v\nexpected: %#v", msg.Body, want)
		}
		compared++
	}
	checkCoverage(t, g)
	t.Logf("%d messages compared, %d refused by godbus as expected, in %v", compared, refused, time.Since(start))
}

// TestWeDecodeGodbus encodes random messages with godbus and checks that DecodeMessage,
// Unmarshal and ValidateBody accept them with the same values, and that Marshal reproduces
// godbus's body bytes.
func TestWeDecodeGodbus(t *testing.T) {
	seed := testSeed(t)
	g := newGen(seed)
	start := time.Now()
	compared, refused := 0, 0
	var buf bytes.Buffer
	for i := 0; compared < propertyCases; i++ {
		sig := g.signature()
		vals := g.values(sig)
		want := g.header(sig)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d case %d, signature %q, %s, %s\noriginal: %#v\n%s", seed, i, sig, want.Order, want, vals, fmt.Sprintf(format, args...))
		}
		msg := godbusMessage(t, want.Serial)
		msg.Type = dbus.Type(want.Type)
		msg.Flags = dbus.Flags(want.Flags)
		// godbus does not add UNIX_FDS for UnixFDIndex values (its transport does, for
		// UnixFD ones); the specification requires it, so the header names it explicitly.
		msg.Headers = godbusHeaders(want)
		msg.Body = convertAll(sig, vals, godbusEncodable)
		buf.Reset()
		err := msg.EncodeTo(&buf, byteOrder(want.Order))
		if anyOf(sig, vals, godbusCannotEncode) {
			if !errors.As(err, new(dbus.InvalidTypeError)) {
				fail("godbus was expected to refuse a non-empty dict keyed by b or g with InvalidTypeError, got %v", err)
			}
			refused++
			continue
		}
		if err != nil {
			fail("godbus cannot encode the values: %v", err)
		}
		// SignatureOf panics on the dict types that godbus refuses, which can still be in
		// the signature when no value of them was encoded (inside an empty array).
		if !strings.Contains(sig, "a{b") && !strings.Contains(sig, "a{g") {
			if got := dbus.SignatureOf(msg.Body...).String(); got != sig {
				fail("the godbus values have signature %q", got)
			}
		}
		m, err := wire.DecodeMessage(buf.Bytes())
		if err != nil {
			fail("DecodeMessage: %v\nbytes: %x", err, buf.Bytes())
		}
		got := *m
		got.Body = nil
		if !reflect.DeepEqual(&got, want) {
			fail("header differs\nours: %+v\nwant: %+v", got, *want)
		}
		if err := m.ValidateBody(); err != nil {
			fail("ValidateBody: %v\nbody: %x", err, m.Body)
		}
		decoded, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if err != nil {
			fail("Unmarshal: %v\nbody: %x", err, m.Body)
		}
		if a, b := sortAllDicts(sig, decoded), sortAllDicts(sig, vals); !reflect.DeepEqual(a, b) {
			fail("values differ (dicts sorted)\ndecoded:  %#v\noriginal: %#v", a, b)
		}
		// Decoded dicts keep godbus's entry order, so encoding them again must give
		// godbus's bytes exactly; so must the original values when no dict order is at play.
		again, err := wire.Marshal(m.Order, m.Signature, decoded...)
		if err != nil || !bytes.Equal(again, m.Body) {
			fail("Marshal of the decoded values: %v\nours:   %x\ngodbus: %x", err, again, m.Body)
		}
		if !anyOf(sig, vals, hasDict) {
			ours, err := wire.Marshal(m.Order, m.Signature, vals...)
			if err != nil || !bytes.Equal(ours, m.Body) {
				fail("Marshal of the original values: %v\nours:   %x\ngodbus: %x", err, ours, m.Body)
			}
		}
		compared++
	}
	checkCoverage(t, g)
	t.Logf("%d messages compared, %d refused by godbus as expected, in %v", compared, refused, time.Since(start))
}
