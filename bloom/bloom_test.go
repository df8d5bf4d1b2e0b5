package bloom

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sipVectors are the SipHash-2-4 outputs of the SipHash reference
// implementation's test vectors (vectors.h, from the paper's authors): key
// 00 01 … 0f, input 00 01 … (i-1) for vector i, output as little-endian
// bytes.
var sipVectors = [64]string{
	"310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
	"b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
	"6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
	"fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
	"db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
	"98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
	"94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
	"a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
	"ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
	"b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
	"d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
	"f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
	"51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
	"b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
	"bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
	"e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
}

func TestSipHash24(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	in := make([]byte, len(sipVectors))
	for i := range in {
		in[i] = byte(i)
	}
	for i, v := range sipVectors {
		want := binary.LittleEndian.Uint64(mustHex(t, v))
		if got := sipHash24(k0, k1, in[:i]); got != want {
			t.Errorf("vector %d ([]byte): got %016x, want %016x", i, got, want)
		}
		if got := sipHash24(k0, k1, string(in[:i])); got != want {
			t.Errorf("vector %d (string): got %016x, want %016x", i, got, want)
		}
	}
	// The paper's worked example: 15 bytes, output a129ca6149be45e5.
	if got := sipHash24(k0, k1, in[:15]); got != 0xa129ca6149be45e5 {
		t.Errorf("paper example: got %016x", got)
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		p   Params
		max int
		ok  bool
	}{
		{Default, 32, true},
		{Params{8, 1}, 64, true},
		{Params{8, 64}, 64, true},
		{Params{8, 65}, 64, false},
		{Params{56, 64}, 64, true},
		{Params{64, 32}, 32, true},
		{Params{64, 33}, 32, false},
		{Params{4096, 32}, 32, true},
		{Params{4096, 0}, 32, false},
		{Params{4104, 8}, 0, false},
		{Params{0, 8}, 0, false},
		{Params{-8, 8}, 0, false},
		{Params{12, 1}, 64, false},
		{Params{64, -1}, 32, false},
	} {
		if got := tc.p.MaxHashes(); got != tc.max {
			t.Errorf("%+v.MaxHashes() = %d, want %d", tc.p, got, tc.max)
		}
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New with invalid params did not panic")
		}
	}()
	New(Params{7, 1})
}

func TestContains(t *testing.T) {
	words := func(w ...uint64) Filter { return Filter{words: w, hashes: 1} }
	for _, tc := range []struct {
		f, mask Filter
		want    bool
	}{
		{words(0, 0), words(0, 0), true},
		{words(5, 1), words(0, 0), true},
		{words(5, 1), Filter{}, true},
		{Filter{}, Filter{}, true},
		{words(5, 1), words(1, 1), true},
		{words(5, 1), words(5, 1), true},
		{words(5, 1), words(2, 0), false},
		{words(5, 1), words(0, 3), false},
		{words(5, 1), words(1, 1, 0), true},
		{words(5, 1), words(1, 1, 8), false},
		{words(5, 1, 8), words(1, 1), true},
		{Filter{}, words(1), false},
	} {
		if got := tc.f.Contains(tc.mask); got != tc.want {
			t.Errorf("%x.Contains(%x) = %v, want %v", tc.f.words, tc.mask.words, got, tc.want)
		}
	}

	// A filter contains the mask of each element it holds.
	f := New(Default)
	f.Add("member:Foo")
	f.Add("interface:org.example")
	for _, e := range []string{"member:Foo", "interface:org.example"} {
		m := New(Default)
		m.Add(e)
		if !f.Contains(m) {
			t.Errorf("filter does not contain %q", e)
		}
	}
	m := New(Default)
	m.Add("member:Foo")
	m.Add("interface:org.example")
	if !f.Contains(m) || !m.Contains(f) || !m.Equal(f) {
		t.Error("same elements, different filters")
	}
}

func TestBytes(t *testing.T) {
	f := New(Default)
	f.Add("member:Foo")
	b := f.Bytes()
	if len(b) != Default.Size {
		t.Fatalf("%d bytes", len(b))
	}
	g, err := FromBytes(Default, b)
	if err != nil || !g.Equal(f) || g.Params() != Default {
		t.Fatalf("FromBytes(Bytes) = %v, %v; want %v", g, err, f)
	}
	if _, err := FromBytes(Default, b[:8]); !errors.Is(err, ErrSize) {
		t.Errorf("short input: %v", err)
	}
	if _, err := FromBytes(Params{3, 1}, b[:3]); err == nil {
		t.Error("bad params accepted")
	}
	if f.IsZero() || !New(Default).IsZero() || !(Filter{}).IsZero() {
		t.Error("IsZero")
	}
	f.Reset()
	if !f.IsZero() {
		t.Error("Reset left bits")
	}
}

func TestZeroFilterAddPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "zero Filter") {
			t.Errorf("recovered %v", r)
		}
	}()
	var f Filter
	f.Add("member:x")
}

// TestPrefixElements checks which elements AddPrefixes adds, through their
// single-element filters.
func TestPrefixElements(t *testing.T) {
	for _, tc := range []struct {
		value string
		sep   byte
		want  []string
	}{
		{"/org/example/Obj", '/', []string{"/org/example/Obj", "/org/example/", "/org/example", "/org/", "/org", "/"}},
		{"/", '/', []string{"/"}},
		{"a..b", '.', []string{"a..b", "a..", "a.", "a"}},
		{"x/", '/', []string{"x/", "x"}},
		{"plain", '.', []string{"plain"}},
		{"", '.', []string{""}},
	} {
		got := New(Default)
		got.AddPrefixes("k", tc.value, tc.sep)
		want := New(Default)
		for _, w := range tc.want {
			want.Add("k:" + w)
		}
		if !got.Equal(want) {
			t.Errorf("AddPrefixes(%q, %q): got %s, want the elements %q", tc.value, tc.sep, got, tc.want)
		}
	}
	// Values longer than the stack buffer.
	long := strings.Repeat("/segment", 40)
	got := New(Default)
	got.AddPrefixes("k", long, '/')
	want := New(Default)
	for v := long; v != ""; v = v[:strings.LastIndexByte(v, '/')] {
		want.Add("k:" + v)
		want.Add("k:" + v[:strings.LastIndexByte(v, '/')+1])
	}
	if !got.Equal(want) {
		t.Error("long value")
	}
}

func TestRuleElements(t *testing.T) {
	elements := func(es ...string) Filter {
		f := New(Default)
		for _, e := range es {
			f.Add(e)
		}
		return f
	}
	for _, tc := range []struct {
		rule string
		want Filter
	}{
		{"", elements()},
		{"sender='org.example',destination=':1.2',eavesdrop='true'", elements()},
		{"type='method_call'", elements("message-type:method_call")},
		{"type='error',member='M'", elements("message-type:error", "member:M")},
		{"arg3path='/org/example/'", elements("arg3-slash-prefix:/")},
		{"arg3path='org/example'", elements("arg3-slash-prefix:org/")},
		{"arg3path='name'", elements("arg3:name")},
		{"arg3path=''", elements("arg3:")},
		{"arg0='a',arg63='z'", elements("arg0:a", "arg63:z")},
	} {
		r, err := match.Parse(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := ForRule(Default, r); !got.Equal(tc.want) {
			t.Errorf("ForRule(%q) = %s, want %s", tc.rule, got, tc.want)
		}
	}
}

func TestMessageWithoutArguments(t *testing.T) {
	// A method call: ForMessage names its type; the bus only uses filters
	// of signals.
	m := &wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Serial: 1, Path: "/a", Member: "M"}
	want := New(Default)
	want.Add("message-type:method_call")
	want.Add("member:M")
	want.Add("path:/a")
	want.AddPrefixes("path-slash-prefix", "/a", '/')
	if got := ForMessage(Default, m); !got.Equal(want) {
		t.Errorf("got %s, want %s", got, want)
	}
	// A broken body or signature adds no arguments, and does not panic.
	for _, tc := range []struct {
		sig  wire.Signature
		body []byte
	}{
		{"s", []byte{1, 2}},
		{"(s", []byte{0, 0, 0, 0, 0}},
		{"sv", []byte{1, 0, 0, 0, 'x', 0, 0, 0, 1, 'z', 0}},
	} {
		m := *m
		m.Signature, m.Body = tc.sig, tc.body
		got := ForMessage(Default, &m)
		if tc.sig == "sv" {
			x := New(Default)
			copy(x.Words(), want.Words())
			x.Add("arg0:x")
			x.AddPrefixes("arg0-dot-prefix", "x", '.')
			x.AddPrefixes("arg0-slash-prefix", "x", '/')
			if !got.Equal(x) {
				t.Errorf("%q: got %s, want %s", tc.sig, got, x)
			}
			continue
		}
		if !got.Equal(want) {
			t.Errorf("%q: got %s, want %s", tc.sig, got, want)
		}
	}
}
