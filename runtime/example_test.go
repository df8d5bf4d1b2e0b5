package runtime_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// Dial connects to a bus by its address. Here the bus is started inside the process
// (broker.Start), so that the example needs nothing installed; its address lists kdbusd's
// native socket first and a classic one after it, and Dial takes the native one.
func ExampleDial() {
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println("native transport:", conn.Native())
	fmt.Println("has a unique name:", strings.HasPrefix(conn.UniqueName(), ":"))

	// A classic client (busctl, gdbus, godbus) would use the unix: entry; so can we.
	classic, err := runtime.Dial(ctx, bus.ClassicAddress)
	if err != nil {
		log.Fatal(err)
	}
	defer classic.Close()
	fmt.Println("native transport:", classic.Native())
	// Output:
	// native transport: true
	// has a unique name: true
	// native transport: false
}

// WaitForReady lets a call be made before its service is on the bus: the call waits for the
// service's name to get an owner, within its context's deadline, instead of failing with
// ServiceUnknown.
func ExampleWaitForReady() {
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	client, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	greeted := make(chan string)
	go func() {
		reply, err := greeterv1.NewGreeterClient(client).SayHello(ctx, &greeterv1.HelloRequest{Name: "World"}, runtime.WaitForReady(true))
		if err != nil {
			log.Fatal(err)
		}
		greeted <- reply.GetMessage()
	}()

	// The service comes up while the call may already be waiting for it.
	server, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	if err := greeterv1.RegisterGreeterServer(server, greeter.Server{}); err != nil {
		log.Fatal(err)
	}
	if _, err := server.RequestName(ctx, greeterv1.Greeter_BusName, runtime.NameDoNotQueue); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-greeted)
	// Output: Hello, World!
}
