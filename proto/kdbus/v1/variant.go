package kdbusv1

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"syscall"

	"github.com/kdbus-go/kdbus/wire"
)

// A Variant holds one D-Bus value: Sig is its type and Data the value marshaled in
// little-endian byte order from offset 0. Values decoded from a peer have been checked; one
// built by hand with bytes that do not match Sig reads as an error.
//
// Reading a{sv} dictionaries:
//
//	uid, err := kdbusv1.As[uint32](creds["UnixUserID"])
//	gids, err := kdbusv1.As[[]uint32](creds["UnixGroupIDs"])
//	var opts struct{ A string; B []int32 }
//	err = v.Store(&opts) // a "(sai)"
//
// and building them:
//
//	m := map[string]*kdbusv1.Variant{"Name": kdbusv1.MustVariant("x"), "Ids": kdbusv1.MustVariant([]uint32{1, 2})}

// Natural Go types of D-Bus types, as Value returns them:
//
//	y byte, b bool, n int16, q uint16, i int32, u uint32, x int64, t uint64, d float64,
//	s string, o wire.ObjectPath, g wire.Signature, h int (the descriptor, from Fds),
//	v any (the value the variant holds),
//	aT []T (ay []byte), a{KV} map[K]V, (…) []any.
//
// NewVariant infers a signature from a Go value the other way round, and also takes int (x),
// uint (t), float32 (d), Go structs (a struct of their exported fields), *Variant and
// wire.Variant (v).

// Close closes the file descriptors the Variant holds (those of its h values) and forgets
// them. A Variant decoded from a message owns duplicates of the message's descriptors.
func (x *Variant) Close() error {
	var first error
	for _, fd := range x.GetFds() {
		if err := syscall.Close(int(fd)); err != nil && first == nil {
			first = fmt.Errorf("closing descriptor %d of a kdbus.v1.Variant: %w", fd, err)
		}
	}
	if x != nil {
		x.Fds = nil
	}
	return first
}

// Signature returns the D-Bus type of the value, "" for an empty Variant.
func (x *Variant) Signature() wire.Signature { return wire.Signature(x.GetSig()) }

// Value returns the value in its natural Go type (see the package documentation of Variant),
// or nil when the Variant is empty or its Data does not match its signature (Decode says why).
func (x *Variant) Value() any {
	v, _ := x.Decode()
	return v
}

