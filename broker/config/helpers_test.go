package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Fake user and group databases, so that tests do not depend on the machine's.
var (
	testUsers  = map[string]uint32{"root": 0, "messagebus": 100, "alice": 1000, "bob": 1001}
	testGroups = map[string]uint32{"root": 0, "wheel": 10, "staff": 50, "alice": 1000}
)

func fakeLookup(db map[string]uint32, what string) func(string) (uint32, error) {
	return func(name string) (uint32, error) {
		if id, ok := db[name]; ok {
			return id, nil
		}
		return 0, fmt.Errorf("%s: unknown %s %s", "test database", what, name)
	}
}

func fakeEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// testOptions reads with the fake databases and an empty environment.
func testOptions() Options {
	return Options{
		LookupUser:  fakeLookup(testUsers, "user"),
		LookupGroup: fakeLookup(testGroups, "group"),
		Getenv:      fakeEnv(nil),
	}
}

// listen is the <listen> every complete test configuration needs.
const listen = "<listen>unix:path=/tmp/kdbusd-test</listen>"

// wrap makes a complete configuration around body, which starts at line 2, column 1.
func wrap(body string) string { return "<busconfig>" + listen + "\n" + body + "\n</busconfig>" }

// parse parses a configuration text with testOptions.
func parse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := testOptions().Parse(strings.NewReader(text), "/etc/test.conf", "")
	if err != nil {
		t.Fatalf("Parse: %v\ninput:\n%s", err, text)
	}
	return c
}

// parseErr parses a configuration that must fail and returns the *Error.
func parseErr(t *testing.T, o Options, text string) *Error {
	t.Helper()
	_, err := o.Parse(strings.NewReader(text), "/etc/test.conf", "")
	if err == nil {
		t.Fatalf("Parse succeeded, want an error\ninput:\n%s", text)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Parse error %T %v is not a *Error", err, err)
	}
	return ce
}

// writeFiles creates files under dir from a map of relative names to contents.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := dir + "/" + name
		if err := os.MkdirAll(p[:strings.LastIndexByte(p, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func warningsText(c *Config) string {
	var b strings.Builder
	for _, w := range c.Warnings {
		b.WriteString(w.String())
		b.WriteString("\n")
	}
	return b.String()
}
