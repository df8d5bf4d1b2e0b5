package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/xml2proto"
)

// TestFile converts the bus's XML as examples/busclient does and expects its bus.proto.
func TestFile(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "busclient")
	out := filepath.Join(t.TempDir(), "bus.proto")
	err := run([]string{"-go_package", "github.com/kdbus-go/kdbus/examples/busclient/busv1;busv1",
		"-bus_name", "org.freedesktop.DBus", "-object_path", "/org/freedesktop/DBus", "-o", out,
		filepath.Join(dir, "org.freedesktop.DBus.xml")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, err := os.ReadFile(filepath.Join(dir, "bus.proto"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("examples/busclient/bus.proto is not what xml2proto makes of org.freedesktop.DBus.xml; regenerate it (see examples/busclient/busclient.go):\n%s", got)
	}
}

// TestLive introspects the bus driver's object on every kind of bus.
func TestLive(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := bustest.Start(t, kind, dbustest.Config{})
			var out bytes.Buffer
			err := run([]string{"-address", b.Address, "-dest", "org.freedesktop.DBus", "-path", "/org/freedesktop/DBus"}, nil, &out)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				`interface: "org.freedesktop.DBus"`, `bus_name: "org.freedesktop.DBus"`, `object_path: "/org/freedesktop/DBus"`,
				"rpc GetConnectionCredentials(", "map<string, kdbus.v1.Variant>", "rpc ListNames(",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the conversion of the live bus driver lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"a.xml", "b.xml"}, {"-dest", "org.x.Y", "a.xml"}, {"-dest", "not a name"}, {"/nonexistent.xml"}} {
		if err := run(args, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("xml2proto %q: no error", args)
		}
	}
	_, err := xml2proto.Convert(strings.NewReader(`<node><interface name="org.freedesktop.DBus.Peer"/></node>`), xml2proto.Options{})
	if err == nil || !strings.Contains(err.Error(), "no interface") {
		t.Errorf("only standard interfaces: %v", err)
	}
}
