package kdbusimpl

import (
	"bytes"
	"os"
	"strings"
	"testing"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// variantBody marshals values of sig as a message body, as a peer would send them.
func variantBody(t testing.TB, o wire.ByteOrder, sig wire.Signature, values ...any) []byte {
	t.Helper()
	b, err := wire.Marshal(o, sig, values...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVariantFromPeer(t *testing.T) {
	// What dbus-daemon's GetConnectionCredentials sends: a{sv} with a u and an au, here in
	// big-endian order and after a byte that shifts alignments.
	creds := []wire.DictEntry{
		{Key: "ProcessID", Value: wire.Variant{Sig: "u", Value: uint32(42)}},
		{Key: "UnixGroupIDs", Value: wire.Variant{Sig: "au", Value: []uint32{1000, 27}}},
		{Key: "Nested", Value: wire.Variant{Sig: "(yx)", Value: wire.Struct{byte(1), int64(-5)}}},
	}
	for _, o := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
		body := variantBody(t, o, "ya{sv}", byte(7), creds)
		d := wire.NewDecoder(body, o)
		d.Byte()
		got := map[string]*kdbusv1.Variant{}
		for end := d.BeginArray(8); d.More(end); {
			d.BeginStruct()
			k := d.String()
			got[k] = DecodeVariant(d, 3)
		}
		if err := d.Done(); err != nil {
			t.Fatal(err)
		}
		gids, err := kdbusv1.As[[]uint32](got["UnixGroupIDs"])
		if err != nil || len(gids) != 2 || gids[1] != 27 {
			t.Fatalf("%v: UnixGroupIDs = %v, %v", o, gids, err)
		}
		var nested struct {
			A byte
			B int64
		}
		if err := got["Nested"].Store(&nested); err != nil || nested.A != 1 || nested.B != -5 {
			t.Fatalf("%v: Nested = %+v, %v", o, nested, err)
		}
		// Encoding them again, at another alignment, gives what the peer sent.
		e := wire.NewEncoder(nil, o)
		e.Byte(7)
		a := e.BeginArray(8)
		for _, k := range []string{"ProcessID", "UnixGroupIDs", "Nested"} {
			e.BeginStruct()
			e.String(k)
			EncodeVariant(e, got[k], 3)
		}
		e.EndArray(a)
		if e.Err() != nil || !bytes.Equal(e.Bytes(), body) {
			t.Fatalf("%v: re-encoded\n%x, want\n%x (%v)", o, e.Bytes(), body, e.Err())
		}
	}
}

func TestVariantRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"fd without descriptors", variantBody(t, wire.LittleEndian, "v", wire.Variant{Sig: "h", Value: wire.UnixFD(0)}), "file descriptors"},
		{"two types", []byte{2, 'u', 'u', 0, 1, 0, 0, 0}, "variant signature"},
		{"bad bool", []byte{1, 'b', 0, 0, 2, 0, 0, 0}, "bool"},
		{"nested fd without descriptors", variantBody(t, wire.LittleEndian, "v", wire.Variant{Sig: "v", Value: wire.Variant{Sig: "ah", Value: []any{wire.UnixFD(1)}}}), "file descriptors"},
		{"bad utf8", []byte{1, 's', 0, 0, 1, 0, 0, 0, 0xff, 0}, "UTF-8"},
	} {
		d := wire.NewDecoder(c.body, wire.LittleEndian)
		DecodeVariant(d, 1)
		if d.Err() == nil || !strings.Contains(d.Err().Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, d.Err(), c.want)
		}
	}
	// Too deep: a variant holding a variant ... 64 deep.
	e := wire.NewEncoder(nil, wire.LittleEndian)
	for range 64 {
		e.Variant("v")
	}
	e.Variant("u")
	e.Uint32(1)
	d := wire.NewDecoder(e.Bytes(), wire.LittleEndian)
	DecodeVariant(d, 1)
	if d.Err() == nil || !strings.Contains(d.Err().Error(), "deeper") {
		t.Fatalf("65 nested variants: %v", d.Err())
	}
	// A Variant whose data does not match its signature is an encoding error.
	e = wire.NewEncoder(nil, wire.LittleEndian)
	EncodeVariant(e, &kdbusv1.Variant{Sig: "s", Data: []byte{1, 0, 0, 0}}, 1)
	if e.Err() == nil {
		t.Fatal("encoding a Variant with truncated data: no error")
	}
	// An empty one is an empty ay.
	e = wire.NewEncoder(nil, wire.LittleEndian)
	EncodeVariant(e, nil, 1)
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, "v")
	if err != nil || vals[0].(wire.Variant).Sig != "ay" {
		t.Fatalf("nil Variant encodes as %v, %v", vals, err)
	}
}

