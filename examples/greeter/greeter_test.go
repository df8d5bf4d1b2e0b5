package greeter_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
)

const (
	dest  = greeterv1.Greeter_BusName
	path  = greeterv1.Greeter_ObjectPath
	iface = greeterv1.Greeter_Interface
)

// start serves the greeter on a new bus of the given kind and returns the bus address.
func start(t testing.TB, kind string) string {
	t.Helper()
	d := bustest.Start(t, kind, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := runtime.Dial(ctx, d.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := greeterv1.RegisterGreeterServer(srv, greeter.Server{}); err != nil {
		t.Fatal(err)
	}
	if r, err := srv.RequestName(ctx, dest, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return d.Address
}

func client(t testing.TB, addr string) greeterv1.GreeterClient {
	t.Helper()
	conn, err := runtime.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return greeterv1.NewGreeterClient(conn)
}

func TestGeneratedClientAndServer(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			c := client(t, start(t, kind))
			ctx := context.Background()
			hello, err := c.SayHello(ctx, &greeterv1.HelloRequest{Name: "World"})
			if err != nil || hello.GetMessage() != "Hello, World!" {
				t.Fatalf("SayHello = %v, %v", hello, err)
			}
			sum, err := c.Add(ctx, &greeterv1.AddRequest{A: -5, B: 1 << 40})
			if err != nil || sum.GetSum() != 1<<40-5 {
				t.Fatalf("Add = %v, %v", sum, err)
			}
			d, err := c.Describe(ctx, &greeterv1.DescribeRequest{
				Person: &greeterv1.Person{Name: "Ann", Age: 30, Tags: []string{"a", "b"}},
				Scores: map[string]int32{"math": 9, "art": 7},
				Mood:   greeterv1.Mood_MOOD_HAPPY,
			})
			if err != nil || d.GetSummary() != "Ann (30) [a,b] is happy; scores: art=7 math=9" || d.GetPeople()[0].GetName() != "Ann" {
				t.Fatalf("Describe = %v, %v", d, err)
			}
			_, err = c.SayHello(ctx, &greeterv1.HelloRequest{})
			if !errors.Is(err, greeterv1.ErrGreeterNoName) || !strings.Contains(err.Error(), "tell me your name") {
				t.Fatalf("SayHello without a name: %v, want the NoName error", err)
			}
			if runtime.CodeOf(err) != runtime.InvalidArgument {
				t.Fatalf("SayHello without a name: code %v, want InvalidArgument, the code greeter.proto declares", runtime.CodeOf(err))
			}
			_, err = c.Describe(ctx, &greeterv1.DescribeRequest{})
			if runtime.CodeOf(err) != runtime.InvalidArgument {
				t.Fatalf("Describe without a person: %v, want InvalidArgument", err)
			}
		})
	}
}

// run runs a command-line tool, failing the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := dbustest.RequireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

