package generator

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// randomProto writes a proto3 file of random messages that refer to each other (with cycles,
// long chains, maps, oneofs, well-known types) and a service over them.
func randomProto(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("syntax = \"proto3\";\n\npackage rnd.v1;\n\nimport \"google/protobuf/struct.proto\";\nimport \"google/protobuf/timestamp.proto\";\n\n")
	chainy := r.Intn(3) == 0 // long chains of messages, to reach the nesting limits
	n := 2 + r.Intn(12)
	if chainy {
		n = 25 + r.Intn(20)
	}
	wide := r.Intn(5) == 0 // many fields, to reach the signature length limit
	scalars := []string{"bool", "int32", "sint64", "uint32", "fixed64", "double", "float", "string", "bytes", "E", "google.protobuf.Value", "google.protobuf.Timestamp", "google.protobuf.Struct"}
	cur := 0
	msg := func() string {
		if r.Intn(4) == 0 {
			return scalars[r.Intn(len(scalars))]
		}
		if (chainy || wide) && cur+1 < n {
			return fmt.Sprintf("M%d", cur+1+r.Intn(n-cur-1)) // forward only: no cycles
		}
		return fmt.Sprintf("M%d", r.Intn(n))
	}
	b.WriteString("enum E { E_ZERO = 0; E_ONE = 1; }\n\n")
	for i := 0; i < n; i++ {
		cur = i
		fmt.Fprintf(&b, "message M%d {\n", i)
		num := 1
		nf := r.Intn(6)
		if wide {
			nf = r.Intn(120)
		}
		if chainy && i+1 < n && r.Intn(10) != 0 {
			fmt.Fprintf(&b, "  M%d next = %d;\n", i+1, num)
			num++
		}
		for j := 0; j < nf; j++ {
			switch r.Intn(7) {
			case 0:
				fmt.Fprintf(&b, "  repeated %s f%d = %d;\n", msg(), num, num)
			case 1:
				fmt.Fprintf(&b, "  map<%s, %s> f%d = %d;\n", []string{"string", "int32", "bool", "uint64"}[r.Intn(4)], msg(), num, num)
			case 2:
				fmt.Fprintf(&b, "  oneof o%d {\n", num)
				for k := 0; k < 1+r.Intn(3); k++ {
					t := msg()
					if t == "E" && k == 0 {
						t = "int32"
					}
					fmt.Fprintf(&b, "    %s f%d = %d;\n", t, num, num)
					num++
				}
				b.WriteString("  }\n")
				continue
			case 3:
				t := scalars[r.Intn(8)]
				fmt.Fprintf(&b, "  optional %s f%d = %d;\n", t, num, num)
			default:
				fmt.Fprintf(&b, "  %s f%d = %d;\n", msg(), num, num)
			}
			num++
		}
		b.WriteString("}\n\n")
	}
	b.WriteString("service S {\n")
	for i := 0; i < 1+r.Intn(4); i++ {
		in, out := r.Intn(n), r.Intn(n)
		// One rpc in three streams on one side or both.
		inStream, outStream := "", ""
		switch r.Intn(9) {
		case 0:
			inStream = "stream "
		case 1:
			outStream = "stream "
		case 2:
			inStream, outStream = "stream ", "stream "
		}
		fmt.Fprintf(&b, "  rpc R%d(%sM%d) returns (%sM%d);\n", i, inStream, in, outStream, out)
	}
	b.WriteString("}\n")
	return b.String()
}

var fallbackLine = regexp.MustCompile(`^protoc-gen-kdbus: rnd\.proto:\d+:\d+: [A-Za-z0-9_.]+: .+, to fit D-Bus's limits: .+$`)