// TestVariantFDs: a variant holding descriptors (as a pidfd in credentials) keeps duplicates
// of its own, and sends them again.
func TestVariantFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	body := variantBody(t, wire.LittleEndian, "v", wire.Variant{Sig: "(sh)", Value: wire.Struct{"pipe", wire.UnixFD(0)}})
	d := wire.NewDecoder(body, wire.LittleEndian)
	d.SetFDs([]int{int(w.Fd())})
	v := DecodeVariant(d, 1)
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	defer v.Close()
	var got struct {
		Name string
		FD   int
	}
	if err := v.Store(&got); err != nil || got.Name != "pipe" || got.FD == int(w.Fd()) || got.FD < 0 {
		t.Fatalf("Store: %+v, %v; want a duplicate of %d", got, err, w.Fd())
	}
	if _, err := unix.Write(got.FD, []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read %q, %v through the duplicate", buf, err)
	}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	EncodeVariant(e, v, 1)
	if e.Err() != nil || len(e.FDs()) != 1 {
		t.Fatalf("re-encoding: %v, %d descriptors", e.Err(), len(e.FDs()))
	}
	if err := v.Close(); err != nil || len(v.GetFds()) != 0 {
		t.Fatalf("Close: %v", err)
	}
}

func FuzzDecodeVariant(f *testing.F) {
	for _, v := range []wire.Variant{
		{Sig: "u", Value: uint32(1)},
		{Sig: "au", Value: []uint32{1, 2}},
		{Sig: "a{sv}", Value: []wire.DictEntry{{Key: "a", Value: wire.Variant{Sig: "as", Value: []any{"x"}}}}},
		{Sig: "(ybnqiuxtdsog)", Value: wire.Struct{byte(1), true, int16(-1), uint16(2), int32(-3), uint32(4), int64(-5), uint64(6), 7.5, "s", wire.ObjectPath("/o"), wire.Signature("g")}},
		{Sig: "v", Value: wire.Variant{Sig: "aay", Value: []any{[]byte{1}}}},
	} {
		f.Add(variantBody(f, wire.LittleEndian, "v", v), false)
		f.Add(variantBody(f, wire.BigEndian, "v", v), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, big bool) {
		o := wire.LittleEndian
		if big {
			o = wire.BigEndian
		}
		d := wire.NewDecoder(body, o)
		v := DecodeVariant(d, 1)
		if d.Err() != nil {
			return
		}
		if _, err := v.Decode(); err != nil {
			t.Fatalf("a decoded variant of type %q does not read: %v", v.GetSig(), err)
		}
		e := wire.NewEncoder(nil, o)
		EncodeVariant(e, v, 1)
		if e.Err() != nil {
			t.Fatalf("a decoded variant does not encode: %v", e.Err())
		}
		d2 := wire.NewDecoder(e.Bytes(), o)
		v2 := DecodeVariant(d2, 1)
		if d2.Err() != nil || !proto.Equal(v, v2) {
			t.Fatalf("re-decoded %v, want %v (%v)", v2, v, d2.Err())
		}
		if !bytes.Equal(e.Bytes(), body[:d.Offset()]) {
			t.Fatalf("re-encoded %x, want %x", e.Bytes(), body[:d.Offset()])
		}
	})
}
