// Package roundtrip checks generated codecs against the introspection XML generated with them:
// it fills messages with random but valid contents (and the corner cases: zero messages, unset
// optional fields, each member of each oneof), encodes them with a method's codecs, checks that
// the bytes are a valid D-Bus body of the signature the XML declares, decodes them back and
// expects the same message.
package roundtrip

import (
	"fmt"
	"io"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Seeds is how many random messages each direction of each method gets.
const Seeds = 60

// Service checks that xmlDoc (a generated <Service>_IntrospectXML) is the document of desc's
// interface XML, and that every method desc declares has the signatures and annotations the
// XML gives it.
func Service(t *testing.T, xmlDoc string, desc *runtime.ServiceDesc) {
	t.Helper()
	if want := introspect.Document([]string{desc.XML}, nil); xmlDoc != want {
		t.Errorf("%s: the introspection document is not Document(ServiceDesc.XML)", desc.Interface)
	}
	iface := parseInterface(t, xmlDoc, desc.Interface)
	if len(iface.Methods) != len(desc.Methods) {
		t.Errorf("%s: the XML has %d methods, the descriptor %d", desc.Interface, len(iface.Methods), len(desc.Methods))
	}
	for i, md := range desc.Methods {
		if i >= len(iface.Methods) {
			break
		}
		xm := iface.Methods[i]
		in, out := signatures(xm)
		if xm.Name != md.Name || in != md.In || out != md.Out {
			t.Errorf("%s: method %d is %s(%s)->(%s) in the XML, %s(%s)->(%s) in the descriptor", desc.Interface, i, xm.Name, in, out, md.Name, md.In, md.Out)
		}
		if hasAnnotation(xm.Annotations, introspect.AnnotationNoReply) != md.NoReply {
			t.Errorf("%s.%s: the NoReply annotation and the descriptor disagree", desc.Interface, md.Name)
		}
	}
}

// Method checks both codecs of m against the XML and round-trips samples through them.
func Method[Req, Resp any](t *testing.T, xmlDoc string, m *runtime.UnaryMethod[Req, Resp]) {
	t.Helper()
	iface := parseInterface(t, xmlDoc, m.Interface)
	var xm *introspect.Method
	for i := range iface.Methods {
		if iface.Methods[i].Name == m.Name {
			xm = &iface.Methods[i]
		}
	}
	if xm == nil {
		t.Fatalf("%s: no method %s in the XML", m.Interface, m.Name)
	}
	in, out := signatures(*xm)
	t.Run(m.Name+"/in", func(t *testing.T) { Codec(t, m.In, in, countArgs(*xm, "in")) })
	t.Run(m.Name+"/out", func(t *testing.T) { Codec(t, m.Out, out, countArgs(*xm, "out")) })
	t.Run(m.Name+"/dynamic", func(t *testing.T) {
		var svc *generator.ServiceMapping
		for _, fd := range []protoreflect.FileDescriptor{msg(new(Req)).ProtoReflect().Descriptor().ParentFile(), msg(new(Resp)).ProtoReflect().Descriptor().ParentFile()} {
			if svc == nil {
				svc = mappingOf(t, fd).Service(m.Interface)
			}
		}
		if svc == nil {
			// The service is declared in another file than its request and response.
			t.Skipf("%s is declared neither with the request nor with the response of %s", m.Interface, m.Name)
		}
		mm := svc.Method(m.Name)
		if mm == nil {
			t.Fatalf("the mapping of %s has no method %s", m.Interface, m.Name)
		}
		Dynamic(t, m.In, mm.In)
		Dynamic(t, m.Out, mm.Out)
	})
}

// Stream checks a streaming method against its opening call in the XML (the arguments and the
// org.kdbusgo.Stream annotations) and round-trips samples through both codecs: the frames of
// each streaming side, the single request or response of the other.
func Stream[Req, Resp any](t *testing.T, xmlDoc string, m *runtime.StreamMethod[Req, Resp]) {
	t.Helper()
	iface := parseInterface(t, xmlDoc, m.Interface)
	var xm *introspect.Method
	for i := range iface.Methods {
		if iface.Methods[i].Name == m.Name {
			xm = &iface.Methods[i]
		}
	}
	if xm == nil {
		t.Fatalf("%s: no method %s in the XML", m.Interface, m.Name)
	}
	kind := map[[2]bool]string{{false, true}: "server", {true, false}: "client", {true, true}: "bidi"}[[2]bool{m.ClientStreams, m.ServerStreams}]
	if kind == "" {
		t.Fatalf("%s.%s: a stream method with neither side streaming", m.Interface, m.Name)
	}
	if got, ok := annotation(xm.Annotations, "org.kdbusgo.Stream"); !ok || got != kind {
		t.Errorf("%s.%s: annotation org.kdbusgo.Stream is %q (present %v), want %q", m.Interface, m.Name, got, ok, kind)
	}
	in, out := signatures(*xm)
	inSig, inArgs := in, countArgs(*xm, "in")
	if m.ClientStreams {
		if in != "" {
			t.Errorf("%s.%s: the opening call of a client stream has in-arguments %q", m.Interface, m.Name, in)
		}
		v, ok := annotation(xm.Annotations, "org.kdbusgo.Stream.In")
		if !ok {
			t.Fatalf("%s.%s: no org.kdbusgo.Stream.In annotation", m.Interface, m.Name)
		}
		inSig, inArgs = wire.Signature(v), SigCount(t, v)
	} else if _, ok := annotation(xm.Annotations, "org.kdbusgo.Stream.In"); ok {
		t.Errorf("%s.%s: org.kdbusgo.Stream.In on a method whose client does not stream", m.Interface, m.Name)
	}
	outSig, outArgs := out, countArgs(*xm, "out")
	if m.ServerStreams {
		if out != "" {
			t.Errorf("%s.%s: the opening call of a server stream has out-arguments %q", m.Interface, m.Name, out)
		}
		v, ok := annotation(xm.Annotations, "org.kdbusgo.Stream.Out")
		if !ok {
			t.Fatalf("%s.%s: no org.kdbusgo.Stream.Out annotation", m.Interface, m.Name)
		}
		outSig, outArgs = wire.Signature(v), SigCount(t, v)
	} else if _, ok := annotation(xm.Annotations, "org.kdbusgo.Stream.Out"); ok {
		t.Errorf("%s.%s: org.kdbusgo.Stream.Out on a method whose server does not stream", m.Interface, m.Name)
	}
	t.Run(m.Name+"/in", func(t *testing.T) { Codec(t, m.In, inSig, inArgs) })
	t.Run(m.Name+"/out", func(t *testing.T) { Codec(t, m.Out, outSig, outArgs) })
}

// SigCount returns how many complete types signature sig holds: the number of arguments of
// a body of that signature.
func SigCount(t *testing.T, sig string) int {
	t.Helper()
	if err := wire.ValidateSignature(sig); err != nil {
		t.Fatalf("signature %q: %v", sig, err)
	}
	n := 0
	for depth, i := 0, 0; i < len(sig); i++ {
		switch sig[i] {
		case '(', '{':
			depth++
		case ')', '}':
			depth--
		case 'a':
			continue // an array's element type follows
		}
		if depth == 0 {
			n++
		}
	}
	return n
}

// Codec checks that c's signature is sig and round-trips samples of T through it.
func Codec[T any](t *testing.T, c kdbusimpl.Codec[T], sig wire.Signature, nargs int) {
	t.Helper()
	if c.Sig != sig {
		t.Fatalf("codec signature %q, the XML says %q", c.Sig, sig)
	}
	if err := wire.ValidateSignature(string(sig)); err != nil {
		t.Fatalf("signature: %v", err)
	}
	// A nil message encodes as the zero message.
	zero := encode(t, c, new(T), wire.LittleEndian)
	if got := encode(t, c, nil, wire.LittleEndian); string(got) != string(zero) {
		t.Errorf("a nil message does not encode as the zero message")
	}
	for i, m := range Samples[T](Seeds) {
		for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
			RoundTrip(t, c, m, order, nargs, fmt.Sprintf("sample %d (%s)", i, order))
		}
	}
}

