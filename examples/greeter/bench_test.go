package greeter_test

import (
	"context"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
)

// godbusGreeter is the same SayHello written for godbus's reflection-based export.
type godbusGreeter struct{}

func (godbusGreeter) SayHello(name string) (string, *dbus.Error) {
	return "Hello, " + name + "!", nil
}

// BenchmarkUnaryCall makes the same SayHello call through dbus-daemon and through kdbusd (the
// broker, embedded): kdbus is a generated client calling the generated server; godbus-client
// is godbus calling the generated server; godbus is godbus calling a godbus server.
func BenchmarkUnaryCall(b *testing.B) {
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) { benchmarkUnaryCall(b, start(b, kind)) })
	}
}

func benchmarkUnaryCall(b *testing.B, addr string) {
	b.Run("kdbus", func(b *testing.B) {
		c := client(b, addr)
		ctx := context.Background()
		req := &greeterv1.HelloRequest{Name: "World"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.SayHello(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	godbusConn := func(b *testing.B) *dbus.Conn {
		conn, err := dbus.Connect(addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		return conn
	}
	call := func(b *testing.B, obj dbus.BusObject) {
		b.ReportAllocs()
		var s string
		for b.Loop() {
			if err := obj.Call(greeterv1.Greeter_Interface+".SayHello", 0, "World").Store(&s); err != nil {
				b.Fatal(err)
			}
		}
		if s != "Hello, World!" {
			b.Fatalf("reply %q", s)
		}
	}
	b.Run("godbus-client", func(b *testing.B) {
		call(b, godbusConn(b).Object(greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath))
	})
	b.Run("godbus", func(b *testing.B) {
		srv := godbusConn(b)
		const name = "example.greeter.godbus"
		if err := srv.Export(godbusGreeter{}, greeterv1.Greeter_ObjectPath, greeterv1.Greeter_Interface); err != nil {
			b.Fatal(err)
		}
		if r, err := srv.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			b.Fatalf("RequestName: %v %v", r, err)
		}
		call(b, godbusConn(b).Object(name, greeterv1.Greeter_ObjectPath))
	})
}
