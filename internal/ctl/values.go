package ctl

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/kdbus-go/kdbus/wire"
)

// ArgsFromJSON converts a JSON array into D-Bus values of signature sig, one element per
// complete type, for wire.Marshal. Numbers go to any integer or double type that holds them,
// strings to s, o and g (and to ay, as base64), arrays to arrays and structs, objects to dicts,
// and a variant takes {"signature": "...", "value": ...} or a plain string, number or bool.
func ArgsFromJSON(sig wire.Signature, data []byte) ([]any, error) {
	types, err := wire.ParseSignature(string(sig))
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if len(strings.TrimSpace(string(data))) == 0 {
		raw = nil
	} else if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("the arguments must be a JSON array of %d values of signature %q: %v", len(types), sig, err)
	}
	if len(raw) != len(types) {
		return nil, fmt.Errorf("the arguments are %d values, the signature %q takes %d", len(raw), sig, len(types))
	}
	out := make([]any, len(types))
	for i, t := range types {
		v, err := valueFromJSON(t, raw[i])
		if err != nil {
			return nil, fmt.Errorf("argument %d (%s): %v", i, t.Sig, err)
		}
		out[i] = v
	}
	return out, nil
}

func valueFromJSON(t *wire.Type, raw json.RawMessage) (any, error) {
	switch t.Code {
	case 'y', 'n', 'q', 'i', 'u', 'x', 't':
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("want a number: %v", err)
		}
		return integer(t.Code, string(n))
	case 'd':
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("want a number: %v", err)
		}
		return f, nil
	case 'b':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("want true or false: %v", err)
		}
		return b, nil
	case 's', 'o', 'g':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("want a string: %v", err)
		}
		switch t.Code {
		case 'o':
			return wire.ObjectPath(s), nil
		case 'g':
			return wire.Signature(s), nil
		}
		return s, nil
	case 'h':
		return nil, fmt.Errorf("file descriptors cannot be given as JSON")
	case 'v':
		return variantFromJSON(raw)
	case 'a':
		if t.Elem.Code == 'y' {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("want base64 bytes: %v", err)
				}
				return b, nil
			}
		}
		if t.Elem.Code == '{' {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, fmt.Errorf("want a JSON object: %v", err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range obj {
					if !yield(k) {
						return
					}
				}
			})
			entries := make([]wire.DictEntry, 0, len(obj))
			for _, k := range keys {
				key, err := keyFromString(t.Elem.Fields[0], k)
				if err != nil {
					return nil, fmt.Errorf("key %q: %v", k, err)
				}
				v, err := valueFromJSON(t.Elem.Fields[1], obj[k])
				if err != nil {
					return nil, fmt.Errorf("value of %q: %v", k, err)
				}
				entries = append(entries, wire.DictEntry{Key: key, Value: v})
			}
			return entries, nil
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("want a JSON array: %v", err)
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			v, err := valueFromJSON(t.Elem, e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %v", i, err)
			}
			out[i] = v
		}
		return out, nil
	case '(':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("want a JSON array of the struct's %d fields: %v", len(t.Fields), err)
		}
		if len(elems) != len(t.Fields) {
			return nil, fmt.Errorf("the struct %s has %d fields, the array %d", t.Sig, len(t.Fields), len(elems))
		}
		out := make(wire.Struct, len(elems))
		for i, e := range elems {
			v, err := valueFromJSON(t.Fields[i], e)
			if err != nil {
				return nil, fmt.Errorf("field %d: %v", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("type %s cannot be given as JSON", t.Sig)
}

func integer(code byte, s string) (any, error) {
	switch code {
	case 'y', 'q', 'u', 't':
		bits := map[byte]int{'y': 8, 'q': 16, 'u': 32, 't': 64}[code]
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return nil, err
		}
		switch code {
		case 'y':
			return byte(n), nil
		case 'q':
			return uint16(n), nil
		case 'u':
			return uint32(n), nil
		}
		return n, nil
	}
	bits := map[byte]int{'n': 16, 'i': 32, 'x': 64}[code]
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return nil, err
	}
	switch code {
	case 'n':
		return int16(n), nil
	case 'i':
		return int32(n), nil
	}
	return n, nil
}

func keyFromString(t *wire.Type, k string) (any, error) {
	switch t.Code {
	case 's':
		return k, nil
	case 'o':
		return wire.ObjectPath(k), nil
	case 'g':
		return wire.Signature(k), nil
	case 'b':
		return strconv.ParseBool(k)
	case 'd':
		return strconv.ParseFloat(k, 64)
	}
	return integer(t.Code, k)
}

func variantFromJSON(raw json.RawMessage) (any, error) {
	var typed struct {
		Signature *string         `json:"signature"`
		Value     json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &typed) == nil && typed.Signature != nil {
		t, err := wire.ParseType(*typed.Signature)
		if err != nil {
			return nil, err
		}
		v, err := valueFromJSON(t, typed.Value)
		if err != nil {
			return nil, err
		}
		return wire.Variant{Sig: t.Sig, Value: v}, nil
	}
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case string:
		return wire.Variant{Sig: "s", Value: x}, nil
	case bool:
		return wire.Variant{Sig: "b", Value: x}, nil
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return wire.Variant{Sig: "x", Value: n}, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return wire.Variant{Sig: "d", Value: f}, nil
	}
	return nil, fmt.Errorf(`give a variant that is not a string, number or bool as {"signature": "...", "value": ...}`)
}

// ValuesToJSON converts values as wire.Unmarshal returns them into JSON-ready values: bytes
// as base64, dicts as objects, structs as arrays, variants as their values.
func ValuesToJSON(v any) any {
	switch x := v.(type) {
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case wire.ObjectPath:
		return string(x)
	case wire.Signature:
		return string(x)
	case wire.UnixFD:
		return uint32(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case wire.Variant:
		return ValuesToJSON(x.Value)
	case wire.Struct:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ValuesToJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = ValuesToJSON(e)
		}
		return out
	case []wire.DictEntry:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[fmt.Sprint(ValuesToJSON(e.Key))] = ValuesToJSON(e.Value)
		}
		return out
	}
	return v
}