// RoundTrip encodes m, validates the body against the codec's signature, decodes it and
// compares, then re-encodes the result and expects the same bytes.
func RoundTrip[T any](t *testing.T, c kdbusimpl.Codec[T], m *T, order wire.ByteOrder, nargs int, what string) {
	t.Helper()
	body, fds := encodeFDs(t, c, m, order)
	vals, err := wire.Unmarshal(body, order, c.Sig)
	if err != nil {
		t.Fatalf("%s: the body is not valid D-Bus data of signature %q: %v\nmessage: %v", what, c.Sig, err, m)
	}
	if len(vals) != nargs {
		t.Fatalf("%s: %d values, the XML declares %d arguments", what, len(vals), nargs)
	}
	if err := wire.ValidateBody(body, order, c.Sig, len(fds)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := new(T)
	d := wire.NewDecoder(body, order)
	d.SetFDs(fds)
	c.Decode(d, got)
	// Memfd payloads are mapped from the descriptors: unmap them once compared.
	defer func() {
		for _, h := range d.Held() {
			h.Close()
		}
	}()
	if err := d.Done(); err != nil {
		t.Fatalf("%s: decoding: %v\nmessage: %v", what, err, m)
	}
	if !proto.Equal(msg(m), msg(got)) {
		t.Fatalf("%s: the round trip changed the message:\n sent: %v\n got:  %v", what, msg(m), msg(got))
	}
	if again := encode(t, c, got, order); string(again) != string(body) {
		t.Fatalf("%s: re-encoding the decoded message gives other bytes", what)
	}
}

func encode[T any](t *testing.T, c kdbusimpl.Codec[T], m *T, order wire.ByteOrder) []byte {
	t.Helper()
	b, _ := encodeFDs(t, c, m, order)
	return b
}

// encodeFDs encodes m and returns the body with the descriptors its h values refer to, which
// stay open until the test ends.
func encodeFDs[T any](t *testing.T, c kdbusimpl.Codec[T], m *T, order wire.ByteOrder) ([]byte, []int) {
	t.Helper()
	e := new(wire.Encoder)
	e.Reset(nil, order)
	c.Encode(e, m)
	t.Cleanup(e.Sent)
	if err := e.Err(); err != nil {
		t.Fatalf("encoding: %v\nmessage: %v", err, m)
	}
	return e.Bytes(), append([]int(nil), e.FDs()...)
}

// Decode decodes body with c and returns the decoder's error.
func Decode[T any](c kdbusimpl.Codec[T], body []byte, order wire.ByteOrder) (*T, error) {
	m := new(T)
	d := wire.NewDecoder(body, order)
	c.Decode(d, m)
	return m, d.Done()
}

func msg[T any](m *T) proto.Message { return any(m).(proto.Message) }

func parseInterface(t *testing.T, xmlDoc, name string) *introspect.Interface {
	t.Helper()
	node, err := introspect.ParseString(xmlDoc)
	if err != nil {
		t.Fatal(err)
	}
	iface := node.Interface(name)
	if iface == nil {
		t.Fatalf("the XML has no interface %s", name)
	}
	return iface
}

func signatures(m introspect.Method) (in, out wire.Signature) {
	for _, a := range m.Args {
		if a.Direction == "out" {
			out += wire.Signature(a.Type)
		} else {
			in += wire.Signature(a.Type)
		}
	}
	return in, out
}

func countArgs(m introspect.Method, dir string) int {
	n := 0
	for _, a := range m.Args {
		if a.Direction == dir || dir == "in" && a.Direction == "" {
			n++
		}
	}
	return n
}

func annotation(as []introspect.Annotation, name string) (string, bool) {
	for _, a := range as {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

func hasAnnotation(as []introspect.Annotation, name string) bool {
	for _, a := range as {
		if a.Name == name && a.Value == "true" {
			return true
		}
	}
	return false
}

// Samples returns messages of type T: the smallest valid message, one message per member of
// each of its oneofs, and n randomly filled ones (deterministic: the seeds are fixed).
func Samples[T any](n int) []*T {
	zero := new(T)
	Minimal(msg(zero).ProtoReflect())
	out := []*T{zero}
	md := msg(new(T)).ProtoReflect().Descriptor()
	r := rand.New(rand.NewSource(1))
	for i := 0; i < md.Oneofs().Len(); i++ {
		o := md.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		for j := 0; j < o.Fields().Len(); j++ {
			m := new(T)
			pm := msg(m).ProtoReflect()
			f := &filler{r: r, left: budget}
			f.fill(pm, 0)
			fd := o.Fields().Get(j)
			pm.Set(fd, f.value(pm, fd, 1))
			out = append(out, m)
		}
	}
	for i := 0; i < n; i++ {
		m := new(T)
		Fill(msg(m).ProtoReflect(), rand.New(rand.NewSource(int64(i+100))), 0)
		out = append(out, m)
	}
	return out
}

// fullDepth bounds how deeply Full nests messages, so that recursive types end.
const fullDepth = 45

// Full returns a message of type T with every field set, to any depth (recursive types down
// to fullDepth levels): lists and maps with two elements, each oneof set to its member of
// index pick (modulo the number of members), scalars random (seeded by pick). It reaches what
// Samples leaves out: the far end of long chains of messages and of wide messages.
func Full[T any](pick int) *T {
	m := new(T)
	f := &fullFiller{r: rand.New(rand.NewSource(int64(pick) + 1000)), pick: pick}
	f.fill(msg(m).ProtoReflect(), 0)
	return m
}

type fullFiller struct {
	r    *rand.Rand
	pick int
}

func (f *fullFiller) fill(m protoreflect.Message, depth int) {
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Value" {
		m.Set(md.Fields().ByName("string_value"), protoreflect.ValueOfString("full"))
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if o.Fields().Get(f.pick%o.Fields().Len()) != fd {
				continue
			}
		}
		isMsg := fd.Message() != nil && !fd.IsMap() || fd.IsMap() && fd.MapValue().Message() != nil
		if isMsg && depth >= fullDepth {
			continue
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for range 2 {
				l.Append(f.value(l.NewElement, fd, depth+1))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for range 2 {
				mp.Set(scalar(fd.MapKey(), f.r).MapKey(), f.value(mp.NewValue, fd.MapValue(), depth+1))
			}
		default:
			m.Set(fd, f.value(func() protoreflect.Value { return m.NewField(fd) }, fd, depth+1))
		}
	}
}

func (f *fullFiller) value(newValue func() protoreflect.Value, fd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	if fd.Message() != nil {
		v := newValue()
		f.fill(v.Message(), depth)
		return v
	}
	return scalar(fd, f.r)
}

// Minimal sets what a message needs to be valid and to survive the mapping: its required
// fields (to their zero values; D-Bus carries them without presence), and the kind of a
// google.protobuf.Value (to null; a Value without a kind travels as null).
func Minimal(m protoreflect.Message) {
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Value" {
		if m.WhichOneof(md.Oneofs().ByName("kind")) == nil {
			m.Set(md.Fields().ByName("null_value"), protoreflect.ValueOfEnum(0))
		}
		return
	}
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		if fd.Cardinality() != protoreflect.Required || m.Has(fd) {
			continue
		}
		if fd.Message() != nil {
			v := m.NewField(fd)
			Minimal(v.Message())
			m.Set(fd, v)
			continue
		}
		m.Set(fd, fd.Default())
	}
}