// Decode returns the value in its natural Go type, or an error when the Variant is empty or
// its Data is not a valid encoding of its signature.
func (x *Variant) Decode() (any, error) {
	var out any
	if err := x.Store(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// Store decodes the value into the Go value dst points to, as godbus's Store does: dst may
// be of the natural type or of any type of the same shape (any integer type the value fits
// in, a named string type for s, o and g, a slice or array for arrays, a map for dicts, a Go
// struct with one exported field per member or a slice for structs), *any (the natural
// value), or *Variant and *kdbusv1.Variant elements for variants, which keep the value
// undecoded. A variant in the value is looked through when dst is not a Variant.
func (x *Variant) Store(dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("kdbus.v1.Variant: Store needs a non-nil pointer, got %T", dst)
	}
	if x.GetSig() == "" {
		return errors.New("kdbus.v1.Variant: the variant holds no value (its signature is empty)")
	}
	t, err := parseVariantType(x.GetSig())
	if err != nil {
		return err
	}
	d := wire.NewDecoder(x.GetData(), wire.LittleEndian)
	if err := store(d, t, rv.Elem(), 1, x.GetFds()); err != nil {
		return fmt.Errorf("kdbus.v1.Variant of type %q: %w", x.GetSig(), err)
	}
	if err := d.Done(); err != nil {
		return fmt.Errorf("kdbus.v1.Variant of type %q: %w", x.GetSig(), err)
	}
	return nil
}

// As decodes v's value into a T, as Store does: kdbusv1.As[uint32](v), As[[]string](v),
// As[map[string]any](v). A nil v is an error.
func As[T any](v *Variant) (T, error) {
	var out T
	if v == nil {
		return out, errors.New("kdbus.v1.Variant: no such value (nil)")
	}
	err := v.Store(&out)
	return out, err
}

// NewVariant makes a Variant of x, inferring its D-Bus type from x's Go type (see the
// package documentation of Variant). It fails for Go types D-Bus has no type for (channels,
// functions, maps with keys that are not basic types, nil interfaces) and for values D-Bus
// cannot carry (invalid UTF-8 in strings, invalid object paths or signatures).
func NewVariant(x any) (*Variant, error) {
	if v, ok := x.(*Variant); ok {
		// A Variant is its own value: a copy, checked.
		if _, err := v.Decode(); err != nil {
			return nil, err
		}
		return &Variant{Sig: v.GetSig(), Data: slices.Clone(v.GetData())}, nil
	}
	sig, err := SignatureOf(x)
	if err != nil {
		return nil, err
	}
	return NewVariantOf(sig, x)
}

// MustVariant is NewVariant for values whose type is known to be valid; it panics on error.
func MustVariant(x any) *Variant {
	v, err := NewVariant(x)
	if err != nil {
		panic(err)
	}
	return v
}

// NewVariantOf makes a Variant of type sig holding x, which must be of that type's shape:
// NewVariantOf("y", 7), NewVariantOf("ao", []string{"/a", "/b"}).
func NewVariantOf(sig wire.Signature, x any) (*Variant, error) {
	t, err := parseVariantType(string(sig))
	if err != nil {
		return nil, err
	}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	var fds []int32
	if err := encode(e, t, reflect.ValueOf(x), 1, &fds); err != nil {
		return nil, fmt.Errorf("kdbus.v1.Variant of type %q: %w", sig, err)
	}
	if err := e.Err(); err != nil {
		return nil, fmt.Errorf("kdbus.v1.Variant of type %q: %w", sig, err)
	}
	return &Variant{Sig: string(sig), Data: slices.Clip(e.Bytes()), Fds: fds}, nil
}

// SignatureOf returns the D-Bus type NewVariant gives x.
func SignatureOf(x any) (wire.Signature, error) {
	if x == nil {
		return "", errors.New("kdbus.v1.Variant: nil has no D-Bus type")
	}
	if v, ok := x.(*Variant); ok {
		return wire.Signature(v.GetSig()), nil
	}
	if v, ok := x.(wire.Variant); ok {
		return v.Sig, nil
	}
	var b strings.Builder
	if err := sigOf(&b, reflect.TypeOf(x), 0); err != nil {
		return "", err
	}
	s := b.String()
	if err := wire.ValidateSingle(s); err != nil {
		return "", fmt.Errorf("kdbus.v1.Variant: Go %T: %w", x, err)
	}
	return wire.Signature(s), nil
}

var (
	variantPtrType  = reflect.TypeFor[*Variant]()
	wireVariantType = reflect.TypeFor[wire.Variant]()
	objectPathType  = reflect.TypeFor[wire.ObjectPath]()
	signatureType   = reflect.TypeFor[wire.Signature]()
	anyType         = reflect.TypeFor[any]()
)

func sigOf(b *strings.Builder, t reflect.Type, depth int) error {
	if depth > wire.MaxTotalDepth {
		return fmt.Errorf("kdbus.v1.Variant: Go type nests deeper than %d containers", wire.MaxTotalDepth)
	}
	switch t {
	case variantPtrType, wireVariantType, reflect.TypeFor[Variant]():
		b.WriteByte('v')
		return nil
	case objectPathType:
		b.WriteByte('o')
		return nil
	case signatureType:
		b.WriteByte('g')
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		b.WriteByte('b')
	case reflect.Uint8:
		b.WriteByte('y')
	case reflect.Int16:
		b.WriteByte('n')
	case reflect.Uint16:
		b.WriteByte('q')
	case reflect.Int32:
		b.WriteByte('i')
	case reflect.Uint32:
		b.WriteByte('u')
	case reflect.Int64, reflect.Int:
		b.WriteByte('x')
	case reflect.Uint64, reflect.Uint:
		b.WriteByte('t')
	case reflect.Float32, reflect.Float64:
		b.WriteByte('d')
	case reflect.String:
		b.WriteByte('s')
	case reflect.Interface:
		b.WriteByte('v')
	case reflect.Slice, reflect.Array:
		b.WriteByte('a')
		return sigOf(b, t.Elem(), depth+1)
	case reflect.Map:
		b.WriteString("a{")
		switch t.Key().Kind() {
		case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Interface, reflect.Pointer:
			return fmt.Errorf("kdbus.v1.Variant: Go map key type %s is not a basic D-Bus type", t.Key())
		}
		if err := sigOf(b, t.Key(), depth+1); err != nil {
			return err
		}
		if err := sigOf(b, t.Elem(), depth+1); err != nil {
			return err
		}
		b.WriteByte('}')
	case reflect.Struct:
		b.WriteByte('(')
		n := 0
		for i := range t.NumField() {
			if t.Field(i).IsExported() {
				if err := sigOf(b, t.Field(i).Type, depth+1); err != nil {
					return err
				}
				n++
			}
		}
		if n == 0 {
			return fmt.Errorf("kdbus.v1.Variant: Go struct %s has no exported fields, and D-Bus has no empty struct", t)
		}
		b.WriteByte(')')
	case reflect.Pointer:
		return sigOf(b, t.Elem(), depth)
	default:
		return fmt.Errorf("kdbus.v1.Variant: D-Bus has no type for Go %s", t)
	}
	return nil
}

func parseVariantType(sig string) (*wire.Type, error) {
	if err := wire.ValidateSingle(sig); err != nil {
		return nil, fmt.Errorf("kdbus.v1.Variant: signature %q: %w", sig, err)
	}
	return wire.ParseType(sig)
}

// encode appends rv as a value of type t; depth counts the containers around it.
func encode(e *wire.Encoder, t *wire.Type, rv reflect.Value, depth int, fds *[]int32) error {
	for rv.IsValid() && (rv.Kind() == reflect.Interface || rv.Kind() == reflect.Pointer && rv.Type() != variantPtrType) {
		if rv.IsNil() {
			return fmt.Errorf("cannot encode a nil %s as D-Bus type %q", rv.Type(), t.Sig)
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return fmt.Errorf("cannot encode nil as D-Bus type %q", t.Sig)
	}
	isContainer := t.Code == wire.TypeVariant || t.Code == wire.TypeStruct || t.Code == wire.TypeArray
	if isContainer && depth > wire.MaxTotalDepth {
		return fmt.Errorf("the value nests deeper than the %d containers D-Bus allows", wire.MaxTotalDepth)
	}
	switch t.Code {
	case wire.TypeVariant:
		var inner *Variant
		switch x := rv.Interface().(type) {
		case *Variant:
			inner = x
		case Variant:
			inner = &x
		default:
			sig, err := SignatureOf(x)
			if err != nil {
				return err
			}
			it, err := parseVariantType(string(sig))
			if err != nil {
				return err
			}
			e.Variant(sig)
			if wv, ok := x.(wire.Variant); ok {
				return encode(e, it, reflect.ValueOf(wv.Value), depth+1, fds)
			}
			return encode(e, it, rv, depth+1, fds)
		}
		return appendVariant(e, inner, depth, fds)
	case wire.TypeArray:
		if t.Elem.Code == wire.TypeByte && (rv.Kind() == reflect.Slice || rv.Kind() == reflect.String) {
			if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
				e.ByteArray(rv.Bytes())
				return nil
			}
		}
		arr := e.BeginArray(t.Elem.Align())
		switch {
		case rv.Kind() == reflect.Map && t.Elem.Code == wire.TypeDictEntry:
			keys := rv.MapKeys()
			slices.SortFunc(keys, compareKeys)
			for _, k := range keys {
				if depth+1 > wire.MaxTotalDepth {
					return fmt.Errorf("the value nests deeper than the %d containers D-Bus allows", wire.MaxTotalDepth)
				}
				e.BeginStruct()
				if err := encode(e, t.Elem.Fields[0], k, depth+2, fds); err != nil {
					return err
				}
				if err := encode(e, t.Elem.Fields[1], rv.MapIndex(k), depth+2, fds); err != nil {
					return err
				}
			}
		case (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && t.Elem.Code != wire.TypeDictEntry:
			for i := range rv.Len() {
				if err := encode(e, t.Elem, rv.Index(i), depth+1, fds); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("cannot encode Go %s as D-Bus type %q", rv.Type(), t.Sig)
		}
		e.EndArray(arr)
		return nil
	case wire.TypeStruct:
		e.BeginStruct()
		var fields []reflect.Value
		switch rv.Kind() {
		case reflect.Struct:
			for i := range rv.NumField() {
				if rv.Type().Field(i).IsExported() {
					fields = append(fields, rv.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range rv.Len() {
				fields = append(fields, rv.Index(i))
			}
		default:
			return fmt.Errorf("cannot encode Go %s as D-Bus type %q", rv.Type(), t.Sig)
		}
		if len(fields) != len(t.Fields) {
			return fmt.Errorf("D-Bus struct %q has %d members, but Go %s has %d", t.Sig, len(t.Fields), rv.Type(), len(fields))
		}
		for i, f := range t.Fields {
			if err := encode(e, f, fields[i], depth+1, fds); err != nil {
				return err
			}
		}
		return nil
	}
	if t.Code == wire.TypeUnixFD {
		switch rv.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uintptr:
		default:
			return fmt.Errorf("cannot encode Go %s as D-Bus type \"h\": give the descriptor as an int", rv.Type())
		}
		fd, err := fdOf(rv)
		if err != nil {
			return err
		}
		e.UnixFD(uint32(len(*fds)))
		*fds = append(*fds, fd)
		return nil
	}
	// Basic types: wire checks kinds and ranges.
	return wire.EncodeValue(e, t, rv.Interface())
}

func fdOf(rv reflect.Value) (int32, error) {
	var n int64
	if rv.CanInt() {
		n = rv.Int()
	} else if u := rv.Uint(); u <= math.MaxInt32 {
		n = int64(u)
	} else {
		n = -1
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, fmt.Errorf("%v is not a file descriptor", rv)
	}
	return int32(n), nil
}

// appendVariant appends v as a variant value: its signature, then its value re-encoded from
// Data, its descriptors added to fds. depth is the depth of the variant.
func appendVariant(e *wire.Encoder, v *Variant, depth int, fds *[]int32) error {
	if v.GetSig() == "" {
		e.Variant("ay")
		e.ByteArray(nil)
		return nil
	}
	if _, err := parseVariantType(v.GetSig()); err != nil {
		return err
	}
	e.Variant(wire.Signature(v.GetSig()))
	d := wire.NewDecoder(v.GetData(), wire.LittleEndian)
	own := v.GetFds()
	wire.CopyValue(d, e, wire.Signature(v.GetSig()), depth, func(d *wire.Decoder, e *wire.Encoder) {
		i := d.UnixFD()
		if d.Err() != nil {
			return
		}
		if int(i) >= len(own) {
			d.SetErr(fmt.Errorf("h value %d refers past the variant's %d file descriptors", i, len(own)))
			return
		}
		e.UnixFD(uint32(len(*fds)))
		*fds = append(*fds, own[i])
	})
	if err := d.Done(); err != nil {
		return fmt.Errorf("kdbus.v1.Variant of type %q: its data is not a value of that type: %w", v.GetSig(), err)
	}
	return nil
}

func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmpOrdered(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cmpOrdered(a.Uint(), b.Uint())
	case reflect.Float32, reflect.Float64:
		return cmpOrdered(a.Float(), b.Float())
	case reflect.String:
		return strings.Compare(a.String(), b.String())
	case reflect.Bool:
		return cmpOrdered(boolInt(a.Bool()), boolInt(b.Bool()))
	}
	return 0
}

func cmpOrdered[T int | int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// naturalType returns the Go type Value gives a value of type t.
func naturalType(t *wire.Type) reflect.Type {
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
		return objectPathType
	case wire.TypeSignature:
		return signatureType
	case wire.TypeUnixFD:
		return reflect.TypeFor[int]()
	case wire.TypeArray:
		if t.Elem.Code == wire.TypeDictEntry {
			return reflect.MapOf(naturalType(t.Elem.Fields[0]), naturalType(t.Elem.Fields[1]))
		}
		return reflect.SliceOf(naturalType(t.Elem))
	case wire.TypeStruct:
		return reflect.TypeFor[[]any]()
	}
	return anyType
}

// store decodes one value of type t from d into dst. depth is the depth of the value's own
// container, counting as wire.MaxTotalDepth does.
func store(d *wire.Decoder, t *wire.Type, dst reflect.Value, depth int, fds []int32) error {
	if err := d.Err(); err != nil {
		return err
	}
	if !dst.CanSet() {
		return fmt.Errorf("cannot store D-Bus type %q in an unsettable Go %s", t.Sig, dst.Type())
	}
	isContainer := t.Code == wire.TypeVariant || t.Code == wire.TypeStruct || t.Code == wire.TypeArray
	if isContainer && depth > wire.MaxTotalDepth {
		return fmt.Errorf("the value nests deeper than the %d containers D-Bus allows", wire.MaxTotalDepth)
	}
	dt := dst.Type()
	switch {
	case dt == variantPtrType || dt == reflect.TypeFor[Variant]():
		v, err := readAsVariant(d, t, depth, fds)
		if err != nil {
			return err
		}
		if dt == variantPtrType {
			dst.Set(reflect.ValueOf(v))
		} else {
			dst.Set(reflect.ValueOf(v).Elem())
		}
		return nil
	case dt.Kind() == reflect.Interface:
		if t.Code == wire.TypeVariant {
			return storeVariant(d, dst, depth, fds)
		}
		nv := reflect.New(naturalType(t)).Elem()
		if !nv.Type().AssignableTo(dt) {
			return fmt.Errorf("cannot store D-Bus type %q in Go %s", t.Sig, dt)
		}
		if err := store(d, t, nv, depth, fds); err != nil {
			return err
		}
		dst.Set(nv)
		return nil
	case dt.Kind() == reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(dt.Elem()))
		}
		return store(d, t, dst.Elem(), depth, fds)
	}
	switch t.Code {
	case wire.TypeVariant:
		return storeVariant(d, dst, depth, fds)
	case wire.TypeBoolean:
		v := d.Bool()
		if dt.Kind() != reflect.Bool {
			return mismatch(t, dt)
		}
		dst.SetBool(v)
	case wire.TypeByte, wire.TypeInt16, wire.TypeUint16, wire.TypeInt32, wire.TypeUint32, wire.TypeInt64, wire.TypeUint64:
		return storeInteger(d, t, dst)
	case wire.TypeUnixFD:
		i := d.UnixFD()
		if err := d.Err(); err != nil {
			return err
		}
		if int(i) >= len(fds) {
			return fmt.Errorf("h value %d refers past the variant's %d file descriptors", i, len(fds))
		}
		switch dt.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			dst.SetInt(int64(fds[i]))
		default:
			return mismatch(t, dt)
		}
	case wire.TypeDouble:
		v := d.Double()
		if dt.Kind() != reflect.Float64 && dt.Kind() != reflect.Float32 {
			return mismatch(t, dt)
		}
		dst.SetFloat(v)
	case wire.TypeString, wire.TypeObjectPath, wire.TypeSignature:
		var s string
		switch t.Code {
		case wire.TypeString:
			s = d.String()
		case wire.TypeObjectPath:
			s = string(d.ObjectPath())
		default:
			s = string(d.Signature())
		}
		if dt.Kind() != reflect.String {
			return mismatch(t, dt)
		}
		dst.SetString(s)
	case wire.TypeArray:
		return storeArray(d, t, dst, depth, fds)
	case wire.TypeStruct:
		d.BeginStruct()
		switch dt.Kind() {
		case reflect.Struct:
			var fields []reflect.Value
			for i := range dt.NumField() {
				if dt.Field(i).IsExported() {
					fields = append(fields, dst.Field(i))
				}
			}
			if len(fields) != len(t.Fields) {
				return fmt.Errorf("D-Bus struct %q has %d members, but Go %s has %d exported fields", t.Sig, len(t.Fields), dt, len(fields))
			}
			for i, f := range t.Fields {
				if err := store(d, f, fields[i], depth+1, fds); err != nil {
					return err
				}
			}
		case reflect.Slice:
			s := reflect.MakeSlice(dt, len(t.Fields), len(t.Fields))
			for i, f := range t.Fields {
				if err := store(d, f, s.Index(i), depth+1, fds); err != nil {
					return err
				}
			}
			dst.Set(s)
		default:
			return mismatch(t, dt)
		}
	default:
		return fmt.Errorf("D-Bus type %q cannot be stored", t.Sig)
	}
	return d.Err()
}

func mismatch(t *wire.Type, dt reflect.Type) error {
	return fmt.Errorf("cannot store D-Bus type %q in Go %s", t.Sig, dt)
}

// storeVariant reads a variant and stores the value it holds in dst.
func storeVariant(d *wire.Decoder, dst reflect.Value, depth int, fds []int32) error {
	sig := d.Variant()
	if err := d.Err(); err != nil {
		return err
	}
	it, err := parseVariantType(string(sig))
	if err != nil {
		return err
	}
	return store(d, it, dst, depth+1, fds)
}

// readAsVariant reads a value of type t as a Variant: the value a variant holds when t is v,
// else the value itself.
func readAsVariant(d *wire.Decoder, t *wire.Type, depth int, fds []int32) (*Variant, error) {
	sig := t.Sig
	if t.Code == wire.TypeVariant {
		sig = d.Variant()
		if err := d.Err(); err != nil {
			return nil, err
		}
		if _, err := parseVariantType(string(sig)); err != nil {
			return nil, err
		}
		depth++
	}
	v := &Variant{Sig: string(sig)}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	wire.CopyValue(d, e, sig, depth-1, func(d *wire.Decoder, e *wire.Encoder) {
		i := d.UnixFD()
		if d.Err() != nil {
			return
		}
		if int(i) >= len(fds) {
			d.SetErr(fmt.Errorf("h value %d refers past the variant's %d file descriptors", i, len(fds)))
			return
		}
		e.UnixFD(uint32(len(v.Fds)))
		v.Fds = append(v.Fds, fds[i])
	})
	if err := d.Err(); err != nil {
		return nil, err
	}
	if err := e.Err(); err != nil {
		return nil, err
	}
	v.Data = slices.Clip(e.Bytes())
	return v, nil
}

func storeInteger(d *wire.Decoder, t *wire.Type, dst reflect.Value) error {
	var u uint64
	var neg bool
	switch t.Code {
	case wire.TypeByte:
		u = uint64(d.Byte())
	case wire.TypeUint16:
		u = uint64(d.Uint16())
	case wire.TypeUint32:
		u = uint64(d.Uint32())
	case wire.TypeUint64:
		u = d.Uint64()
	case wire.TypeInt16:
		i := int64(d.Int16())
		u, neg = uint64(i), i < 0
	case wire.TypeInt32:
		i := int64(d.Int32())
		u, neg = uint64(i), i < 0
	case wire.TypeInt64:
		i := d.Int64()
		u, neg = uint64(i), i < 0
	}
	if err := d.Err(); err != nil {
		return err
	}
	dt := dst.Type()
	switch dt.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !neg && u > math.MaxInt64 || dst.OverflowInt(int64(u)) {
			return fmt.Errorf("D-Bus %q value %s does not fit Go %s", t.Sig, intText(u, neg), dt)
		}
		dst.SetInt(int64(u))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if neg || dst.OverflowUint(u) {
			return fmt.Errorf("D-Bus %q value %s does not fit Go %s", t.Sig, intText(u, neg), dt)
		}
		dst.SetUint(u)
	default:
		return mismatch(t, dt)
	}
	return nil
}

