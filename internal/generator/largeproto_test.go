package generator

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/sourcecontextpb"
	"google.golang.org/protobuf/types/known/typepb"
	"google.golang.org/protobuf/types/pluginpb"
)

// largeFiles are protobuf's own files with the largest messages available offline:
// descriptor.proto (FileDescriptorSet is deep, wide and recursive), plugin.proto, type.proto
// and api.proto, with their imports, in dependency order.
var largeFiles = []protoreflect.FileDescriptor{
	anypb.File_google_protobuf_any_proto,
	sourcecontextpb.File_google_protobuf_source_context_proto,
	typepb.File_google_protobuf_type_proto,
	apipb.File_google_protobuf_api_proto,
	descriptorpb.File_google_protobuf_descriptor_proto,
	pluginpb.File_google_protobuf_compiler_plugin_proto,
}

// largeService writes a .proto file with a service over every message of the large files:
// Describe and Echo, and an rpc M<i> per message taking and returning it, unary, server, client
// or bidi streaming in turn. It returns the file and a Go test that round-trips every method.
func largeService() (src, test string) {
	var msgs []protoreflect.MessageDescriptor
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			if m := ms.Get(i); !m.IsMapEntry() {
				msgs = append(msgs, m)
				walk(m.Messages())
			}
		}
	}
	for _, f := range largeFiles[2:] {
		walk(f.Messages())
	}
	var b, t strings.Builder
	b.WriteString(`syntax = "proto3";

package kdbus.test.large;

import "google/protobuf/api.proto";
import "google/protobuf/compiler/plugin.proto";
import "google/protobuf/descriptor.proto";
import "google/protobuf/type.proto";

option go_package = "example.com/large;largepb";

// Descriptors takes and returns protobuf's own descriptors.
service Descriptors {
  // Describe answers a set of files as protoc-gen-* answers a request.
  rpc Describe(google.protobuf.FileDescriptorSet) returns (google.protobuf.compiler.CodeGeneratorResponse);
  // Echo returns the set it is given.
  rpc Echo(google.protobuf.FileDescriptorSet) returns (google.protobuf.FileDescriptorSet);
`)
	t.WriteString("package largepb\n\nimport (\n\t\"testing\"\n\n\t\"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip\"\n)\n\n")
	t.WriteString("func TestRoundTrip(t *testing.T) {\n\troundtrip.Service(t, Descriptors_IntrospectXML, &Descriptors_ServiceDesc)\n")
	t.WriteString("\troundtrip.Method(t, Descriptors_IntrospectXML, &descriptors_Describe)\n\troundtrip.Method(t, Descriptors_IntrospectXML, &descriptors_Echo)\n")
	for i, m := range msgs {
		in, out, check := "", "", "Method"
		switch i % 4 {
		case 1:
			out, check = "stream ", "Stream"
		case 2:
			in, check = "stream ", "Stream"
		case 3:
			in, out, check = "stream ", "stream ", "Stream"
		}
		fmt.Fprintf(&b, "  rpc M%d(%s%s) returns (%s%s);\n", i, in, m.FullName(), out, m.FullName())
		fmt.Fprintf(&t, "\troundtrip.%s(t, Descriptors_IntrospectXML, &descriptors_M%d)\n", check, i)
	}
	b.WriteString("}\n")
	t.WriteString("}\n")
	return b.String(), t.String()
}

// largeBusTest serves Describe and Echo on a private dbus-daemon and calls them with the real
// descriptors of protobuf's own files.
const largeBusTest = `package largepb

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/pluginpb"
)

type describer struct{ UnimplementedDescriptorsServer }

func (describer) Describe(_ context.Context, set *descriptorpb.FileDescriptorSet) (*pluginpb.CodeGeneratorResponse, error) {
	resp := &pluginpb.CodeGeneratorResponse{SupportedFeatures: proto.Uint64(3)}
	for _, f := range set.GetFile() {
		resp.File = append(resp.File, &pluginpb.CodeGeneratorResponse_File{Name: proto.String(f.GetName()), Content: proto.String(prototext.Format(f))})
	}
	return resp, nil
}

func (describer) Echo(_ context.Context, set *descriptorpb.FileDescriptorSet) (*descriptorpb.FileDescriptorSet, error) {
	return set, nil
}

func TestDescribeOverTheBus(t *testing.T) {
	bus := dbustest.Start(t, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := RegisterDescriptorsServer(srv, describer{}); err != nil {
		t.Fatal(err)
	}
	cli, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c := NewDescriptorsClient(cli, runtime.WithDestination(srv.UniqueName()))
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range []protoreflect.FileDescriptor{descriptorpb.File_google_protobuf_descriptor_proto, pluginpb.File_google_protobuf_compiler_plugin_proto, apipb.File_google_protobuf_api_proto} {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	echo, err := c.Echo(ctx, set)
	if err != nil || !proto.Equal(echo, set) {
		t.Fatalf("Echo: %v (equal: %v)", err, proto.Equal(echo, set))
	}
	resp, err := c.Describe(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFile()) != len(set.GetFile()) || resp.GetSupportedFeatures() != 3 {
		t.Fatalf("Describe answered %d files (features %d), want %d", len(resp.GetFile()), resp.GetSupportedFeatures(), len(set.GetFile()))
	}
	for i, f := range resp.GetFile() {
		back := new(descriptorpb.FileDescriptorProto)
		if err := prototext.Unmarshal([]byte(f.GetContent()), back); err != nil || f.GetName() != set.File[i].GetName() || !proto.Equal(back, set.File[i]) {
			t.Errorf("file %d: %s came back otherwise (%v)", i, f.GetName(), err)
		}
	}
}
`