// maxDepth bounds how deeply Fill nests messages, so that recursive types end.
const maxDepth = 3

// budget bounds how many messages one Fill creates: wide messages with lists and maps of
// messages would otherwise grow exponentially with the depth.
const budget = 300

// Fill sets a random selection of m's fields to random values. Required fields are always set.
func Fill(m protoreflect.Message, r *rand.Rand, depth int) {
	f := &filler{r: r, left: budget}
	f.fill(m, depth)
}

type filler struct {
	r    *rand.Rand
	left int // messages still to create; at 0, optional message fields stay unset
}

func (f *filler) fill(m protoreflect.Message, depth int) {
	r := f.r
	f.left--
	if f.left <= 0 {
		depth = maxDepth // only what is required from here on
	}
	md := m.Descriptor()
	if md.FullName() == "google.protobuf.Value" {
		f.fillValue(m, depth)
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			continue
		}
		isMsg := fd.Message() != nil && !fd.IsMap()
		switch {
		case fd.Cardinality() == protoreflect.Required:
		case fd.IsList() || fd.IsMap():
			if depth >= maxDepth && (isMsg || fd.IsMap() && fd.MapValue().Message() != nil) {
				continue
			}
		case depth >= maxDepth && isMsg:
			continue
		case r.Intn(3) == 0:
			continue // unset
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for n := r.Intn(4); n > 0; n-- {
				l.Append(f.elem(l.NewElement, fd, depth+1))
			}
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for n := r.Intn(4); n > 0; n-- {
				k := scalar(fd.MapKey(), r).MapKey()
				mp.Set(k, f.elem(mp.NewValue, fd.MapValue(), depth+1))
			}
		default:
			m.Set(fd, f.value(m, fd, depth+1))
		}
	}
	for i := 0; i < md.Oneofs().Len(); i++ {
		o := md.Oneofs().Get(i)
		if o.IsSynthetic() {
			continue
		}
		k := r.Intn(o.Fields().Len() + 1)
		if k == o.Fields().Len() {
			continue // unset
		}
		fd := o.Fields().Get(k)
		if fd.Message() != nil && depth >= maxDepth && md.FullName() != "google.protobuf.Value" {
			continue
		}
		m.Set(fd, f.value(m, fd, depth+1))
	}
}

