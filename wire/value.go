package wire

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
)

// UnixFD is an h value in the reflection layer: an index into the message's descriptors.
type UnixFD uint32

// Variant is a v value in the reflection layer: a value with its own signature.
type Variant struct {
	Sig   Signature
	Value any
}

// Struct is a struct value in the reflection layer: its fields in order.
type Struct []any

// DictEntry is one entry of an a{KV} value in the reflection layer.
type DictEntry struct {
	Key, Value any
}

// Unmarshal decodes a body of the given signature into dynamically typed values:
// byte, bool, int16, uint16, int32, uint32, int64, uint64, float64, string, ObjectPath,
// Signature and UnixFD for the basic types; []byte for ay (a copy); []any for other arrays;
// []DictEntry for dicts; Struct for structs; Variant for variants.
func Unmarshal(body []byte, o ByteOrder, sig Signature) ([]any, error) {
	types, err := ParseSignature(string(sig))
	if err != nil {
		return nil, err
	}
	d := NewDecoder(body, o)
	out := make([]any, 0, len(types))
	for _, t := range types {
		out = append(out, walk(d, t, 1, -1, true))
	}
	return out, d.Done()
}

// ValidateBody checks that body is a valid encoding of sig in byte order o whose h values
// index fewer than nfds descriptors, without building values.
func ValidateBody(body []byte, o ByteOrder, sig Signature, nfds int) error {
	types, err := ParseSignature(string(sig))
	if err != nil {
		return err
	}
	d := NewDecoder(body, o)
	for _, t := range types {
		walk(d, t, 1, nfds, false)
	}
	return d.Done()
}

// DecodeValue reads one value of type t with d, as [Unmarshal] does.
func DecodeValue(d *Decoder, t *Type) any { return walk(d, t, 1, -1, true) }

// fixedSize returns the encoded size of fixed-size basic types whose every bit pattern is
// valid (so arrays of them can be skipped in bulk), or 0.
func fixedSize(code byte) int {
	switch code {
	case TypeByte:
		return 1
	case TypeInt16, TypeUint16:
		return 2
	case TypeInt32, TypeUint32:
		return 4
	case TypeInt64, TypeUint64, TypeDouble:
		return 8
	}
	return 0
}

// walk decodes (build) or checks one value of type t. depth counts the containers around the
// value, across variants; nfds < 0 skips the descriptor index check.
func walk(d *Decoder, t *Type, depth, nfds int, build bool) any {
	if d.err != nil {
		return nil
	}
	switch t.Code {
	case TypeByte:
		return d.Byte()
	case TypeBoolean:
		return d.Bool()
	case TypeInt16:
		return d.Int16()
	case TypeUint16:
		return d.Uint16()
	case TypeInt32:
		return d.Int32()
	case TypeUint32:
		return d.Uint32()
	case TypeInt64:
		return d.Int64()
	case TypeUint64:
		return d.Uint64()
	case TypeDouble:
		return d.Double()
	case TypeUnixFD:
		at := d.off
		v := d.UnixFD()
		if nfds >= 0 && d.err == nil && int64(v) >= int64(nfds) {
			d.off = at
			d.fail(nil, "file descriptor index %d, but the message carries %d descriptors", v, nfds)
		}
		return UnixFD(v)
	case TypeString:
		if !build {
			d.StringBytes()
			return nil
		}
		return d.String()
	case TypeObjectPath:
		return d.ObjectPath()
	case TypeSignature:
		return d.Signature()
	case TypeVariant:
		if depth > MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return nil
		}
		sig := d.Variant()
		if d.err != nil {
			return nil
		}
		inner, err := ParseType(string(sig))
		if err != nil {
			d.fail(err, "variant signature: %v", err)
			return nil
		}
		return Variant{Sig: sig, Value: walk(d, inner, depth+1, nfds, build)}
	case TypeStruct, TypeDictEntry:
		if depth > MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return nil
		}
		d.BeginStruct()
		if t.Code == TypeDictEntry {
			k := walk(d, t.Fields[0], depth+1, nfds, build)
			v := walk(d, t.Fields[1], depth+1, nfds, build)
			return DictEntry{Key: k, Value: v}
		}
		var fields Struct
		if build {
			fields = make(Struct, 0, len(t.Fields))
		}
		for _, f := range t.Fields {
			v := walk(d, f, depth+1, nfds, build)
			if build {
				fields = append(fields, v)
			}
		}
		return fields
	case TypeArray:
		if depth > MaxTotalDepth {
			d.fail(nil, "values nest deeper than %d containers", MaxTotalDepth)
			return nil
		}
		if t.Elem.Code == TypeByte {
			b := d.ByteArray()
			if !build || d.err != nil {
				return nil
			}
			return bytes.Clone(b)
		}
		end := d.BeginArray(t.Elem.Align())
		if d.err != nil {
			return nil
		}
		if size := fixedSize(t.Elem.Code); size > 0 && !build {
			if (end-d.off)%size != 0 {
				d.fail(nil, "array of %d bytes does not hold a whole number of %d-byte elements", end-d.off, size)
				return nil
			}
			d.off = end
			return nil
		}
		if t.Elem.Code == TypeDictEntry {
			entries := []DictEntry{}
			for d.More(end) {
				e := walk(d, t.Elem, depth+1, nfds, build)
				if build && d.err == nil {
					entries = append(entries, e.(DictEntry))
				}
			}
			if !build {
				return nil
			}
			return entries
		}
		elems := []any{}
		for d.More(end) {
			e := walk(d, t.Elem, depth+1, nfds, build)
			if build {
				elems = append(elems, e)
			}
		}
		if !build {
			return nil
		}
		return elems
	}
	d.fail(nil, "unknown type code %q", t.Code)
	return nil
}

