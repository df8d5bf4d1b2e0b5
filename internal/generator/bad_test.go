package generator

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// badCase is a .proto that D-Bus cannot express. want are the lines the plugin must report
// (as regular expressions, anchored to whole lines); where names an element whose source
// position the first line must give.
type badCase struct {
	name  string
	proto string
	want  []string
}

// badGoPackage gives bad.proto a Go package, as protoc-gen-go's M flag does.
const badGoPackage = "Mbad.proto=example.com/bad;bad"

const badHeader = `syntax = "proto3";

package bad.v1;

import "google/protobuf/empty.proto";
import "kdbus/v1/options.proto";

`

// pos returns "bad.proto:LINE:COL" for the first occurrence of needle in src.
func pos(src, needle string) string {
	i := strings.Index(src, needle)
	if i < 0 {
		panic("pos: " + needle + " not found")
	}
	line := strings.Count(src[:i], "\n") + 1
	col := i - strings.LastIndexByte(src[:i], '\n')
	return fmt.Sprintf("bad\\.proto:%d:%d", line, col)
}

func badCases() []badCase {
	var cases []badCase
	add := func(name, src string, want ...func(src string) string) {
		c := badCase{name: name, proto: src}
		for _, w := range want {
			c.want = append(c.want, w(src))
		}
		cases = append(cases, c)
	}

	iface := badHeader + `service Svc {
  option (kdbus.v1.service) = { interface: "not-an.interface" };
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}
`
	add("bad interface option", iface, func(src string) string {
		return pos(src, "option (kdbus") + `: bad\.v1\.Svc: option interface: invalid D-Bus interface name "not-an\.interface": byte '-' in element "not-an": only \[A-Za-z0-9_\] are allowed; hint: use two or more dot-separated elements.*`
	})

	oneElement := badHeader + `service Svc {
  option (kdbus.v1.service) = { interface: "Lonely" };
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}
`
	add("interface option of one element", oneElement, func(src string) string {
		return pos(src, "option (kdbus") + `: bad\.v1\.Svc: option interface: invalid D-Bus interface name "Lonely": needs at least two dot-separated elements.*; hint: .*`
	})

	path := badHeader + `service Svc {
  option (kdbus.v1.service).object_path = "/trailing/";
  option (kdbus.v1.service).bus_name = ":1.5";
  option (kdbus.v1.service).errors = "Not.Ready";
  option (kdbus.v1.service).errors = "Twice";
  option (kdbus.v1.service).errors = "Twice";
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}
`
	add("bad path, bus name and errors", path,
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).object_path") + `: bad\.v1\.Svc: option object_path: invalid D-Bus object path "/trailing/": must not end with '/'.*; hint: use an absolute path .*`
		},
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).bus_name") + `: bad\.v1\.Svc: option bus_name: invalid D-Bus well-known name ":1\.5".*; hint: use two or more dot-separated elements.*`
		},
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).errors") + `: bad\.v1\.Svc: option errors: "Not\.Ready" is not a D-Bus name element; hint: name each error .*`
		},
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).errors = \"Twice\";\n  rpc") + `: bad\.v1\.Svc: option errors: "Twice" is listed twice; hint: list each error once, in errors or in error`
		})

	codes := badHeader + `service Svc {
  option (kdbus.v1.service).errors = "Both";
  option (kdbus.v1.service).error = { name: "Both" code: CODE_NOT_FOUND };
  option (kdbus.v1.service).error = { name: "Odd" code: 99 };
  option (kdbus.v1.service).error = { name: "Bad.Name" code: CODE_ABORTED };
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}
`
	add("error codes", codes,
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).error = { name: \"Both\"") + `: bad\.v1\.Svc: option error: "Both" is listed twice; hint: list each error once, in errors or in error`
		},
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).error = { name: \"Odd\"") + `: bad\.v1\.Svc: option error: "Odd" has code 99, which is not a status code; hint: use one of the kdbus\.v1\.Code values, such as CODE_INVALID_ARGUMENT`
		},
		func(src string) string {
			return pos(src, "option (kdbus.v1.service).error = { name: \"Bad") + `: bad\.v1\.Svc: option error: "Bad\.Name" is not a D-Bus name element; hint: name each error .*`
		})

	members := badHeader + `service Svc {
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (kdbus.v1.method) = { member: "9lives" };
  }
  rpc Put(google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (kdbus.v1.method) = { member: "Get" };
  }
  rpc Get2(google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (kdbus.v1.method) = { member: "Get" };
  }
}
`
	add("bad and duplicate members", members,
		func(src string) string {
			return pos(src, `option (kdbus.v1.method) = { member: "9lives"`) + `: bad\.v1\.Svc\.Get: option member: invalid D-Bus member name "9lives": must not start with a digit; hint: use letters, digits and underscores.*`
		},
		func(src string) string {
			return pos(src, "rpc Get2") + `: bad\.v1\.Svc\.Get2: D-Bus member name "Get" is already used by rpc Put; hint: give one of them another name with option \(kdbus\.v1\.method\)\.member`
		})

	noReply := badHeader + `service Svc {
  rpc Tell(Note) returns (Note) {
    option (kdbus.v1.method) = { no_reply: true };
  }
}

message Note {
  string text = 1;
}
`
	add("no_reply with a response", noReply, func(src string) string {
		return pos(src, "option (kdbus.v1.method)") + `: bad\.v1\.Svc\.Tell: a no_reply method sends no reply, but it returns bad\.v1\.Note; hint: make the rpc return google\.protobuf\.Empty, or remove no_reply`
	})

	streamNoReply := badHeader + `service Svc {
  rpc Feed(stream google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (kdbus.v1.method) = { no_reply: true };
  }
}
`
	add("no_reply on a stream", streamNoReply, func(src string) string {
		return pos(src, "option (kdbus.v1.method)") + `: bad\.v1\.Svc\.Feed: a streaming rpc cannot be no_reply: the reply to its opening call ends the stream with its status; hint: remove no_reply, or make the rpc unary`
	})

	noPkg := `syntax = "proto3";

import "google/protobuf/empty.proto";

service Svc {
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}
`
	add("no package and no interface option", noPkg, func(src string) string {
		return pos(src, "service Svc") + `: Svc: the file has no package, so the service has no D-Bus interface name \(one needs at least two dot-separated elements\); hint: add a package statement such as "package example\.v1;", or set option \(kdbus\.v1\.service\) = \{ interface: "org\.example\.Svc1" \}`
	})

	dbusType := badHeader + `service Svc {
  rpc Put(Thing) returns (google.protobuf.Empty);
}
message Thing {
  int64 wide = 1 [(kdbus.v1.field) = { dbus_type: "y" }];
  string name = 2 [(kdbus.v1.field) = { dbus_type: "a{" }];
  Single one = 3;
}
message Single {
  option (kdbus.v1.message) = { unwrap: true };
  string a = 1;
  string b = 2;
}
`
	add("dbus_type and unwrap", dbusType,
		func(src string) string {
			return pos(src, "(kdbus.v1.field) = { dbus_type: \"y\"") + `: bad\.v1\.Thing\.wide: option dbus_type: the field cannot travel as "y"; its default D-Bus type is "x"; hint: .*`
		},
		func(src string) string {
			return pos(src, "(kdbus.v1.field) = { dbus_type: \"a{\"") + `: bad\.v1\.Thing\.name: option dbus_type: .*; hint: give one complete D-Bus type.*`
		},
		func(src string) string {
			return pos(src, "message Single") + `: bad\.v1\.Single: option unwrap: the message must have exactly one field.*; hint: .*`
		})

	memfd := badHeader + `service Svc {
  rpc Put(Blob) returns (google.protobuf.Empty);
}

message Blob {
  string name = 1 [(kdbus.v1.field) = { memfd: true }];
}
`
	add("memfd on a string", memfd, func(src string) string {
		return pos(src, "(kdbus.v1.field)") + `: bad\.v1\.Blob\.name: the memfd option applies only to bytes fields .*; hint: remove \(kdbus\.v1\.field\)\.memfd, or make the field bytes`
	})
	signals := badHeader + `service Svc {
  option (kdbus.v1.service).signals = "Nope";
  option (kdbus.v1.service).signals = "Blob";
  option (kdbus.v1.service).signals = "Get";
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}

message Blob {
  bytes data = 1 [(kdbus.v1.field).memfd = true];
}

message Get {
  string x = 1;
}
`
	add("signals", signals,
		func(src string) string {
			return pos(src, `option (kdbus.v1.service).signals = "Nope"`) + `: bad\.v1\.Svc: option signals: no message "Nope"; hint: name a message of the service's package.*`
		},
		func(src string) string {
			return pos(src, `option (kdbus.v1.service).signals = "Blob"`) + `: bad\.v1\.Svc: signal Blob carries file descriptors \(a memfd field of bad\.v1\.Blob\); signals cannot; hint: .*`
		},
		func(src string) string {
			return pos(src, "rpc Get") + `: bad\.v1\.Svc\.Get: D-Bus member name "Get" is both a method and a signal; hint: .*`
		})

	props := badHeader + `service Svc {
  option (kdbus.v1.service).properties = "Props";
  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);
}

message Props {
  oneof choice {
    string a = 1;
    int32 b = 2;
  }
  string w = 3 [(kdbus.v1.field).access = PROPERTY_ACCESS_WRITE, (kdbus.v1.field).change = PROPERTY_CHANGE_EMITS_VALUE];
  string c = 4 [(kdbus.v1.field).access = PROPERTY_ACCESS_READWRITE, (kdbus.v1.field).change = PROPERTY_CHANGE_CONST];
  int32 n = 5 [(kdbus.v1.field).string_type = STRING_TYPE_OBJECT_PATH];
  string v = 6;
  string x = 7 [(kdbus.v1.field).property_name = "V"];
  string d = 8 [(kdbus.v1.field).property_name = "no-dash"];
}
`
	add("properties", props,
		func(src string) string {
			return pos(src, "(kdbus.v1.field).string_type") + `: bad\.v1\.Props\.n: the string_type option applies only to string fields .*, not to int32 fields; hint: .*`
		},
		func(src string) string {
			return pos(src, "oneof choice") + `: bad\.v1\.Props\.choice: a oneof cannot be a property: a property is one field; hint: .*`
		},
		func(src string) string {
			return pos(src, "(kdbus.v1.field).change = PROPERTY_CHANGE_EMITS_VALUE") + `: bad\.v1\.Props\.w: a write-only property cannot announce its value; hint: .*`
		},
		func(src string) string {
			return pos(src, "(kdbus.v1.field).access = PROPERTY_ACCESS_READWRITE") + `: bad\.v1\.Props\.c: a const property cannot be writable; hint: .*`
		},
		func(src string) string {
			return pos(src, "string x = 7") + `: bad\.v1\.Props\.x: property name "V" is already used by field v; hint: .*`
		},
		func(src string) string {
			return pos(src, `(kdbus.v1.field).property_name = "no-dash"`) + `: bad\.v1\.Props\.d: property name: .*; hint: use letters, digits and underscores.*`
		})

	return cases
}

