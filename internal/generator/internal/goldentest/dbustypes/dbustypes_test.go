package dbustypespb

import (
	"os"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/introspect"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
)

func encode[T any](t *testing.T, c kdbusimpl.Codec[T], m *T) ([]byte, error) {
	t.Helper()
	e := wire.NewEncoder(nil, wire.LittleEndian)
	c.Encode(e, m)
	return e.Bytes(), e.Err()
}

func decode[T any](t *testing.T, c kdbusimpl.Codec[T], body []byte) *T {
	t.Helper()
	m := new(T)
	d := wire.NewDecoder(body, wire.LittleEndian)
	c.Decode(d, m)
	if err := d.Done(); err != nil {
		t.Fatalf("decoding %q: %v", c.Sig, err)
	}
	return m
}

// TestSignatures: the codecs' signatures are the XML's, and the XML has the exact types.
func TestSignatures(t *testing.T) {
	node, err := introspect.ParseString(Exact_IntrospectXML)
	if err != nil {
		t.Fatal(err)
	}
	iface := node.Interface("org.example.Exact1")
	sigs := map[string]string{}
	for _, m := range iface.Methods {
		var in strings.Builder
		for _, a := range m.Args {
			if a.Direction == "in" {
				in.WriteString(a.Type)
			}
		}
		sigs[m.Name] = in.String()
	}
	for name, c := range map[string]wire.Signature{
		"Narrow": exact_Narrow.In.Sig, "Nested": exact_Nested.In.Sig, "Echo": exact_Echo.In.Sig,
	} {
		if sigs[name] != string(c) {
			t.Errorf("%s: XML in-signature %q, codec %q", name, sigs[name], c)
		}
	}
	if want := "ynqoagaqa{sv}(sy)hss"; sigs["Narrow"] != want {
		t.Errorf("Narrow takes %q, want %q", sigs["Narrow"], want)
	}
	if want := "aasa{sa{sv}}a{oa{sa{sv}}}"; sigs["Nested"] != want {
		t.Errorf("Nested takes %q, want %q", sigs["Nested"], want)
	}
}

func TestNarrowTypes(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	req := &NarrowRequest{
		Byte: 255, Short: -32768, Ushort: 65535, Path: "/a/b", Sigs: []string{"a{sv}", "u"},
		BytesAsList: []uint32{1, 65535},
		Options:     map[string]*kdbusv1.Variant{"gids": kdbusv1.MustVariant([]uint32{1, 2})},
		Pair:        &Pair{Name: "p", Level: 3},
		Fd:          &kdbusv1.UnixFD{Fd: int32(devnull.Fd())},
		Unnamed:     "u", Renamed: "r",
	}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	exact_Narrow.In.Encode(e, req)
	if e.Err() != nil {
		t.Fatal(e.Err())
	}
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, exact_Narrow.In.Sig)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0] != byte(255) || vals[1] != int16(-32768) || vals[2] != uint16(65535) || vals[3] != wire.ObjectPath("/a/b") {
		t.Fatalf("values %#v", vals[:4])
	}
	if p := vals[7].(wire.Struct); p[0] != "p" || p[1] != byte(3) {
		t.Fatalf("pair %#v", p)
	}
	got := new(NarrowRequest)
	d := wire.NewDecoder(e.Bytes(), wire.LittleEndian)
	d.SetFDs(e.FDs())
	exact_Narrow.In.Decode(d, got)
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	if got.Fd.GetFd() < 0 || got.Fd.GetFd() == req.Fd.GetFd() {
		t.Fatalf("fd %d: want a duplicate of %d", got.Fd.GetFd(), req.Fd.GetFd())
	}
	os.NewFile(uintptr(got.Fd.GetFd()), "dup").Close()
	got.Fd, req.Fd = nil, nil
	if !proto.Equal(got, req) {
		t.Fatalf("round trip: %v, want %v", got, req)
	}
	// Values that do not fit the narrow types are encoding errors naming the field.
	for _, bad := range []*NarrowRequest{{Byte: 256}, {Short: 40000}, {Ushort: 1 << 16}, {BytesAsList: []uint32{70000}}, {Pair: &Pair{Level: 300}}} {
		bad.Fd, bad.Path = &kdbusv1.UnixFD{Fd: int32(devnull.Fd())}, "/"
		if _, err := encode(t, exact_Narrow.In, bad); err == nil || !strings.Contains(err.Error(), "does not fit") {
			t.Errorf("%v: error %v, want a range error", bad, err)
		}
	}
}

func TestNestedTypes(t *testing.T) {
	vm := func(k string, v any) *VariantMap {
		return &VariantMap{Values: map[string]*kdbusv1.Variant{k: kdbusv1.MustVariant(v)}}
	}
	req := &NestedRequest{
		Lists:    []*Strings{{Values: []string{"a", "b"}}, {}},
		Settings: map[string]*VariantMap{"ipv4": vm("method", "auto")},
		Objects: map[string]*Interfaces{"/org/x/1": {Values: map[string]*VariantMap{
			"org.x.Device": vm("Size", uint64(1)<<40),
		}}},
	}
	body, err := encode(t, exact_Nested.In, req)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := wire.Unmarshal(body, wire.LittleEndian, "aasa{sa{sv}}a{oa{sa{sv}}}")
	if err != nil {
		t.Fatal(err)
	}
	if l := vals[0].([]any); len(l) != 2 || len(l[0].([]any)) != 2 {
		t.Fatalf("aas = %#v", vals[0])
	}
	got := decode(t, exact_Nested.In, body)
	if !proto.Equal(got, req) {
		t.Fatalf("round trip: %v, want %v", got, req)
	}
	size, err := kdbusv1.As[uint64](got.Objects["/org/x/1"].Values["org.x.Device"].Values["Size"])
	if err != nil || size != 1<<40 {
		t.Fatalf("Size = %d, %v", size, err)
	}
	// An object path key is checked.
	req.Objects = map[string]*Interfaces{"not a path": {}}
	if _, err := encode(t, exact_Nested.In, req); err == nil {
		t.Fatal("an invalid object path key encoded")
	}
}

func TestVariantWhole(t *testing.T) {
	v := kdbusv1.MustVariant(map[string]any{"a": []string{"x"}})
	body, err := encode(t, exact_Echo.In, v)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, exact_Echo.In, body); !proto.Equal(got, v) {
		t.Fatalf("round trip: %v, want %v", got, v)
	}
	resp := &NarrowResponse{Bare: kdbusv1.MustVariant(int32(-1))}
	body, err = encode(t, exact_Narrow.Out, resp)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := wire.Unmarshal(body, wire.LittleEndian, "ava{os}v")
	if err != nil || vals[2].(wire.Variant).Value != int32(-1) {
		t.Fatalf("%#v, %v", vals, err)
	}
}