// value returns a random value for a singular field of m.
func (f *filler) value(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	if fd.Message() != nil {
		v := m.NewField(fd)
		f.fill(v.Message(), depth)
		return v
	}
	return scalar(fd, f.r)
}

// elem returns a random list element or map value.
func (f *filler) elem(newElem func() protoreflect.Value, fd protoreflect.FieldDescriptor, depth int) protoreflect.Value {
	if fd.Message() != nil {
		v := newElem()
		f.fill(v.Message(), depth)
		return v
	}
	return scalar(fd, f.r)
}

var words = []string{"", "a", "hello", "héllo wörld", "日本語", "emoji 🙂", "tab\there", "line\nbreak", strings.Repeat("x", 40)}

func scalar(fd protoreflect.FieldDescriptor, r *rand.Rand) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(r.Intn(2) == 0)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, math.MaxInt32, math.MinInt32, r.Int31() - r.Int31()}[r.Intn(6)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32([]uint32{0, 1, math.MaxUint32, r.Uint32()}[r.Intn(4)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, r.Int63() - r.Int63()}[r.Intn(6)])
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64([]uint64{0, 1, math.MaxUint64, r.Uint64()}[r.Intn(4)])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{0, 1.5, -2.25, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(-1)), r.Float32() * 1e6}[r.Intn(7)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{0, 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), r.NormFloat64() * 1e12}[r.Intn(7)])
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(words[r.Intn(len(words))])
	case protoreflect.BytesKind:
		b := make([]byte, r.Intn(6))
		r.Read(b)
		return protoreflect.ValueOfBytes(b)
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return protoreflect.ValueOfEnum(0) // the only value: others do not survive null's encoding
		}
		vals := fd.Enum().Values()
		if fd.Enum().IsClosed() || r.Intn(5) != 0 {
			return protoreflect.ValueOfEnum(vals.Get(r.Intn(vals.Len())).Number())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(r.Int31n(1000) - 500)) // an unknown value of an open enum
	}
	panic(fmt.Sprintf("roundtrip: no random value for %v", fd.Kind()))
}