// checkErrorLines matches the reported lines against the expected patterns, in order.
func checkErrorLines(t *testing.T, got string, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	for i, w := range want {
		re := regexp.MustCompile("^" + w + "$")
		if i >= len(lines) {
			t.Errorf("missing line %d, want %s\nall:\n%s", i+1, w, got)
			continue
		}
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d:\n got: %s\nwant: %s", i+1, lines[i], w)
		}
	}
}

// TestBadInputInProcess generates each bad case in-process: the generator must fail, report
// each problem as file:line:col: element: what; hint: fix, and write nothing.
func TestBadInputInProcess(t *testing.T) {
	for _, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bad.proto"), c.proto)
			req := request(t, compile(t, protoImportPaths(dir), "bad.proto"), []string{"bad.proto"}, badGoPackage)
			resp, _ := generate(t, req)
			if resp.Error == nil {
				t.Fatal("the generator accepted the file")
			}
			if len(resp.File) != 0 {
				t.Errorf("the generator wrote %d files although it failed", len(resp.File))
			}
			checkErrorLines(t, resp.GetError(), c.want)
		})
	}
}

// TestBadInputPlugin runs the built plugin under protoc on each bad case: protoc must exit
// non-zero and print the plugin's report on stderr.
func TestBadInputPlugin(t *testing.T) {
	protoc := requireTool(t, "protoc")
	plugin := buildPlugin(t)
	for _, c := range badCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bad.proto"), c.proto)
			out := t.TempDir()
			args := append([]string{"-I", dir}, protocIncludes(t)...)
			args = append(args, "--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out="+badGoPackage+":"+out, filepath.Join(dir, "bad.proto"))
			cmd := exec.Command(protoc, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatalf("protoc succeeded; stderr:\n%s", stderr.String())
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatal(err)
			}
			// protoc prefixes the report with the output flag, after its own warnings.
			report := stderr.String()
			i := strings.Index(report, "--kdbus_out: ")
			if i < 0 {
				t.Fatalf("no report from the plugin on stderr:\n%s", report)
			}
			report = report[i+len("--kdbus_out: "):]
			checkErrorLines(t, report, c.want)
			if files := readTree(t, out); len(files) != 0 {
				t.Errorf("files written: %v", files)
			}
		})
	}
}