// TestPluginLargeRealProtos runs protoc with the built plugin and protoc-gen-go, as a new user
// would, on services whose requests and responses are the messages of protobuf's own
// descriptor.proto, plugin.proto, type.proto and api.proto. protoc reads those files as the
// descriptors the linked Go packages were built from (--descriptor_set_in), so that the fields
// the generated code uses are those of the Go types (the include files of an older protoc
// declare fields those types no longer have, such as FileOptions.php_generic_services). The plugin must succeed, warn only about
// fallbacks, give signatures D-Bus accepts, and generate a package that passes go vet,
// round-trips every method's messages and carries real descriptors through a dbus-daemon.
func TestPluginLargeRealProtos(t *testing.T) {
	protoc := requireTool(t, "protoc")
	goTool := requireTool(t, "go")
	protocGenGo := requireTool(t, "protoc-gen-go")
	plugin := buildPlugin(t)
	out, err := os.MkdirTemp("testdata", "vet-large-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })

	// large.proto is compiled here against the same descriptors, and handed to protoc with
	// them: protoc then reads no .proto file, not even its own older copies of protobuf's.
	src, test := largeService()
	srcDir, in := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(srcDir, "large.proto"), src)
	compiled := compile(t, []string{srcDir}, "large.proto")
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range largeFiles {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	set.File = append(set.File, compiled[len(compiled)-1])
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(in, "set.pb"), string(b))
	abs, err := filepath.Abs(out)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--descriptor_set_in=set.pb",
		"--plugin=protoc-gen-kdbus=" + plugin, "--kdbus_out=paths=source_relative:" + abs,
		"--plugin=protoc-gen-go=" + protocGenGo, "--go_out=paths=source_relative:" + abs,
		"large.proto"}
	cmd := exec.Command(protoc, args...)
	cmd.Dir = in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, stderr.String())
	}
	warnings := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	for _, w := range warnings {
		if !strings.HasPrefix(w, "protoc-gen-kdbus: google/protobuf/") || !strings.Contains(w, "to fit D-Bus's limits: ") {
			t.Errorf("unexpected output: %s", w)
		}
	}
	t.Logf("%d fallback warnings, such as:\n%s", len(warnings), warnings[0])
	files := readTree(t, out)
	checkFits(t, files)
	if !strings.Contains(files["large.Descriptors.introspect.xml"], `<method name="Describe">`) {
		t.Fatal("no Describe method in the introspection XML")
	}

	writeFile(t, filepath.Join(out, "roundtrip_test.go"), test)
	writeFile(t, filepath.Join(out, "bus_test.go"), largeBusTest)
	pkg := "./" + filepath.ToSlash(out)
	if msg, err := exec.Command(goTool, "vet", pkg).CombinedOutput(); err != nil {
		t.Fatalf("go vet on the generated package: %v\n%s", err, msg)
	}
	if msg, err := exec.Command(goTool, "test", "-count=1", pkg).CombinedOutput(); err != nil {
		t.Fatalf("round trips through the generated package: %v\n%s", err, msg)
	}
}

// systemIncludeProto uses protobuf's own messages from the include files installed with protoc.
const systemIncludeProto = `syntax = "proto3";

package kdbus.test.system;

import "google/protobuf/api.proto";
import "google/protobuf/descriptor.proto";
import "google/protobuf/type.proto";

option go_package = "example.com/system;systempb";

service Descriptors {
  rpc Describe(google.protobuf.FileDescriptorSet) returns (google.protobuf.FileDescriptorProto);
  rpc Options(google.protobuf.FileOptions) returns (stream google.protobuf.SourceCodeInfo);
  rpc Types(stream google.protobuf.Type) returns (google.protobuf.Api);
}
`

// TestPluginSystemIncludes runs protoc with the plugin as a new user would, with the include
// files installed with protoc (an older descriptor.proto than the Go packages may have been
// built from): generation succeeds, each fallback is a warning at the field's position in the
// system's descriptor.proto, and every signature fits.
func TestPluginSystemIncludes(t *testing.T) {
	protoc := requireTool(t, "protoc")
	plugin := buildPlugin(t)
	includes := protocIncludes(t)
	in, out := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(in, "system.proto"), systemIncludeProto)
	args := append([]string{"-I", in}, includes...)
	args = append(args, "--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out=paths=source_relative:"+out, filepath.Join(in, "system.proto"))
	cmd := exec.Command(protoc, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	located := regexp.MustCompile(`^protoc-gen-kdbus: google/protobuf/descriptor\.proto:\d+:\d+: google\.protobuf\.[A-Za-z_.]+: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=google\.protobuf\.[A-Za-z_.]+\) in the D-Bus mapping of system\.proto, to fit D-Bus's limits: .+$`)
	for _, l := range lines {
		if !located.MatchString(l) {
			t.Errorf("unexpected output: %s", l)
		}
	}
	t.Logf("%d fallback warnings", len(lines))
	checkFits(t, readTree(t, out))
}