// fillValue sets a google.protobuf.Value to a random kind: always one, since a Value without a
// kind travels as null.
func (f *filler) fillValue(m protoreflect.Message, depth int) {
	r := f.r
	kinds := m.Descriptor().Oneofs().ByName("kind").Fields()
	n := kinds.Len()
	if depth >= maxDepth+1 {
		n = 4 // null, number, string, bool: no nesting
	}
	var fd protoreflect.FieldDescriptor
	for {
		fd = kinds.Get(r.Intn(kinds.Len()))
		if fd.Message() == nil || n == kinds.Len() {
			break
		}
	}
	switch fd.Name() {
	case "number_value":
		m.Set(fd, protoreflect.ValueOfFloat64([]float64{0, -1, 3.5, 1e300, r.NormFloat64()}[r.Intn(5)]))
	case "null_value":
		m.Set(fd, protoreflect.ValueOfEnum(0))
	default:
		m.Set(fd, f.value(m, fd, depth+1))
	}
}

// Redecode is the property a fuzz target checks on bytes from a peer: decoding them either
// fails with an error or gives a message that encodes without error and decodes again to an
// equal message. It never panics. fds are the message's descriptors, which h values index.
func Redecode[T any](t *testing.T, c kdbusimpl.Codec[T], body []byte, order wire.ByteOrder, fds ...int) {
	t.Helper()
	m, held, err := decodeHeld(c, body, order, fds)
	defer closeAll(held)
	if err != nil {
		return
	}
	e := new(wire.Encoder)
	e.Reset(nil, order)
	c.Encode(e, m)
	defer e.Sent()
	if err := e.Err(); err != nil {
		t.Fatalf("a decoded message does not encode: %v\nmessage: %v", err, msg(m))
	}
	again, held2, err := decodeHeld(c, e.Bytes(), order, e.FDs())
	defer closeAll(held2)
	if err != nil {
		t.Fatalf("a re-encoded message does not decode: %v\nmessage: %v", err, msg(m))
	}
	if !proto.Equal(msg(m), msg(again)) {
		t.Fatalf("decode, encode, decode changed the message:\n first: %v\nsecond: %v", msg(m), msg(again))
	}
}

