// Command xml2proto converts D-Bus introspection XML into a .proto file with kdbus-go's
// options, from which protoc-gen-kdbus generates a typed client and a server skeleton that
// speak the original interfaces' wire format (docs/xml2proto.md).
//
//	xml2proto -go_package example.com/gen/pk;pk /usr/share/dbus-1/interfaces/org.freedesktop.PackageKit.xml
//	xml2proto -system -dest org.freedesktop.login1 -path /org/freedesktop/login1 -o login1.proto
//
// With a file argument it reads that file ("-" is standard input); with -dest it asks the
// object at -path of the bus (-system, -address, or the session bus by default) for its
// introspection data. The .proto goes to standard output or to -o.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/internal/version"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
	"github.com/kdbus-go/kdbus/xml2proto"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "xml2proto: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("xml2proto", flag.ContinueOnError)
	var opts xml2proto.Options
	fs.StringVar(&opts.Package, "package", "", "the proto package (default: derived from the interface names)")
	fs.StringVar(&opts.GoPackage, "go_package", "", "set option go_package, such as example.com/gen/login1;login1")
	fs.StringVar(&opts.BusName, "bus_name", "", "set the services' bus_name option (default with -dest: the destination)")
	fs.StringVar(&opts.ObjectPath, "object_path", "", "set the services' object_path option (default with -dest: -path)")
	fs.BoolVar(&opts.KeepStandard, "keep_standard", false, "keep org.freedesktop.DBus.Peer, Introspectable and Properties")
	out := fs.String("o", "", "write the .proto to this file instead of standard output")
	dest := fs.String("dest", "", "introspect a live object of this bus name instead of reading a file")
	path := fs.String("path", "/", "with -dest: the object path to introspect")
	addr := fs.String("address", "", "with -dest: the bus address (default: the session bus)")
	system := fs.Bool("system", false, "with -dest: use the system bus")
	timeout := fs.Duration("timeout", 25*time.Second, "with -dest: how long to wait for the answer")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: xml2proto [flags] file.xml\n       xml2proto [flags] [-system | -address ADDR] -dest NAME [-path /obj]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "xml2proto", version.Version)
		return nil
	}
	var doc io.Reader
	switch {
	case *dest != "" && fs.NArg() == 0:
		xmlText, err := introspectLive(*addr, *system, *dest, *path, *timeout)
		if err != nil {
			return err
		}
		doc = strings.NewReader(xmlText)
		opts.Source = fmt.Sprintf("the object %s of %s", *path, *dest)
		if opts.BusName == "" && !strings.HasPrefix(*dest, ":") {
			opts.BusName = *dest
		}
		if opts.ObjectPath == "" {
			opts.ObjectPath = *path
		}
	case *dest == "" && fs.NArg() == 1:
		name := fs.Arg(0)
		if name == "-" {
			doc, opts.Source = stdin, "standard input"
			break
		}
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, opts.Source = f, baseName(name)
	default:
		fs.Usage()
		return fmt.Errorf("give one XML file, or -dest (and -path) to introspect a live object")
	}
	text, err := xml2proto.Convert(doc, opts)
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = io.WriteString(stdout, text)
		return err
	}
	return os.WriteFile(*out, []byte(text), 0o644)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// introspectLive calls org.freedesktop.DBus.Introspectable.Introspect on the object.
func introspectLive(addr string, system bool, dest, path string, timeout time.Duration) (string, error) {
	if err := wire.ValidateObjectPath(path); err != nil {
		return "", fmt.Errorf("-path: %w", err)
	}
	if err := wire.ValidateBusName(dest); err != nil {
		return "", fmt.Errorf("-dest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var conn *runtime.Conn
	var err error
	switch {
	case addr != "":
		conn, err = runtime.Dial(ctx, addr)
	case system:
		conn, err = runtime.SystemBus(ctx)
	default:
		conn, err = runtime.SessionBus(ctx)
	}
	if err != nil {
		return "", fmt.Errorf("connecting to the bus: %w", err)
	}
	defer conn.Close()
	reply, fds, err := conn.Call(ctx, &wire.Message{
		Type:        wire.MethodCall,
		Path:        wire.ObjectPath(path),
		Interface:   "org.freedesktop.DBus.Introspectable",
		Member:      "Introspect",
		Destination: dest,
	}, nil)
	if err != nil {
		return "", fmt.Errorf("introspecting %s on %s: %w", path, dest, err)
	}
	for _, fd := range fds {
		os.NewFile(uintptr(fd), "fd").Close()
	}
	vals, err := wire.Unmarshal(reply.Body, reply.Order, reply.Signature)
	if err != nil || len(vals) != 1 {
		return "", fmt.Errorf("introspecting %s on %s: the reply is not one string (signature %q)", path, dest, reply.Signature)
	}
	s, ok := vals[0].(string)
	if !ok {
		return "", fmt.Errorf("introspecting %s on %s: the reply is not one string (signature %q)", path, dest, reply.Signature)
	}
	return s, nil
}