// Marshal encodes values as a body of signature sig in byte order o. Besides the types that
// Unmarshal produces it accepts Go values of matching shape: any integer kind that fits,
// float32, string kinds for s, o and g, slices and arrays, maps (encoded in sorted key order)
// and structs (exported fields in order) for struct types.
func Marshal(o ByteOrder, sig Signature, values ...any) ([]byte, error) {
	types, err := ParseSignature(string(sig))
	if err != nil {
		return nil, err
	}
	if len(types) != len(values) {
		return nil, fmt.Errorf("signature %q has %d complete types but %d values were given", sig, len(types), len(values))
	}
	e := NewEncoder(nil, o)
	for i, t := range types {
		if err := EncodeValue(e, t, values[i]); err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return e.Bytes(), e.Err()
}

// EncodeValue appends v as a value of type t, as [Marshal] does.
func EncodeValue(e *Encoder, t *Type, v any) error {
	if err := encodeValue(e, t, reflect.ValueOf(v), 1); err != nil {
		return err
	}
	return e.Err()
}

func mismatch(t *Type, v reflect.Value) error {
	if !v.IsValid() {
		return fmt.Errorf("cannot encode nil as D-Bus type %q", t.Sig)
	}
	return fmt.Errorf("cannot encode Go %s as D-Bus type %q", v.Type(), t.Sig)
}

func encodeValue(e *Encoder, t *Type, v reflect.Value, depth int) error {
	for v.IsValid() && v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if !v.IsValid() {
		return mismatch(t, v)
	}
	// Only containers count toward the limit, as in walk: a basic value may sit inside
	// MaxTotalDepth containers.
	if depth > MaxTotalDepth && (t.Code == TypeVariant || t.Code == TypeStruct || t.Code == TypeArray) {
		return errTooDeep
	}
	switch t.Code {
	case TypeByte, TypeInt16, TypeUint16, TypeInt32, TypeUint32, TypeInt64, TypeUint64, TypeUnixFD:
		return encodeInteger(e, t, v)
	case TypeBoolean:
		if v.Kind() != reflect.Bool {
			return mismatch(t, v)
		}
		e.Bool(v.Bool())
	case TypeDouble:
		if v.Kind() != reflect.Float64 && v.Kind() != reflect.Float32 {
			return mismatch(t, v)
		}
		e.Double(v.Float())
	case TypeString, TypeObjectPath, TypeSignature:
		if v.Kind() != reflect.String {
			return mismatch(t, v)
		}
		switch t.Code {
		case TypeString:
			e.String(v.String())
		case TypeObjectPath:
			e.ObjectPath(ObjectPath(v.String()))
		default:
			e.Signature(Signature(v.String()))
		}
	case TypeVariant:
		vr, ok := v.Interface().(Variant)
		if !ok {
			return mismatch(t, v)
		}
		inner, err := ParseType(string(vr.Sig))
		if err != nil {
			return fmt.Errorf("variant: %w", err)
		}
		e.Variant(vr.Sig)
		return encodeValue(e, inner, reflect.ValueOf(vr.Value), depth+1)
	case TypeStruct:
		e.BeginStruct()
		switch v.Kind() {
		case reflect.Slice, reflect.Array:
			if v.Len() != len(t.Fields) {
				return fmt.Errorf("struct %q has %d fields but %d values were given", t.Sig, len(t.Fields), v.Len())
			}
			for i, f := range t.Fields {
				if err := encodeValue(e, f, v.Index(i), depth+1); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := exportedFields(v)
			if len(fields) != len(t.Fields) {
				return fmt.Errorf("struct %q has %d fields but Go %s has %d exported fields", t.Sig, len(t.Fields), v.Type(), len(fields))
			}
			for i, f := range t.Fields {
				if err := encodeValue(e, f, fields[i], depth+1); err != nil {
					return err
				}
			}
		default:
			return mismatch(t, v)
		}
	case TypeArray:
		return encodeArray(e, t, v, depth)
	default:
		return fmt.Errorf("cannot encode D-Bus type %q on its own", t.Sig)
	}
	return nil
}

// errTooDeep reports a value nested in more containers than the specification allows.
var errTooDeep = fmt.Errorf("value nests deeper than %d containers", MaxTotalDepth)

func exportedFields(v reflect.Value) []reflect.Value {
	var out []reflect.Value
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).IsExported() {
			out = append(out, v.Field(i))
		}
	}
	return out
}

