package generator

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/introspect"
	"google.golang.org/protobuf/compiler/protogen"
)

// realWorldCases are .proto files in the shapes of well-known RPC test services (under
// testdata/realworld): connect-go's ping service and the gRPC interoperability services, with
// every kind of rpc. Each case is one Go package.
var realWorldCases = map[string][]string{
	"connectping": {"connectping/ping.proto"},
	"grpctesting": {"grpctesting/empty.proto", "grpctesting/messages.proto", "grpctesting/test.proto"},
}

// TestPluginRealWorldProtos runs protoc with the built plugin and protoc-gen-go on the
// real-world protos, as a new user would, and expects no warning, every rpc in the
// introspection XML with its stream annotations, every method in the generated client and
// server interfaces in the agreed shape, and a package that passes go vet and round-trips
// every method's messages through its codecs.
func TestPluginRealWorldProtos(t *testing.T) {
	protoc := requireTool(t, "protoc")
	goTool := requireTool(t, "go")
	protocGenGo := requireTool(t, "protoc-gen-go")
	plugin := buildPlugin(t)
	src := filepath.Join("testdata", "realworld")
	out, err := os.MkdirTemp("testdata", "vet-realworld-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })

	var pkgs []string
	for _, name := range []string{"connectping", "grpctesting"} {
		files := realWorldCases[name]
		args := append([]string{"-I", src}, protocIncludes(t)...)
		args = append(args,
			"--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out=paths=source_relative:"+out,
			"--plugin=protoc-gen-go="+protocGenGo, "--go_out=paths=source_relative:"+out)
		for _, f := range files {
			args = append(args, filepath.Join(src, f))
		}
		cmd := exec.Command(protoc, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("protoc %v: %v\n%s", args, err, stderr.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("%s: protoc or the plugin warned:\n%s", name, stderr.String())
		}

		// The same files, described by protogen, give the services and methods to expect.
		req := request(t, compile(t, protoImportPaths(src), files...), files, "paths=source_relative")
		gen, err := protogen.Options{}.New(req)
		if err != nil {
			t.Fatal(err)
		}
		var test strings.Builder
		methods := 0
		for _, f := range gen.Files {
			if !f.Generate {
				continue
			}
			for _, s := range f.Services {
				checkRealWorldXML(t, filepath.Join(out, f.GeneratedFilenamePrefix+"."+string(s.Desc.Name())+".introspect.xml"), s)
				writeRealWorldChecks(&test, s)
				methods += len(s.Methods)
			}
			if len(f.Services) > 0 {
				if _, err := os.Stat(filepath.Join(out, f.GeneratedFilenamePrefix+".kdbus.go")); err != nil {
					t.Errorf("%s: no Go file of ours: %v", f.Desc.Path(), err)
				}
			}
		}
		if methods == 0 {
			t.Fatalf("%s: no methods found in the protos", name)
		}
		pkgName := string(gen.Files[len(gen.Files)-1].GoPackageName)
		header := "package " + pkgName + "\n\nimport (\n\t\"context\"\n\t\"testing\"\n\n" +
			"\t\"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip\"\n" +
			"\t\"github.com/kdbus-go/kdbus/runtime\"\n)\n\n" +
			"var _ context.Context\n\n"
		writeFile(t, filepath.Join(out, name, "realworld_test.go"), header+test.String())
		pkgs = append(pkgs, "./"+filepath.ToSlash(filepath.Join(out, name)))
	}
	if msg, err := exec.Command(goTool, append([]string{"vet"}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("go vet on the generated packages: %v\n%s", err, msg)
	}
	if msg, err := exec.Command(goTool, append([]string{"test", "-count=1"}, pkgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("round trips through the generated packages: %v\n%s", err, msg)
	}
}

// streamKindOf is the org.kdbusgo.Stream annotation a method should carry, "" for a unary one.
func streamKindOf(m *protogen.Method) string {
	switch c, s := m.Desc.IsStreamingClient(), m.Desc.IsStreamingServer(); {
	case c && s:
		return "bidi"
	case c:
		return "client"
	case s:
		return "server"
	}
	return ""
}

// checkRealWorldXML expects every rpc of s as a method of the introspection file at path, with
// the stream annotation its kind calls for.
func checkRealWorldXML(t *testing.T, path string, s *protogen.Service) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("service %s: %v", s.Desc.FullName(), err)
		return
	}
	node, err := introspect.ParseString(string(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	iface := node.Interface(string(s.Desc.FullName()))
	if iface == nil {
		t.Fatalf("%s: no interface %s", path, s.Desc.FullName())
	}
	if len(iface.Methods) != len(s.Methods) {
		t.Errorf("%s: %d methods in the XML, %d rpcs", path, len(iface.Methods), len(s.Methods))
	}
	for _, m := range s.Methods {
		var xm *introspect.Method
		for i := range iface.Methods {
			if iface.Methods[i].Name == string(m.Desc.Name()) {
				xm = &iface.Methods[i]
			}
		}
		if xm == nil {
			t.Errorf("%s: rpc %s is not in the XML", path, m.Desc.Name())
			continue
		}
		got := ""
		for _, a := range xm.Annotations {
			if a.Name == AnnotationStream {
				got = a.Value
			}
		}
		if want := streamKindOf(m); got != want {
			t.Errorf("%s: method %s has stream annotation %q, want %q", path, m.Desc.Name(), got, want)
		}
	}
}

// writeRealWorldChecks writes, for service s, compile-time assertions that the generated
// client and server interfaces have every rpc in the agreed shape, and a test that
// round-trips each method's messages.
func writeRealWorldChecks(b *strings.Builder, s *protogen.Service) {
	svc := s.GoName
	var client, server strings.Builder
	fmt.Fprintf(b, "func Test%sRoundTrip(t *testing.T) {\n", svc)
	fmt.Fprintf(b, "\troundtrip.Service(t, %s_IntrospectXML, &%s_ServiceDesc)\n", svc, svc)
	for _, m := range s.Methods {
		in, out := m.Input.GoIdent.GoName, m.Output.GoIdent.GoName
		check := "Method"
		switch streamKindOf(m) {
		case "bidi":
			fmt.Fprintf(&client, "\t%s(context.Context, ...runtime.CallOption) (runtime.BidiStreamingClient[%s, %s], error)\n", m.GoName, in, out)
			fmt.Fprintf(&server, "\t%s(runtime.BidiStreamingServer[%s, %s]) error\n", m.GoName, in, out)
			check = "Stream"
		case "client":
			fmt.Fprintf(&client, "\t%s(context.Context, ...runtime.CallOption) (runtime.ClientStreamingClient[%s, %s], error)\n", m.GoName, in, out)
			fmt.Fprintf(&server, "\t%s(runtime.ClientStreamingServer[%s, %s]) error\n", m.GoName, in, out)
			check = "Stream"
		case "server":
			fmt.Fprintf(&client, "\t%s(context.Context, *%s, ...runtime.CallOption) (runtime.ServerStreamingClient[%s], error)\n", m.GoName, in, out)
			fmt.Fprintf(&server, "\t%s(*%s, runtime.ServerStreamingServer[%s]) error\n", m.GoName, in, out)
			check = "Stream"
		default:
			fmt.Fprintf(&client, "\t%s(context.Context, *%s, ...runtime.CallOption) (*%s, error)\n", m.GoName, in, out)
			fmt.Fprintf(&server, "\t%s(context.Context, *%s) (*%s, error)\n", m.GoName, in, out)
		}
		fmt.Fprintf(b, "\troundtrip.%s(t, %s_IntrospectXML, &%s_%s)\n", check, svc, unexport(svc), m.GoName)
	}
	b.WriteString("}\n\n")
	fmt.Fprintf(b, "var _ interface {\n%s} = %sClient(nil)\n\n", client.String(), svc)
	fmt.Fprintf(b, "var _ interface {\n%s} = %sServer(nil)\n\n", server.String(), svc)
	fmt.Fprintf(b, "var _ %sServer = Unimplemented%sServer{}\n\n", svc, svc)
}
