package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cliCases are AIDL files that a conversion must refuse with a positioned error or convert:
// malformed text, and names proto cannot hold as AIDL does.
var cliCases = []struct {
	name, path, src string
	// want is 0 when the conversion succeeds, 1 when it must fail; then stderr must match
	// errRE.
	want  int
	errRE string
}{
	{"syntax", "a/IBad.aidl", "package a;\ninterface IBad { void f( }", 1, `a/IBad\.aidl:2:\d+: `},
	{"union member value", "a/Spi.aidl", "package a;\nunion Spi { boolean noinit; int value; }", 0, ""},
	{"methods one rpc name", "a/ICase.aidl", "package a;\ninterface ICase { void get(); void Get(); }", 1, `a/ICase\.aidl:2:\d+: cannot convert: `},
	{"fields one proto name", "a/P.aidl", "package a;\nparcelable P { int fooBar; int foo_bar; }", 1, `a/P\.aidl:2:\d+: cannot convert: `},
	{"request name taken", "a/IFoo.aidl", "package a;\ninterface IFoo { parcelable GetRequest { int x; } void get(in int x); }", 1, `a/IFoo\.aidl:2:\d+: cannot convert: `},
	{"nested enums", "a/IOuter.aidl", "package a;\ninterface IOuter { interface IA { enum E { X } } interface IB { enum E { X } } }", 0, ""},
	{"empty interface", "a/IEmpty.aidl", "package a;\ninterface IEmpty {}", 0, ""},
	{"no package", "t/INone.aidl", "interface INone { void f(); }", 0, ""},
	{"bad constant", "a/C.aidl", "package a;\nparcelable C { const int X = 0x1_0000_0000u32; }", 1, `a/C\.aidl:2:30: u32 literal`},
	{"long enum", "a/L.aidl", "package a;\n@Backing(type=\"long\") enum L { A = 1L << 40, B = 0xFFFFFFFFFFFFFFFFu64 }", 0, ""},
}

// TestRunRefusesWithPositions runs the command on each case: it returns an exit status, with
// a positioned error when it refuses, and never panics.
func TestRunRefusesWithPositions(t *testing.T) {
	for _, c := range cliCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "in", filepath.FromSlash(c.path))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			got := run([]string{"-o", filepath.Join(dir, "out"), p}, &stdout, &stderr)
			if got != c.want {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", got, c.want, stderr.String())
			}
			if c.want != 0 && !regexp.MustCompile(c.errRE).MatchString(filepath.ToSlash(stderr.String())) {
				t.Errorf("stderr does not match %s:\n%s", c.errRE, stderr.String())
			}
			if c.want == 0 && stdout.Len() == 0 {
				t.Error("nothing written")
			}
		})
	}
}

// TestRunUsage checks the exit status of bad usage.
func TestRunUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run(nil, &stdout, &stderr); got != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("no files: exit %d, stderr %q", got, stderr.String())
	}
	stderr.Reset()
	if got := run([]string{"-package", "1bad", "x.aidl"}, &stdout, &stderr); got != 2 || !strings.Contains(stderr.String(), "not a package name") {
		t.Errorf("-package 1bad: exit %d, stderr %q", got, stderr.String())
	}
}

// TestRunPackageFlag converts a file without a package with -package.
func TestRunPackageFlag(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "INone.aidl")
	os.WriteFile(p, []byte("interface INone { void f(); }"), 0o644)
	var stdout, stderr bytes.Buffer
	if got := run([]string{"-package", "com.example.tests", "-o", dir, p}, &stdout, &stderr); got != 0 {
		t.Fatalf("exit %d: %s", got, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "com", "example", "tests", "INone.proto"))
	if err != nil || !strings.Contains(string(b), "package com.example.tests;") {
		t.Fatalf("%v\n%s", err, b)
	}
}

// FuzzRun runs the command on an arbitrary file: whatever the text, it returns an exit status
// and does not panic.
func FuzzRun(f *testing.F) {
	for _, c := range cliCases {
		f.Add(c.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "a", "In.aidl")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(src), 0o644)
		var stdout, stderr bytes.Buffer
		if got := run([]string{"-q", "-o", filepath.Join(dir, "out"), p}, &stdout, &stderr); got != 0 && got != 1 {
			t.Fatalf("exit %d: %s", got, stderr.String())
		}
	})
}