// TestGoldenRandomProtos generates many random files: the generator must never panic or loop,
// and must produce its files for every one, warning with well-formed lines where the fallback
// serializes what D-Bus's limits leave no typed form for. The code generated for a number of
// them, with protoc-gen-go's, must pass go vet and round-trip, those with fallbacks among them.
func TestGoldenRandomProtos(t *testing.T) {
	streams := 0
	goTool := requireTool(t, "go")
	vetDir, err := os.MkdirTemp("testdata", "vet-random-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(vetDir) })
	var vetPkgs, testPkgs []string
	ok, fallbacks := 0, 0
	vetted, tested := map[bool]int{}, map[bool]int{} // by whether the file needed the fallback
	for seed := int64(0); seed < 150; seed++ {
		src := randomProto(rand.New(rand.NewSource(seed)))
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "rnd.proto"), src)
		pkg := fmt.Sprintf("s%d", seed)
		req := request(t, compile(t, protoImportPaths(dir), "rnd.proto"), []string{"rnd.proto"}, "Mrnd.proto=example.com/rnd/"+pkg+";rnd,paths=source_relative")
		resp, warnings := generate(t, req)
		if resp.Error != nil {
			t.Errorf("seed %d: refused: %s\n%s", seed, resp.GetError(), src)
			continue
		}
		ok++
		var names []string
		for _, f := range resp.File {
			names = append(names, f.GetName())
		}
		if got := strings.Join(names, ","); got != "rnd.kdbus.go,rnd.kdbus.codec.go,rnd.S.introspect.xml" && got != "rnd.kdbus.go,rnd.S.introspect.xml" {
			t.Errorf("seed %d: files %s", seed, got)
		}
		fallback := warnings != ""
		if fallback {
			fallbacks++
		}
		for _, line := range strings.Split(strings.TrimSuffix(warnings, "\n"), "\n") {
			if fallback && !fallbackLine.MatchString(line) {
				t.Errorf("seed %d: malformed warning %q", seed, line)
			}
		}
		if vetted[fallback] < 12 {
			vetted[fallback]++
			for _, f := range append(resp.File, generateGo(t, req).File...) {
				writeFile(t, filepath.Join(vetDir, pkg, f.GetName()), f.GetContent())
			}
			vetPkgs = append(vetPkgs, "./"+filepath.ToSlash(filepath.Join(vetDir, pkg)))
			if tested[fallback] < 4 {
				tested[fallback]++
				streams += strings.Count(src, "stream M")
				writeFile(t, filepath.Join(vetDir, pkg, "roundtrip_test.go"), roundTripTest(src))
				testPkgs = append(testPkgs, vetPkgs[len(vetPkgs)-1])
			}
		}
	}
	t.Logf("%d generated, %d of them with fallbacks; %d streaming sides round-tripped", ok, fallbacks, streams)
	if streams == 0 {
		t.Error("no streaming rpc among the round-tripped random files")
	}
	if out, err := exec.Command(goTool, append([]string{"vet"}, vetPkgs...)...).CombinedOutput(); err != nil {
		t.Errorf("go vet on the code generated from random files: %v\n%s", err, out)
	}
	if out, err := exec.Command(goTool, append([]string{"test"}, testPkgs...)...).CombinedOutput(); err != nil {
		t.Errorf("round trips through the code generated from random files: %v\n%s", err, out)
	}
	if fallbacks == 0 || fallbacks == ok {
		t.Errorf("the random files should include both kinds: %d generated, %d of them with fallbacks", ok, fallbacks)
	}
}

// roundTripTest writes a test that round-trips random messages through every method of the
// random file's service S.
func roundTripTest(src string) string {
	var b strings.Builder
	b.WriteString("package rnd\n\nimport (\n\t\"testing\"\n\n\t\"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip\"\n)\n\n")
	b.WriteString("func TestRoundTrip(t *testing.T) {\n\troundtrip.Service(t, S_IntrospectXML, &S_ServiceDesc)\n")
	for _, m := range regexp.MustCompile(`rpc (R\d+)\((stream )?M\d+\) returns \((stream )?`).FindAllStringSubmatch(src, -1) {
		check := "Method"
		if m[2] != "" || m[3] != "" {
			check = "Stream"
		}
		fmt.Fprintf(&b, "\troundtrip.%s(t, S_IntrospectXML, &s_%s)\n", check, m[1])
	}
	b.WriteString("}\n")
	return b.String()
}
