package greeterv1_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// shouter implements the Greeter. Embedding UnimplementedGreeterServer answers the methods it
// does not write (Add, Describe) with Unimplemented.
type shouter struct {
	greeterv1.UnimplementedGreeterServer
}

func (shouter) SayHello(ctx context.Context, req *greeterv1.HelloRequest) (*greeterv1.HelloReply, error) {
	return &greeterv1.HelloReply{Message: "HELLO, " + req.GetName() + "!"}, nil
}

// RegisterGreeterServer serves an implementation of the Greeter on a connection, at the
// service's object path; owning the service's bus name makes it reachable by that name. The
// bus here is started inside the process, so that the example needs nothing installed.
func ExampleRegisterGreeterServer() {
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	server, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	if err := greeterv1.RegisterGreeterServer(server, shouter{}); err != nil {
		log.Fatal(err)
	}
	if _, err := server.RequestName(ctx, greeterv1.Greeter_BusName, runtime.NameDoNotQueue); err != nil {
		log.Fatal(err)
	}

	client, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	c := greeterv1.NewGreeterClient(client)
	reply, err := c.SayHello(ctx, &greeterv1.HelloRequest{Name: "bus"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetMessage())
	_, err = c.Add(ctx, &greeterv1.AddRequest{A: 1, B: 2})
	fmt.Println(runtime.CodeOf(err))
	// Output:
	// HELLO, bus!
	// Unimplemented
}

// NewGreeterClient calls the Greeter by its bus name. Its methods take the request and
// return the reply, or an error that matches the service's declared errors with errors.Is.
func ExampleNewGreeterClient() {
	bus, err := broker.Start(broker.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer bus.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
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

	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)
	sum, err := client.Add(ctx, &greeterv1.AddRequest{A: 40, B: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("40 + 2 =", sum.GetSum())
	_, err = client.SayHello(ctx, &greeterv1.HelloRequest{})
	fmt.Println("no name:", errors.Is(err, greeterv1.ErrGreeterNoName))
	// Output:
	// 40 + 2 = 42
	// no name: true
}
