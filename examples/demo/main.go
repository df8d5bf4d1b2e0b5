// Command demo shows kdbus-go end to end with nothing installed: it generates the greeter's
// Go stubs and introspection XML from examples/greeter/greeter.proto (in-process, as
// protoc-gen-kdbus would), starts a bus inside this process, serves the generated Greeter on
// it, calls it with the generated client, and times round trips.
//
//	go run ./examples/demo            # from the repository root
//	go run ./examples/demo -wait      # keep serving, to try busctl against the printed address
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/runtime"
)

func main() {
	calls := flag.Int("calls", 20000, "round trips to time")
	wait := flag.Bool("wait", false, "keep serving until interrupted, for busctl to poke at")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*calls, *wait); err != nil {
		log.Fatal("demo: ", err)
	}
}

func run(calls int, wait bool) error {
	fmt.Println("1. generate: greeter.proto → Go stubs and introspection XML")
	if err := generate(); err != nil {
		fmt.Println("   (skipped:", err, ")")
	}

	fmt.Println("2. serve: a bus inside this process, the generated Greeter on it")
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx := context.Background()
	srv, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := greeterv1.RegisterGreeterServer(srv, greeter.Server{}); err != nil {
		return err
	}
	if _, err := srv.RequestName(ctx, greeterv1.Greeter_BusName, runtime.NameDoNotQueue); err != nil {
		return err
	}
	fmt.Printf("   bus at %s\n   %s serves %s at %s\n", bus.Address, greeterv1.Greeter_BusName, greeterv1.Greeter_Interface, greeterv1.Greeter_ObjectPath)

	fmt.Println("3. call: the generated client")
	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)
	hello, err := client.SayHello(ctx, &greeterv1.HelloRequest{Name: "World"})
	if err != nil {
		return err
	}
	fmt.Printf("   SayHello(World) = %q\n", hello.GetMessage())
	sum, err := client.Add(ctx, &greeterv1.AddRequest{A: 40, B: 2})
	if err != nil {
		return err
	}
	fmt.Printf("   Add(40, 2) = %d\n", sum.GetSum())
	d, err := client.Describe(ctx, &greeterv1.DescribeRequest{
		Person: &greeterv1.Person{Name: "Ada", Age: 36, Tags: []string{"math", "engines"}},
		Scores: map[string]int32{"poetry": 7, "analysis": 10},
		Mood:   greeterv1.Mood_MOOD_HAPPY,
	})
	if err != nil {
		return err
	}
	fmt.Printf("   Describe(...) = %q\n", d.GetSummary())
	_, err = client.SayHello(ctx, &greeterv1.HelloRequest{})
	fmt.Printf("   SayHello(\"\") fails with the service's own error: %v (errors.Is NoName: %v)\n", err, errors.Is(err, greeterv1.ErrGreeterNoName))

	req := &greeterv1.HelloRequest{Name: "World"}
	start := time.Now()
	for range calls {
		if _, err := client.SayHello(ctx, req); err != nil {
			return err
		}
	}
	if calls > 0 {
		fmt.Printf("4. time: %d SayHello round trips through the bus: %v each\n", calls, time.Since(start)/time.Duration(calls))
	}

	if wait {
		fmt.Printf("\nServing until interrupted. Try:\n  busctl --address='%s' introspect %s %s\n  busctl --address='%s' call %s %s %s SayHello s World\n",
			bus.Address, greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath,
			bus.Address, greeterv1.Greeter_BusName, greeterv1.Greeter_ObjectPath, greeterv1.Greeter_Interface)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
	}
	return nil
}

// generate runs the generator on greeter.proto in-process and compares its output with the
// checked-in files, which the program above is compiled from.
func generate() error {
	const proto = "greeter/greeter.proto"
	root, err := repoRoot()
	if err != nil {
		return err
	}
	files, err := generator.Compile([]string{filepath.Join(root, "examples"), filepath.Join(root, "proto")}, "module=github.com/kdbus-go/kdbus", io.Discard, proto)
	if err != nil {
		return err
	}
	for _, f := range files {
		old, err := os.ReadFile(filepath.Join(root, f.GetName()))
		same := err == nil && bytes.Equal(old, []byte(f.GetContent()))
		fmt.Printf("   %s: %d bytes, identical to the checked-in copy: %v\n", f.GetName(), len(f.GetContent()), same)
	}
	return nil
}

// repoRoot finds the repository from the working directory: the nearest directory above it
// that holds examples/greeter/greeter.proto.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "examples", "greeter", "greeter.proto")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run inside the repository to see the generation step")
		}
		dir = parent
	}
}
