package ctl_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/internal/ctl"
	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// exampleCodecs are the codecs of every request, response and signal of the examples, as
// kdbusctl builds them from served descriptors.
var exampleCodecs = sync.OnceValues(func() (*generator.Mapping, []*generator.MessageCodec) {
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
	add(greeterv1.File_greeter_greeter_proto)
	add(vehiclev1.File_vehicle_vehicle_proto)
	add(vib.File_com_example_vibrator_IVibrator_proto)
	m, err := generator.NewMapping(files)
	if err != nil {
		panic(err)
	}
	var codecs []*generator.MessageCodec
	for _, s := range m.Services() {
		for _, mm := range s.Methods {
			codecs = append(codecs, mm.In, mm.Out)
		}
		for _, sg := range s.Signals {
			codecs = append(codecs, sg.Codec)
		}
	}
	return m, codecs
})

func pick(selector byte) *generator.MessageCodec {
	_, codecs := exampleCodecs()
	return codecs[int(selector)%len(codecs)]
}

// FuzzJSONRoundTrip reads JSON into the message of a codec, encodes it by the mapping,
// decodes the body and expects the same message, as kdbusctl call does with a request.
func FuzzJSONRoundTrip(f *testing.F) {
	_, codecs := exampleCodecs()
	for i, c := range codecs {
		f.Add(byte(i), "{}")
		switch c.Desc.FullName() {
		case "example.greeter.v1.DescribeRequest":
			f.Add(byte(i), `{"person": {"name": "Ada", "age": 36, "tags": ["math", "x"]}, "scores": {"b": 2, "a": -1}, "mood": "MOOD_GRUMPY"}`)
			f.Add(byte(i), `{"scores": {"": 0}, "mood": 7}`)
		case "example.greeter.v1.AddRequest":
			f.Add(byte(i), `{"a": "-9223372036854775808", "b": 1}`)
		case "example.vehicle.v1.DoorChanged":
			f.Add(byte(i), `{"door": "front-left", "open": true}`)
		case "example.vehicle.v1.DriveRequest":
			f.Add(byte(i), `{"speedKmh": 1e300}`)
		}
	}
	f.Fuzz(func(t *testing.T, selector byte, data string) {
		m, _ := exampleCodecs()
		c := pick(selector)
		in := c.New()
		if err := ctl.JSONToMessage(m, []byte(data), in); err != nil {
			return
		}
		body, err := ctl.EncodeMessage(c, in)
		if err != nil {
			return
		}
		if _, err := wire.Unmarshal(body, wire.NativeOrder, wire.Signature(c.Sig)); err != nil {
			t.Fatalf("%s: the body is not D-Bus data of signature %q: %v", c.Desc.FullName(), c.Sig, err)
		}
		out, err := ctl.DecodeMessage(c, &wire.Message{Order: wire.NativeOrder, Signature: wire.Signature(c.Sig), Body: body})
		if err != nil {
			t.Fatalf("%s: decoding what was encoded: %v", c.Desc.FullName(), err)
		}
		if !proto.Equal(in, out) {
			t.Fatalf("%s: the round trip changed the message:\n in:  %v\n out: %v", c.Desc.FullName(), in, out)
		}
	})
}

// FuzzDecodeBody decodes bodies from another process as kdbusctl does replies, signals and
// monitored messages: without panicking, and what decodes re-encodes to a body that decodes
// to the same message.
func FuzzDecodeBody(f *testing.F) {
	_, codecs := exampleCodecs()
	for i, c := range codecs {
		in := c.New()
		if c.Desc.FullName() == "example.greeter.v1.DescribeReply" {
			m, _ := exampleCodecs()
			_ = ctl.JSONToMessage(m, []byte(`{"summary": "s", "people": [{"name": "Ada", "tags": ["a"]}]}`), in)
		}
		body, err := ctl.EncodeMessage(c, in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), body)
	}
	f.Add(byte(0), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, selector byte, body []byte) {
		c := pick(selector)
		msg := &wire.Message{Order: wire.LittleEndian, Signature: wire.Signature(c.Sig), Body: body}
		got, err := ctl.DecodeMessage(c, msg)
		if err != nil {
			return
		}
		again, err := ctl.EncodeMessage(c, got)
		if err != nil {
			t.Fatalf("%s: re-encoding a decoded message: %v", c.Desc.FullName(), err)
		}
		back, err := ctl.DecodeMessage(c, &wire.Message{Order: wire.NativeOrder, Signature: msg.Signature, Body: again})
		if err != nil || !proto.Equal(got, back) {
			t.Fatalf("%s: the re-encoded body decodes to %v, %v; want %v", c.Desc.FullName(), back, err, got)
		}
	})
}

// FuzzArgsFromJSON converts JSON to D-Bus values by a signature, as kdbusctl does for
// interfaces without descriptors: what converts marshals and unmarshals again.
func FuzzArgsFromJSON(f *testing.F) {
	f.Add("a(suas)a{si}i", `[[["Ada", 36, ["x"]]], {"a": 1}, 2]`)
	f.Add("sv", `["x", {"signature": "ai", "value": [1, 2]}]`)
	f.Add("ayobgd", `["AAE=", "/a/b", true, "a{sv}", 1.5]`)
	f.Add("ynqtx", `[255, -3, 65535, 1, -1]`)
	f.Fuzz(func(t *testing.T, sig, data string) {
		if wire.ValidateSignature(sig) != nil {
			return
		}
		vals, err := ctl.ArgsFromJSON(wire.Signature(sig), []byte(data))
		if err != nil {
			return
		}
		body, err := wire.Marshal(wire.LittleEndian, wire.Signature(sig), vals...)
		if err != nil {
			return
		}
		back, err := wire.Unmarshal(body, wire.LittleEndian, wire.Signature(sig))
		if err != nil {
			t.Fatalf("unmarshalling what was marshalled: %v", err)
		}
		if _, err := json.Marshal(ctl.ValuesToJSON(back)); err != nil {
			t.Fatalf("the values do not print as JSON: %v", err)
		}
	})
}
