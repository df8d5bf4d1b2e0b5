// Command demo shows the classic D-Bus transport at work: it starts a private dbus-daemon (or
// uses the bus given with -address), serves an echo method on one connection, calls it from
// another, passes a file descriptor through the bus, and times round trips.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

const (
	service = "org.kdbusgo.Demo"
	path    = "/org/kdbusgo/Demo"
)

func main() {
	addr := flag.String("address", "", "bus address to use (default: start a private dbus-daemon)")
	calls := flag.Int("calls", 10000, "round trips to time")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*addr, *calls); err != nil {
		log.Fatal("demo: ", err)
	}
}

func run(addr string, calls int) error {
	if addr == "" {
		dir, err := os.MkdirTemp("", "kdbus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		d, err := dbustest.Launch(dir, dbustest.Config{})
		if err != nil {
			return err
		}
		defer d.Kill()
		addr = d.Address
		fmt.Println("started a private dbus-daemon at", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := classic.Dial(ctx, addr, classic.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	cli, err := classic.Dial(ctx, addr, classic.Options{})
	if err != nil {
		return err
	}
	defer cli.Close()
	fmt.Printf("server is %s, client is %s\n", srv.UniqueName(), cli.UniqueName())

	if err := requestName(srv, service); err != nil {
		return err
	}
	go serve(srv)

	reply, err := call(cli, "Echo", "s", "hello over D-Bus")
	if err != nil {
		return err
	}
	fmt.Printf("Echo(%q) = %q\n", "hello over D-Bus", reply[0])

	// A file descriptor travels out of band; the body carries its index.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	unix.Write(p[1], []byte("bytes behind a descriptor"))
	unix.Close(p[1])
	reply, err = callFDs(cli, "Slurp", "h", []int{p[0]}, wire.UnixFD(0))
	unix.Close(p[0])
	if err != nil {
		return err
	}
	fmt.Printf("Slurp(fd) = %q\n", reply[0])

	start := time.Now()
	for i := 0; i < calls; i++ {
		if _, err := call(cli, "Echo", "s", "ping"); err != nil {
			return err
		}
	}
	el := time.Since(start)
	fmt.Printf("%d Echo round trips through dbus-daemon: %v each\n", calls, el/time.Duration(max(calls, 1)))
	return nil
}

func requestName(c *classic.Conn, name string) error {
	body, _ := wire.Marshal(wire.NativeOrder, "su", name, uint32(0))
	m := &wire.Message{
		Type: wire.MethodCall, Destination: classic.BusName, Path: classic.BusPath,
		Interface: classic.BusInterface, Member: "RequestName", Signature: "su", Body: body,
	}
	if err := c.Send(m, nil); err != nil {
		return err
	}
	_, err := wait(c, m.Serial)
	return err
}

func call(c *classic.Conn, member string, sig wire.Signature, args ...any) ([]any, error) {
	return callFDs(c, member, sig, nil, args...)
}

func callFDs(c *classic.Conn, member string, sig wire.Signature, fds []int, args ...any) ([]any, error) {
	body, err := wire.Marshal(wire.NativeOrder, sig, args...)
	if err != nil {
		return nil, err
	}
	m := &wire.Message{
		Type: wire.MethodCall, Destination: service, Path: path, Interface: service,
		Member: member, Signature: sig, Body: body,
	}
	if err := c.Send(m, fds); err != nil {
		return nil, err
	}
	return wait(c, m.Serial)
}

// wait receives until the reply to serial arrives and decodes it.
func wait(c *classic.Conn, serial uint32) ([]any, error) {
	for {
		r, err := c.Recv()
		if err != nil {
			return nil, err
		}
		m := r.Msg
		if m.ReplySerial != serial {
			continue
		}
		vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if m.Type == wire.Error {
			return nil, fmt.Errorf("%s: %v", m.ErrorName, vals)
		}
		return vals, err
	}
}

// serve answers Echo(s) and Slurp(h) until the connection closes.
func serve(c *classic.Conn) {
	for {
		r, err := c.Recv()
		if err != nil {
			return
		}
		m := r.Msg
		if m.Type != wire.MethodCall {
			continue
		}
		reply := &wire.Message{Type: wire.MethodReturn, ReplySerial: m.Serial, Destination: m.Sender}
		switch {
		case m.Member == "Echo" && m.Signature == "s":
			reply.Signature, reply.Body = m.Signature, m.Body
		case m.Member == "Slurp" && m.Signature == "h" && len(r.FDs) == 1:
			buf := make([]byte, 4096)
			n, _ := unix.Read(r.FDs[0], buf)
			reply.Signature = "s"
			reply.Body, _ = wire.Marshal(wire.NativeOrder, "s", string(buf[:max(n, 0)]))
		default:
			reply.Type, reply.ErrorName = wire.Error, "org.freedesktop.DBus.Error.UnknownMethod"
			reply.Signature = "s"
			reply.Body, _ = wire.Marshal(wire.NativeOrder, "s", "no method "+m.Member+" with signature "+string(m.Signature))
		}
		for _, fd := range r.FDs {
			unix.Close(fd)
		}
		c.Send(reply, nil)
	}
}
