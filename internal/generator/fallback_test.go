package generator

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/wire"
)

// limitCases are .proto files whose typed D-Bus form goes beyond D-Bus's limits: the plugin
// must generate them with the fallback and warn, with the position of each field it
// serializes. want are the warning lines after the "protoc-gen-kdbus: " prefix.
func limitCases() []badCase {
	var cases []badCase
	add := func(name, src string, want ...func(src string) string) {
		c := badCase{name: name, proto: src}
		for _, w := range want {
			c.want = append(c.want, w(src))
		}
		cases = append(cases, c)
	}

	// A signature over 255 characters: 300 int32 fields.
	var long strings.Builder
	long.WriteString(badHeader + "service Svc {\n  rpc Big(BigRequest) returns (google.protobuf.Empty);\n}\n\nmessage BigRequest {\n")
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&long, "  int32 f%d = %d;\n", i, i)
	}
	long.WriteString("}\n")
	add("signature too long", long.String(), func(src string) string {
		return pos(src, "rpc Big") + `: bad\.v1\.Svc\.Big: its in-arguments are sent as one argument, ay big_request holding bad\.v1\.BigRequest serialized as protobuf \(annotated org\.kdbusgo\.Proto\), to fit D-Bus's limits: the in-arguments of rpc bad\.v1\.Svc\.Big \(the fields of bad\.v1\.BigRequest\) would have a signature of 300 characters; D-Bus allows 255, and serializing its message fields would not be enough`
	})

	// Arrays nested 40 deep: every singular message field is a 0-or-1 element array.
	var deep strings.Builder
	deep.WriteString(badHeader + "service Svc {\n  rpc Deep(L0) returns (google.protobuf.Empty);\n}\n\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&deep, "message L%d { L%d next = 1; }\n", i, i+1)
	}
	deep.WriteString("message L40 { int32 x = 1; }\n")
	add("arrays nested too deeply", deep.String(), func(src string) string {
		return pos(src, "L31 next") + `: bad\.v1\.L30\.next: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=bad\.v1\.L31\) in the D-Bus mapping of bad\.proto, to fit D-Bus's limits: in the in-arguments of rpc bad\.v1\.Svc\.Deep \(the fields of bad\.v1\.L0\), arrays would nest 40 deep; D-Bus allows 32 in one signature`
	})

	// Structs nested 40 deep without arrays: proto2 required message fields.
	var structs strings.Builder
	structs.WriteString("syntax = \"proto2\";\n\npackage bad.v1;\n\nservice Svc {\n  rpc Deep(S0) returns (S0);\n}\n\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&structs, "message S%d { required S%d next = 1; }\n", i, i+1)
	}
	structs.WriteString("message S40 { optional int32 x = 1; }\n")
	add("structs nested too deeply", structs.String(), func(src string) string {
		return pos(src, "required S33 next") + `: bad\.v1\.S32\.next: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=bad\.v1\.S33\) in the D-Bus mapping of bad\.proto, to fit D-Bus's limits: in the in-arguments of rpc bad\.v1\.Svc\.Deep \(the fields of bad\.v1\.S0\), structs would nest 40 deep; D-Bus allows 32 in one signature`
	})

	// Oneofs inside oneofs: each level is a struct, a variant and a struct, which signatures
	// do not count across variants, but values do.
	var variants strings.Builder
	variants.WriteString(badHeader + "service Svc {\n  rpc Deep(O0) returns (google.protobuf.Empty);\n}\n\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&variants, "message O%d { oneof o { O%d next = 1; } }\n", i, i+1)
	}
	variants.WriteString("message O30 { int32 x = 1; }\n")
	add("values nested too deeply through variants", variants.String(), func(src string) string {
		return pos(src, "O21 next") + `: bad\.v1\.O20\.next: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=bad\.v1\.O21\) in the D-Bus mapping of bad\.proto, to fit D-Bus's limits: in the in-arguments of rpc bad\.v1\.Svc\.Deep \(the fields of bad\.v1\.O0\), values would nest 90 containers deep, counting variants; D-Bus allows 64 here`
	})

	// A oneof member whose variant's own signature is too long.
	var member strings.Builder
	member.WriteString(badHeader + "service Svc {\n  rpc Pick(Choice) returns (google.protobuf.Empty);\n}\n\nmessage Choice {\n  oneof c {\n    Big big = 1;\n  }\n}\n\nmessage Big {\n")
	for i := 1; i <= 260; i++ {
		fmt.Fprintf(&member, "  bool b%d = %d;\n", i, i)
	}
	member.WriteString("}\n")
	add("oneof member too long for a variant", member.String(), func(src string) string {
		return pos(src, "Big big = 1") + `: bad\.v1\.Choice\.big: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=bad\.v1\.Big\) in the D-Bus mapping of bad\.proto, to fit D-Bus's limits: the variant of oneof member bad\.v1\.Choice\.big would have a signature of 262 characters; D-Bus allows 255`
	})

	// 252 fields fit in a method's arguments, not in a frame: a Data signal adds 5 characters.
	var wide strings.Builder
	wide.WriteString(badHeader + "service Svc {\n  rpc Unary(Wide) returns (Wide);\n  rpc Watch(google.protobuf.Empty) returns (stream Wide);\n}\n\nmessage Wide {\n")
	for i := 1; i <= 252; i++ {
		fmt.Fprintf(&wide, "  int32 f%d = %d;\n", i, i)
	}
	wide.WriteString("}\n")
	add("frame signature too long", wide.String(),
		func(src string) string {
			return pos(src, "rpc Unary") + `: bad\.v1\.Svc\.Unary: its in-arguments are sent as one argument, ay wide holding bad\.v1\.Wide serialized as protobuf \(annotated org\.kdbusgo\.Proto\), to fit D-Bus's limits: the server stream frames of rpc bad\.v1\.Svc\.Watch \(the fields of bad\.v1\.Wide\) would have a signature of 252 characters; a stream frame allows 250 \(D-Bus's 255, less the 5 of the Data signal around it\), and serializing its message fields would not be enough`
		},
		func(src string) string {
			return pos(src, "rpc Unary") + `: bad\.v1\.Svc\.Unary: its out-arguments are sent as one argument, ay wide holding bad\.v1\.Wide serialized as protobuf \(annotated org\.kdbusgo\.Proto\), to fit D-Bus's limits: the server stream frames of rpc bad\.v1\.Svc\.Watch \(the fields of bad\.v1\.Wide\) would have a signature of 252 characters; a stream frame allows 250 \(D-Bus's 255, less the 5 of the Data signal around it\), and serializing its message fields would not be enough`
		},
		func(src string) string {
			return pos(src, "rpc Watch") + `: bad\.v1\.Svc\.Watch: its server stream frames are sent as one argument, ay wide holding bad\.v1\.Wide serialized as protobuf \(annotated org\.kdbusgo\.Proto\), to fit D-Bus's limits: the server stream frames of rpc bad\.v1\.Svc\.Watch \(the fields of bad\.v1\.Wide\) would have a signature of 252 characters; a stream frame allows 250 \(D-Bus's 255, less the 5 of the Data signal around it\), and serializing its message fields would not be enough`
		})

	// 32 nested arrays fit in a method's arguments, not in a frame, which is an array element.
	var deepFrame strings.Builder
	deepFrame.WriteString(badHeader + "service Svc {\n  rpc Unary(L0) returns (L0);\n  rpc Send(stream L0) returns (google.protobuf.Empty);\n}\n\n")
	for i := 0; i < 32; i++ {
		fmt.Fprintf(&deepFrame, "message L%d { L%d next = 1; }\n", i, i+1)
	}
	deepFrame.WriteString("message L32 { int32 x = 1; }\n")
	add("frame arrays nested too deeply", deepFrame.String(), func(src string) string {
		return pos(src, "L30 next") + `: bad\.v1\.L29\.next: sent as serialized protobuf \(ay, annotated org\.kdbusgo\.Proto=bad\.v1\.L30\) in the D-Bus mapping of bad\.proto, to fit D-Bus's limits: in the client stream frames of rpc bad\.v1\.Svc\.Send \(the fields of bad\.v1\.L0\), arrays would nest 32 deep; D-Bus allows 31 in one signature inside a stream frame`
	})

	// A memfd field inside a message that travels whole: its bytes travel inline.
	var memfd strings.Builder
	memfd.WriteString(badHeader + "service Svc {\n  rpc Put(Big) returns (google.protobuf.Empty);\n}\n\nmessage Big {\n  bytes blob = 1 [(kdbus.v1.field).memfd = true];\n")
	for i := 2; i <= 300; i++ {
		fmt.Fprintf(&memfd, "  int32 f%d = %d;\n", i, i)
	}
	memfd.WriteString("}\n")
	add("memfd inside a message sent whole", memfd.String(),
		func(src string) string {
			return pos(src, "rpc Put") + `: bad\.v1\.Svc\.Put: its in-arguments are sent as one argument, ay big holding bad\.v1\.Big serialized as protobuf \(annotated org\.kdbusgo\.Proto\), to fit D-Bus's limits: the in-arguments of rpc bad\.v1\.Svc\.Put \(the fields of bad\.v1\.Big\) would have a signature of 300 characters; D-Bus allows 255, and serializing its message fields would not be enough`
		},
		func(string) string {
			return `bad\.proto: bad\.v1\.Big\.blob is marked memfd, but where bad\.v1\.Big travels whole, serialized to fit D-Bus's limits, the bytes travel inline inside it, not as a memfd`
		})

	return cases
}

