package busclient_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/busclient/busv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/runtime"
)

// fakeDriver serves org.freedesktop.DBus from the skeleton generated from the bus's XML.
type fakeDriver struct {
	busv1.UnimplementedDBusServer
}

func (fakeDriver) GetNameOwner(_ context.Context, req *busv1.GetNameOwnerRequest) (*busv1.GetNameOwnerResponse, error) {
	return &busv1.GetNameOwnerResponse{Arg0: ":owner.of." + req.GetArg0()}, nil
}

func (fakeDriver) GetConnectionCredentials(context.Context, *busv1.GetConnectionCredentialsRequest) (*busv1.GetConnectionCredentialsResponse, error) {
	return &busv1.GetConnectionCredentialsResponse{Arg0: map[string]*kdbusv1.Variant{
		"UnixUserID":   kdbusv1.MustVariant(uint32(1000)),
		"UnixGroupIDs": kdbusv1.MustVariant([]uint32{10, 20}),
	}}, nil
}

// TestServedSkeleton: the skeleton generated from org.freedesktop.DBus.xml, served, shows
// busctl the interface with the original XML's members and signatures, and answers with
// them.
func TestServedSkeleton(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("org.freedesktop.DBus.xml"))
	if err != nil {
		t.Fatal(err)
	}
	orig, err := introspect.ParseString(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := orig.Interface("org.freedesktop.DBus")
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := bustest.Start(t, kind, dbustest.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := runtime.Dial(ctx, b.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			store := busv1.NewDBusPropertyStore(&busv1.DBusProperties{Features: []string{"Fake"}})
			if err := busv1.RegisterDBusServer(conn, fakeDriver{}, store); err != nil {
				t.Fatal(err)
			}
			const name = "org.example.FakeDriver"
			if _, err := conn.RequestName(ctx, name, runtime.NameDoNotQueue); err != nil {
				t.Fatal(err)
			}
			bus := "--address=" + b.Address
			xml := busctl(t, bus, "introspect", "--xml-interface", name, busv1.DBus_ObjectPath)
			served, err := introspect.ParseString(xml)
			if err != nil {
				t.Fatalf("%v\n%s", err, xml)
			}
			got := served.Interface("org.freedesktop.DBus")
			if got == nil {
				t.Fatalf("busctl does not see org.freedesktop.DBus:\n%s", xml)
			}
			if a, b := members(want), members(got); a != b {
				t.Errorf("served members differ from the original XML's:\n got %s\nwant %s", b, a)
			}
			out := busctl(t, bus, "call", name, busv1.DBus_ObjectPath, "org.freedesktop.DBus", "GetConnectionCredentials", "s", ":1.1")
			if w := `a{sv} 2 "UnixGroupIDs" au 2 10 20 "UnixUserID" u 1000`; strings.TrimSpace(out) != w {
				t.Errorf("busctl call GetConnectionCredentials = %q, want %q", strings.TrimSpace(out), w)
			}
			out = busctl(t, bus, "call", name, busv1.DBus_ObjectPath, "org.freedesktop.DBus", "GetNameOwner", "s", "x.y")
			if w := `s ":owner.of.x.y"`; strings.TrimSpace(out) != w {
				t.Errorf("busctl call GetNameOwner = %q, want %q", strings.TrimSpace(out), w)
			}
			out = busctl(t, bus, "get-property", name, busv1.DBus_ObjectPath, "org.freedesktop.DBus", "Features")
			if w := `as 1 "Fake"`; strings.TrimSpace(out) != w {
				t.Errorf("busctl get-property Features = %q, want %q", strings.TrimSpace(out), w)
			}
		})
	}
}

// members lists an interface's methods, signals and properties with their argument
// directions, names and types.
func members(i *introspect.Interface) string {
	var b strings.Builder
	for _, m := range i.Methods {
		b.WriteString("method " + m.Name + "(")
		for _, a := range m.Args {
			b.WriteString(a.Direction + " " + a.Name + " " + a.Type + ",")
		}
		b.WriteString(") ")
	}
	for _, s := range i.Signals {
		b.WriteString("signal " + s.Name + "(")
		for _, a := range s.Args {
			b.WriteString(a.Name + " " + a.Type + ",")
		}
		b.WriteString(") ")
	}
	for _, p := range i.Properties {
		b.WriteString("property " + p.Name + " " + p.Type + " " + p.Access + " ")
	}
	return b.String()
}

func busctl(t *testing.T, args ...string) string {
	t.Helper()
	bin := dbustest.RequireTool(t, "busctl")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := execCommand(ctx, bin, args...)
	if err != nil {
		t.Fatalf("busctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func execCommand(ctx context.Context, bin string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}