// decodeHeld decodes body with descriptors fds and returns the message with what decoding
// mapped (memfd payloads), which the caller closes once done with the message.
func decodeHeld[T any](c kdbusimpl.Codec[T], body []byte, order wire.ByteOrder, fds []int) (*T, []io.Closer, error) {
	m := new(T)
	d := wire.NewDecoder(body, order)
	d.SetFDs(fds)
	c.Decode(d, m)
	return m, d.Held(), d.Done()
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// Seed adds the encodings of a few samples of T, in both byte orders, to a fuzz corpus, each
// with the given selector byte in front.
func Seed[T any](f *testing.F, c kdbusimpl.Codec[T], selector byte) {
	for _, m := range Samples[T](3) {
		for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
			var e wire.Encoder
			e.Reset(nil, order)
			c.Encode(&e, m)
			e.Sent()
			f.Add(append([]byte{selector, byte(order)}, e.Bytes()...))
		}
	}
}

// mappings caches the generator.Mapping of each file, by path.
var mappings sync.Map // string -> *generator.Mapping

// mappingOf returns the mapping of the services of fd, built from its descriptor and its
// imports as a service serves them.
func mappingOf(t *testing.T, fd protoreflect.FileDescriptor) *generator.Mapping {
	t.Helper()
	if m, ok := mappings.Load(fd.Path()); ok {
		return m.(*generator.Mapping)
	}
	var files []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		files = append(files, protodesc.ToFileDescriptorProto(fd))
	}
	add(fd)
	m, err := generator.NewMapping(files)
	if err != nil {
		t.Fatalf("mapping %s from its descriptors: %v", fd.Path(), err)
	}
	mappings.Store(fd.Path(), m)
	return m
}

// Dynamic checks that the codec a generator.Mapping makes from the served descriptors carries
// every sample message of c's type as the generated codec c does: the same bytes, and the same
// message back.
func Dynamic[T any](t *testing.T, c kdbusimpl.Codec[T], dc *generator.MessageCodec) {
	t.Helper()
	if string(c.Sig) != dc.Sig {
		t.Fatalf("the dynamic codec has signature %q, the generated one %q", dc.Sig, c.Sig)
	}
	for i, m := range Samples[T](Seeds) {
		want, fds := encodeFDs(t, c, m, wire.LittleEndian)
		b, err := proto.Marshal(msg(m))
		if err != nil {
			t.Fatal(err)
		}
		dm := dc.New()
		if err := proto.Unmarshal(b, dm); err != nil {
			t.Fatal(err)
		}
		e := new(wire.Encoder)
		e.Reset(nil, wire.LittleEndian)
		dc.Encode(e, dm)
		t.Cleanup(e.Sent)
		if err := e.Err(); err != nil {
			t.Fatalf("sample %d: the dynamic codec fails: %v\nmessage: %v", i, err, msg(m))
		}
		if string(e.Bytes()) != string(want) || len(e.FDs()) != len(fds) {
			t.Fatalf("sample %d: the dynamic codec writes other bytes than the generated one\nmessage: %v", i, msg(m))
		}
		back := dc.New()
		d := wire.NewDecoder(want, wire.LittleEndian)
		d.SetFDs(fds)
		dc.Decode(d, back)
		if err := d.Done(); err != nil {
			closeAll(d.Held())
			t.Fatalf("sample %d: the dynamic codec does not decode the generated bytes: %v", i, err)
		}
		// Memfd payloads are mapped from the descriptors: unmap them once copied.
		b, err = proto.Marshal(back)
		closeAll(d.Held())
		if err != nil {
			t.Fatal(err)
		}
		got := new(T)
		if err := proto.Unmarshal(b, msg(got)); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(msg(m), msg(got)) {
			t.Fatalf("sample %d: the dynamic codec decodes another message:\n sent: %v\n got:  %v", i, msg(m), msg(got))
		}
	}
}