// warningLines returns the plugin's warnings, without their prefix; protoc's own lines are
// left out.
func warningLines(stderr string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if rest, ok := strings.CutPrefix(l, "protoc-gen-kdbus: "); ok {
			out = append(out, rest)
		}
	}
	return strings.Join(out, "\n")
}

// checkFits expects every method and signal of every generated introspection file to have
// signatures D-Bus accepts, and each property type too.
func checkFits(t *testing.T, files map[string]string) {
	t.Helper()
	n := 0
	for name, content := range files {
		if !strings.HasSuffix(name, ".introspect.xml") {
			continue
		}
		node, err := introspect.ParseString(content)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, iface := range node.Interfaces {
			for _, m := range iface.Methods {
				var in, out string
				for _, a := range m.Args {
					if a.Direction == "out" {
						out += a.Type
					} else {
						in += a.Type
					}
				}
				for _, sig := range []string{in, out} {
					if err := wire.ValidateSignature(sig); err != nil {
						t.Errorf("%s: method %s: %v", name, m.Name, err)
					}
				}
				n++
			}
			for _, s := range iface.Signals {
				var sig string
				for _, a := range s.Args {
					sig += a.Type
				}
				if err := wire.ValidateSignature(sig); err != nil {
					t.Errorf("%s: signal %s: %v", name, s.Name, err)
				}
			}
			for _, p := range iface.Properties {
				if err := wire.ValidateSignature(p.Type); err != nil {
					t.Errorf("%s: property %s: %v", name, p.Name, err)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no methods generated")
	}
}

// TestFallbackInProcess generates each limit case in-process: the generator must succeed,
// warn as expected, and give methods whose signatures D-Bus accepts.
func TestFallbackInProcess(t *testing.T) {
	for _, c := range limitCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bad.proto"), c.proto)
			req := request(t, compile(t, protoImportPaths(dir), "bad.proto"), []string{"bad.proto"}, badGoPackage)
			resp, warnings := generate(t, req)
			if resp.Error != nil {
				t.Fatalf("the generator refused the file: %s", resp.GetError())
			}
			checkErrorLines(t, warningLines(warnings), c.want)
			if got := strings.Count(warnings, "\n"); got != len(c.want) {
				t.Errorf("%d warnings, want %d:\n%s", got, len(c.want), warnings)
			}
			files := map[string]string{}
			for _, f := range resp.File {
				files[f.GetName()] = f.GetContent()
			}
			checkFits(t, files)
		})
	}
}

// TestFallbackPlugin runs the built plugin under protoc on each limit case: protoc must
// succeed, print the plugin's warnings on stderr and write the files.
func TestFallbackPlugin(t *testing.T) {
	protoc := requireTool(t, "protoc")
	plugin := buildPlugin(t)
	for _, c := range limitCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bad.proto"), c.proto)
			out := t.TempDir()
			args := append([]string{"-I", dir}, protocIncludes(t)...)
			args = append(args, "--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out="+badGoPackage+":"+out, filepath.Join(dir, "bad.proto"))
			cmd := exec.Command(protoc, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("protoc: %v\n%s", err, stderr.String())
			}
			checkErrorLines(t, warningLines(stderr.String()), c.want)
			checkFits(t, readTree(t, out))
		})
	}
}
