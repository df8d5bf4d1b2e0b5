package wire_test

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/kdbus-go/kdbus/wire"
)

// The benchmarks run ours ("kdbus") and godbus's code on the same values, so that
// go test -bench . -benchmem prints them side by side:
//
//	BenchmarkEncode/call/...    a method call of signature sa{sv}ai(xs), about 300 bytes
//	BenchmarkDecode/call/...
//	BenchmarkEncode/ay1MiB/...  a signal carrying a 1 MiB ay
//	BenchmarkDecode/ay1MiB/...

// callSig is the signature of the benchmark's method call.
const callSig = "sa{sv}ai(xs)"

// benchCall returns the header and the body values of the benchmark's method call.
func benchCall() (*wire.Message, []any) {
	m := &wire.Message{
		Order: wire.LittleEndian, Type: wire.MethodCall, Serial: 42, Path: "/org/example/Thing",
		Interface: "org.example.Thing", Member: "Update", Destination: "org.example.Service",
		Sender: ":1.42", Signature: callSig,
	}
	vals := []any{
		"org.example.Thing.Settings",
		[]wire.DictEntry{
			{Key: "Name", Value: wire.Variant{Sig: "s", Value: "kdbus benchmark"}},
			{Key: "Size", Value: wire.Variant{Sig: "t", Value: uint64(4096)}},
			{Key: "Enabled", Value: wire.Variant{Sig: "b", Value: true}},
			{Key: "Tags", Value: wire.Variant{Sig: "as", Value: []any{"alpha", "beta", "gamma"}}},
			{Key: "Ratio", Value: wire.Variant{Sig: "d", Value: 0.75}},
		},
		[]any{int32(1), int32(2), int32(3), int32(5), int32(8), int32(13), int32(21), int32(34)},
		wire.Struct{int64(-42), "done"},
	}
	return m, vals
}

// callArgs is the benchmark's method call decoded as generated code would decode it.
type callArgs struct {
	Target string
	Props  map[string]any
	Ints   []int32
	Result struct {
		Code int64
		Text string
	}
}

// encodeCallBody encodes the method call's body with the Encoder, as generated code would.
func encodeCallBody(e *wire.Encoder, a *callArgs) {
	e.String(a.Target)
	props := e.BeginArray(8)
	for _, k := range []string{"Name", "Size", "Enabled", "Tags", "Ratio"} {
		e.BeginStruct()
		e.String(k)
		switch v := a.Props[k].(type) {
		case string:
			e.Variant("s")
			e.String(v)
		case uint64:
			e.Variant("t")
			e.Uint64(v)
		case bool:
			e.Variant("b")
			e.Bool(v)
		case []string:
			e.Variant("as")
			m := e.BeginArray(4)
			for _, s := range v {
				e.String(s)
			}
			e.EndArray(m)
		case float64:
			e.Variant("d")
			e.Double(v)
		}
	}
	e.EndArray(props)
	ints := e.BeginArray(4)
	for _, i := range a.Ints {
		e.Int32(i)
	}
	e.EndArray(ints)
	e.BeginStruct()
	e.Int64(a.Result.Code)
	e.String(a.Result.Text)
}

// decodeCallBody decodes the method call's body with the Decoder, as generated code would.
func decodeCallBody(d *wire.Decoder, a *callArgs) error {
	a.Target = d.String()
	a.Props = make(map[string]any, 5)
	for end := d.BeginArray(8); d.More(end); {
		d.BeginStruct()
		k := d.String()
		switch sig := d.Variant(); sig {
		case "s":
			a.Props[k] = d.String()
		case "t":
			a.Props[k] = d.Uint64()
		case "b":
			a.Props[k] = d.Bool()
		case "d":
			a.Props[k] = d.Double()
		case "as":
			var ss []string
			for end := d.BeginArray(4); d.More(end); {
				ss = append(ss, d.String())
			}
			a.Props[k] = ss
		default:
			t, err := wire.ParseType(string(sig))
			if err != nil {
				return err
			}
			a.Props[k] = wire.DecodeValue(d, t)
		}
	}
	a.Ints = a.Ints[:0]
	for end := d.BeginArray(4); d.More(end); {
		a.Ints = append(a.Ints, d.Int32())
	}
	d.BeginStruct()
	a.Result.Code = d.Int64()
	a.Result.Text = d.String()
	return d.Done()
}

// benchCallArgs returns the method call's values as callArgs.
func benchCallArgs() *callArgs {
	a := &callArgs{
		Target: "org.example.Thing.Settings",
		Props: map[string]any{
			"Name": "kdbus benchmark", "Size": uint64(4096), "Enabled": true,
			"Tags": []string{"alpha", "beta", "gamma"}, "Ratio": 0.75,
		},
		Ints: []int32{1, 2, 3, 5, 8, 13, 21, 34},
	}
	a.Result.Code, a.Result.Text = -42, "done"
	return a
}

// godbusCall returns the method call as a godbus message with the same serial and values.
func godbusCall(b *testing.B) *dbus.Message {
	m, vals := benchCall()
	msg := godbusMessage(b, m.Serial)
	msg.Type = dbus.TypeMethodCall
	msg.Headers = godbusHeaders(m)
	msg.Body = convertAll(callSig, vals, godbusEncodable)
	return msg
}