func encodeInteger(e *Encoder, t *Type, v reflect.Value) error {
	var u uint64
	var neg bool
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := v.Int()
		u, neg = uint64(i), i < 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u = v.Uint()
	default:
		return mismatch(t, v)
	}
	fits := func(lo int64, hi uint64) bool {
		if neg {
			return int64(u) >= lo
		}
		return u <= hi
	}
	ok := true
	switch t.Code {
	case TypeByte:
		ok = fits(0, math.MaxUint8)
		e.Byte(byte(u))
	case TypeInt16:
		ok = fits(math.MinInt16, math.MaxInt16)
		e.Int16(int16(u))
	case TypeUint16:
		ok = fits(0, math.MaxUint16)
		e.Uint16(uint16(u))
	case TypeInt32:
		ok = fits(math.MinInt32, math.MaxInt32)
		e.Int32(int32(u))
	case TypeUint32, TypeUnixFD:
		ok = fits(0, math.MaxUint32)
		e.Uint32(uint32(u))
	case TypeInt64:
		ok = fits(math.MinInt64, math.MaxInt64)
		e.Int64(int64(u))
	case TypeUint64:
		ok = fits(0, math.MaxUint64)
		e.Uint64(u)
	}
	if !ok {
		return fmt.Errorf("Go %s value %v does not fit D-Bus type %q", v.Type(), v, t.Sig)
	}
	return nil
}

func encodeArray(e *Encoder, t *Type, v reflect.Value, depth int) error {
	if t.Elem.Code == TypeByte && v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
		e.ByteArray(v.Bytes())
		return nil
	}
	m := e.BeginArray(t.Elem.Align())
	switch {
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		for i := 0; i < v.Len(); i++ {
			el := v.Index(i)
			if t.Elem.Code == TypeDictEntry {
				if err := encodeEntry(e, t.Elem, el, depth+1); err != nil {
					return err
				}
				continue
			}
			if err := encodeValue(e, t.Elem, el, depth+1); err != nil {
				return err
			}
		}
	case v.Kind() == reflect.Map && t.Elem.Code == TypeDictEntry:
		keys := v.MapKeys()
		slices.SortFunc(keys, compareKeys)
		if len(keys) > 0 && depth+1 > MaxTotalDepth {
			return errTooDeep
		}
		for _, k := range keys {
			e.BeginStruct()
			if err := encodeValue(e, t.Elem.Fields[0], k, depth+2); err != nil {
				return err
			}
			if err := encodeValue(e, t.Elem.Fields[1], v.MapIndex(k), depth+2); err != nil {
				return err
			}
		}
	default:
		return mismatch(t, v)
	}
	e.EndArray(m)
	return nil
}

func encodeEntry(e *Encoder, t *Type, v reflect.Value, depth int) error {
	for v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	de, ok := v.Interface().(DictEntry)
	if !ok {
		return fmt.Errorf("dict %q wants DictEntry elements, got Go %s", t.Sig, v.Type())
	}
	if depth > MaxTotalDepth {
		return errTooDeep
	}
	e.BeginStruct()
	if err := encodeValue(e, t.Fields[0], reflect.ValueOf(de.Key), depth+1); err != nil {
		return err
	}
	return encodeValue(e, t.Fields[1], reflect.ValueOf(de.Value), depth+1)
}

// compareKeys orders map keys of basic kinds so that maps encode deterministically.
func compareKeys(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return cmp.Compare(a.Uint(), b.Uint())
	case reflect.Float32, reflect.Float64:
		return cmp.Compare(a.Float(), b.Float())
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	case reflect.Bool:
		return cmp.Compare(boolInt(a.Bool()), boolInt(b.Bool()))
	}
	return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CopyValue reads one value of the single complete type t with d and appends it to e,
// re-encoding it (alignment and byte order in the output may differ from the input's) and
// checking it as a decoder does. outer is the number of containers around the value, as
// MaxTotalDepth counts them; a value that would nest deeper is an error on d. fd copies each
// h value (reading it from d and appending one to e); nil copies the descriptor index as it is.
func CopyValue(d *Decoder, e *Encoder, t Signature, outer int, fd func(d *Decoder, e *Encoder)) {
	if d.err != nil {
		return
	}
	if err := ValidateSingle(string(t)); err != nil {
		d.fail(err, "copying a value: %v", err)
		return
	}
	copyValue(d, e, string(t), outer, fd)
}
