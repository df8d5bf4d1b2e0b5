package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kdbusapi runs the command and returns its status and output.
func kdbusapi(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(args, &out, &errs)
	return code, out.String() + errs.String()
}

// TestGreeterAPIFrozen checks the greeter example against its frozen API.
func TestGreeterAPIFrozen(t *testing.T) {
	code, out := kdbusapi(t, "check", "-xml", "../../examples/greeter/greeterv1", "-api", "../../examples/greeter/api")
	if code != 0 {
		t.Fatalf("check of the greeter example: status %d\n%s", code, out)
	}
}

// TestCatalogVersions freezes the first catalog example and checks the second against it,
// and the other way round: appended fields are safe, their removal is not.
func TestCatalogVersions(t *testing.T) {
	api := t.TempDir()
	if code, out := kdbusapi(t, "freeze", "-xml", "../../examples/evolution/catalogv1", "-api", api); code != 0 || !strings.Contains(out, filepath.Join(api, "1")) {
		t.Fatalf("freeze: status %d\n%s", code, out)
	}
	code, out := kdbusapi(t, "check", "-v", "-xml", "../../examples/evolution/catalogv2", "-api", api)
	if code != 0 || !strings.Contains(out, "safe: org.kdbusgo.example.Catalog.Lookup: out-argument 2 (stock) was appended") {
		t.Fatalf("check of catalogv2 against catalogv1: status %d\n%s", code, out)
	}
	back := t.TempDir()
	kdbusapi(t, "freeze", "-xml", "../../examples/evolution/catalogv2", "-api", back)
	code, out = kdbusapi(t, "check", "-xml", "../../examples/evolution/catalogv1", "-api", back)
	if code != 1 || !strings.Contains(out, "breaking: org.kdbusgo.example.Catalog.Count: the property was removed") {
		t.Fatalf("check of catalogv1 against catalogv2: status %d, want 1\n%s", code, out)
	}
	if strings.Contains(out, "safe:") {
		t.Errorf("check without -v printed safe changes:\n%s", out)
	}
}

// TestCheckBreaking checks that a field inserted into a nested message, and a file that is
// gone, fail the check, and that a frozen version cannot be overwritten.
func TestCheckBreaking(t *testing.T) {
	const name = "greeter.Greeter.introspect.xml"
	current, err := os.ReadFile(filepath.Join("../../examples/greeter/greeterv1", name))
	if err != nil {
		t.Fatal(err)
	}
	xmlDir, api := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(xmlDir, name), current, 0o644); err != nil {
		t.Fatal(err)
	}
	// The frozen Person had name = 1, age = 3 and tags = 4: the current age = 2 was inserted.
	older := bytes.ReplaceAll(current, []byte(`value="1,2,3"`), []byte(`value="1,3,4"`))
	if bytes.Equal(older, current) {
		t.Fatal("the greeter's XML has no field numbers for Person")
	}
	if err := os.MkdirAll(filepath.Join(api, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(api, "1", name), older, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := kdbusapi(t, "check", "-xml", xmlDir, "-api", api)
	if code != 1 || !strings.Contains(out, "breaking: example.greeter.v1.Greeter.Describe: in-argument 0 (person): member 1 of the struct \"(suas)\" is field 2, was field 3") {
		t.Fatalf("check: status %d, want 1 and the inserted field\n%s", code, out)
	}

	if code, out := kdbusapi(t, "freeze", "-xml", xmlDir, "-api", api); code != 0 || !strings.Contains(out, filepath.Join(api, "2")) {
		t.Fatalf("second freeze: status %d\n%s", code, out)
	}
	if code, out := kdbusapi(t, "freeze", "-xml", xmlDir, "-api", api, "-version", "2"); code != 1 || !strings.Contains(out, "exists already") {
		t.Fatalf("freezing over version 2: status %d\n%s", code, out)
	}
	os.Remove(filepath.Join(xmlDir, name))
	code, out = kdbusapi(t, "check", "-xml", xmlDir, "-api", api)
	if code != 1 || !strings.Contains(out, "no longer exists") {
		t.Fatalf("check without the file: status %d\n%s", code, out)
	}
	if code, _ := kdbusapi(t, "check", "-xml", xmlDir); code != 2 {
		t.Fatalf("check without -api: status %d, want 2", code)
	}
}