// benchCallBytes returns the method call encoded by us, checking that godbus decodes it to
// the values it encodes.
func benchCallBytes(b *testing.B) []byte {
	m, vals := benchCall()
	m.Body = mustMarshal(b, m.Order, m.Signature, vals...)
	buf, err := m.AppendTo(nil)
	if err != nil {
		b.Fatal(err)
	}
	msg, err := dbus.DecodeMessage(bytes.NewReader(buf))
	if err != nil || !reflect.DeepEqual(msg.Body, convertAll(callSig, vals, godbusDecoded)) {
		b.Fatalf("godbus decodes the call as %v, %v", msg, err)
	}
	return buf
}

// ay1MiB is the size of the large payload.
const ay1MiB = 1 << 20

// benchBlob returns the header of the signal that carries the large payload, and the payload.
func benchBlob() (*wire.Message, []byte) {
	m := &wire.Message{
		Order: wire.LittleEndian, Type: wire.Signal, Serial: 7, Path: "/org/example/Blob",
		Interface: "org.example.Blob", Member: "Data", Signature: "ay",
	}
	payload := make([]byte, ay1MiB)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	return m, payload
}

func BenchmarkEncode(b *testing.B) {
	b.Run("call/kdbus", func(b *testing.B) {
		m, _ := benchCall()
		a := benchCallArgs()
		var body, out []byte
		var e wire.Encoder
		b.SetBytes(int64(len(benchCallBytes(b))))
		b.ReportAllocs()
		for b.Loop() {
			e.Reset(body[:0], m.Order)
			encodeCallBody(&e, a)
			if err := e.Err(); err != nil {
				b.Fatal(err)
			}
			body = e.Bytes()
			var err error
			out, err = m.AppendHeader(out[:0], len(body))
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, body...)
		}
	})
	b.Run("call/kdbus-marshal", func(b *testing.B) {
		m, vals := benchCall()
		var out []byte
		b.SetBytes(int64(len(benchCallBytes(b))))
		b.ReportAllocs()
		for b.Loop() {
			body, err := wire.Marshal(m.Order, m.Signature, vals...)
			if err != nil {
				b.Fatal(err)
			}
			m.Body = body
			if out, err = m.AppendTo(out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("call/godbus", func(b *testing.B) {
		msg := godbusCall(b)
		var buf bytes.Buffer
		b.SetBytes(int64(len(benchCallBytes(b))))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ay1MiB/kdbus", func(b *testing.B) {
		m, payload := benchBlob()
		var out []byte
		var e wire.Encoder
		b.SetBytes(ay1MiB)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if out, err = m.AppendHeader(out[:0], 4+len(payload)); err != nil {
				b.Fatal(err)
			}
			e.Reset(out, m.Order)
			e.ByteArray(payload)
			if err := e.Err(); err != nil {
				b.Fatal(err)
			}
			out = e.Bytes()
		}
	})
	b.Run("ay1MiB/godbus", func(b *testing.B) {
		m, payload := benchBlob()
		msg := godbusMessage(b, m.Serial)
		msg.Type = dbus.TypeSignal
		msg.Headers = godbusHeaders(m)
		msg.Body = []any{payload}
		var buf bytes.Buffer
		b.SetBytes(ay1MiB)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sink keeps decoded values alive so that the compiler cannot drop the work.
var sink any

func BenchmarkDecode(b *testing.B) {
	b.Run("call/kdbus", func(b *testing.B) {
		buf := benchCallBytes(b)
		var a callArgs
		var d wire.Decoder
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := wire.DecodeMessage(buf)
			if err != nil {
				b.Fatal(err)
			}
			d.Reset(m.Body, m.Order)
			if err := decodeCallBody(&d, &a); err != nil {
				b.Fatal(err)
			}
		}
		if a.Result.Text != "done" || len(a.Props) != 5 || len(a.Ints) != 8 {
			b.Fatalf("decoded %+v", a)
		}
	})
	b.Run("call/kdbus-unmarshal", func(b *testing.B) {
		buf := benchCallBytes(b)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := wire.DecodeMessage(buf)
			if err != nil {
				b.Fatal(err)
			}
			vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
			if err != nil {
				b.Fatal(err)
			}
			sink = vals
		}
	})
	b.Run("call/godbus", func(b *testing.B) {
		buf := benchCallBytes(b)
		var r bytes.Reader
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(buf)
			msg, err := dbus.DecodeMessage(&r)
			if err != nil {
				b.Fatal(err)
			}
			sink = msg
		}
	})
	blob := func(b *testing.B) []byte {
		m, payload := benchBlob()
		m.Body = mustMarshal(b, m.Order, m.Signature, payload)
		buf, err := m.AppendTo(nil)
		if err != nil {
			b.Fatal(err)
		}
		return buf
	}
	b.Run("ay1MiB/kdbus", func(b *testing.B) {
		buf := blob(b)
		var d wire.Decoder
		b.SetBytes(ay1MiB)
		b.ReportAllocs()
		for b.Loop() {
			m, err := wire.DecodeMessage(buf)
			if err != nil {
				b.Fatal(err)
			}
			d.Reset(m.Body, m.Order)
			payload := d.ByteArray()
			if err := d.Done(); err != nil || len(payload) != ay1MiB {
				b.Fatalf("decoded %d bytes: %v", len(payload), err)
			}
		}
	})
	b.Run("ay1MiB/godbus", func(b *testing.B) {
		buf := blob(b)
		var r bytes.Reader
		b.SetBytes(ay1MiB)
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(buf)
			msg, err := dbus.DecodeMessage(&r)
			if err != nil {
				b.Fatal(err)
			}
			if len(msg.Body[0].([]byte)) != ay1MiB {
				b.Fatal("wrong payload")
			}
		}
	})
}