func TestBusctl(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			bus := "--address=" + addr

			table := run(t, "busctl", bus, "introspect", dest, path, iface)
			for _, want := range []string{
				".Add ", "method", "xx", ".Describe", "a(suas)a{si}i", "sa(suas)", ".SayHello",
			} {
				if !strings.Contains(table, want) {
					t.Errorf("busctl introspect does not show %q:\n%s", want, table)
				}
			}
			xml := run(t, "busctl", bus, "introspect", "--xml-interface", dest, path)
			for _, want := range []string{
				`<method name="SayHello">`, `<arg name="name" type="s" direction="in"/>`,
				`<arg name="message" type="s" direction="out"/>`, `<arg name="a" type="x" direction="in"/>`,
			} {
				if !strings.Contains(xml, want) {
					t.Errorf("busctl introspect --xml-interface lacks %s:\n%s", want, xml)
				}
			}

			if out := run(t, "busctl", bus, "call", dest, path, iface, "SayHello", "s", "World"); strings.TrimSpace(out) != `s "Hello, World!"` {
				t.Errorf("busctl call SayHello: %q", out)
			}
			if out := run(t, "busctl", bus, "call", dest, path, iface, "Add", "xx", "40", "2"); strings.TrimSpace(out) != "x 42" {
				t.Errorf("busctl call Add: %q", out)
			}
			out := run(t, "busctl", bus, "call", dest, path, iface, "Describe", "a(suas)a{si}i",
				"1", "Ann", "30", "2", "a", "b", "2", "math", "9", "art", "7", "2")
			if want := `sa(suas) "Ann (30) [a,b] is grumpy; scores: art=7 math=9" 1 "Ann" 30 2 "a" "b"`; strings.TrimSpace(out) != want {
				t.Errorf("busctl call Describe:\n got %q\nwant %q", strings.TrimSpace(out), want)
			}
			out, err := runErr(t, "busctl", bus, "call", dest, path, iface, "SayHello", "s", "")
			if err == nil || !strings.Contains(out, "tell me your name") {
				t.Errorf("busctl call SayHello with no name: %v %q, want the service's error", err, out)
			}
			out, err = runErr(t, "busctl", bus, "call", dest, path, iface, "SayHello", "i", "5")
			if err == nil || !strings.Contains(out, "signature") {
				t.Errorf("busctl call with the wrong signature: %v %q, want an InvalidArgs error", err, out)
			}
			tree := run(t, "busctl", bus, "tree", dest)
			if !strings.Contains(tree, path) {
				t.Errorf("busctl tree does not reach %s:\n%s", path, tree)
			}
		})
	}
}

func TestGdbusAndDbusSend(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			out := run(t, "gdbus", "introspect", "--address", addr, "--dest", dest, "--object-path", path)
			for _, want := range []string{"interface " + iface, "SayHello(in  s name,", "out s message);", "Add(in  x a,"} {
				if !strings.Contains(out, want) {
					t.Errorf("gdbus introspect lacks %q:\n%s", want, out)
				}
			}
			out = run(t, "gdbus", "call", "--address", addr, "--dest", dest, "--object-path", path, "--method", iface+".SayHello", "gdbus")
			if strings.TrimSpace(out) != "('Hello, gdbus!',)" {
				t.Errorf("gdbus call: %q", out)
			}
			out = run(t, "dbus-send", "--bus="+addr, "--print-reply", "--dest="+dest, path, iface+".SayHello", "string:dbus-send")
			if !strings.Contains(out, `string "Hello, dbus-send!"`) {
				t.Errorf("dbus-send: %q", out)
			}
			out, err := runErr(t, "dbus-send", "--bus="+addr, "--print-reply", "--dest="+dest, path, iface+".SayHello", "int32:5")
			if err == nil || !strings.Contains(out, "org.freedesktop.DBus.Error.InvalidArgs") {
				t.Errorf("dbus-send with the wrong argument type: %v %q", err, out)
			}
		})
	}
}

func TestServedXMLEqualsGeneratedFile(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			addr := start(t, kind)
			conn, err := runtime.Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			m, _, err := conn.Call(context.Background(), &wire.Message{
				Type: wire.MethodCall, Destination: dest, Path: path,
				Interface: runtime.IntrospectableInterface, Member: "Introspect",
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
			if err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile("greeterv1/greeter.Greeter.introspect.xml")
			if err != nil {
				t.Fatal(err)
			}
			// The object also serves its descriptors, on an interface listed first.
			served := introspect.Document([]string{runtime.ReflectionXML, greeterv1.Greeter_ServiceDesc.XML}, nil)
			if v[0] != served || string(file) != greeterv1.Greeter_IntrospectXML || string(file) != introspect.Document([]string{greeterv1.Greeter_ServiceDesc.XML}, nil) {
				t.Fatalf("served XML differs from the generated file:\nserved:\n%s\nfile:\n%s", v[0], file)
			}
			if _, err := introspect.ParseString(string(file)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