func intText(u uint64, neg bool) string {
	if neg {
		return fmt.Sprint(int64(u))
	}
	return fmt.Sprint(u)
}

func storeArray(d *wire.Decoder, t *wire.Type, dst reflect.Value, depth int, fds []int32) error {
	dt := dst.Type()
	if t.Elem.Code == wire.TypeByte && dt.Kind() == reflect.Slice && dt.Elem().Kind() == reflect.Uint8 {
		b := d.ByteArray()
		if err := d.Err(); err != nil {
			return err
		}
		s := reflect.MakeSlice(dt, len(b), len(b))
		reflect.Copy(s, reflect.ValueOf(b))
		dst.Set(s)
		return nil
	}
	if t.Elem.Code == wire.TypeDictEntry {
		if dt.Kind() != reflect.Map {
			return mismatch(t, dt)
		}
		m := reflect.MakeMap(dt)
		for end := d.BeginArray(8); d.More(end); {
			if depth+1 > wire.MaxTotalDepth {
				return fmt.Errorf("the value nests deeper than the %d containers D-Bus allows", wire.MaxTotalDepth)
			}
			d.BeginStruct()
			k := reflect.New(dt.Key()).Elem()
			if err := store(d, t.Elem.Fields[0], k, depth+2, fds); err != nil {
				return err
			}
			v := reflect.New(dt.Elem()).Elem()
			if err := store(d, t.Elem.Fields[1], v, depth+2, fds); err != nil {
				return err
			}
			m.SetMapIndex(k, v)
		}
		if err := d.Err(); err != nil {
			return err
		}
		dst.Set(m)
		return nil
	}
	switch dt.Kind() {
	case reflect.Slice:
		s := reflect.MakeSlice(dt, 0, 0)
		for end := d.BeginArray(t.Elem.Align()); d.More(end); {
			v := reflect.New(dt.Elem()).Elem()
			if err := store(d, t.Elem, v, depth+1, fds); err != nil {
				return err
			}
			s = reflect.Append(s, v)
		}
		if err := d.Err(); err != nil {
			return err
		}
		dst.Set(s)
	case reflect.Array:
		i := 0
		for end := d.BeginArray(t.Elem.Align()); d.More(end); i++ {
			if i >= dst.Len() {
				return fmt.Errorf("D-Bus array %q holds more than the %d elements of Go %s", t.Sig, dst.Len(), dt)
			}
			if err := store(d, t.Elem, dst.Index(i), depth+1, fds); err != nil {
				return err
			}
		}
		if i != dst.Len() && d.Err() == nil {
			return fmt.Errorf("D-Bus array %q holds %d elements, Go %s %d", t.Sig, i, dt, dst.Len())
		}
	default:
		return mismatch(t, dt)
	}
	return d.Err()
}
