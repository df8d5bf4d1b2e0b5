// Command client calls the example Greeter, waiting for it to appear on the bus if it is not
// there yet.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	name := flag.String("name", "World", "who to greet")
	flag.Parse()
	log.SetFlags(0)
	if *addr == "" {
		a, err := address.SessionBusAddress()
		if err != nil {
			log.Fatal(err)
		}
		*addr = a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := runtime.Dial(ctx, *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := greeterv1.NewGreeterClient(conn)
	// WaitForReady: a server started just before (server & client) may not own its name yet;
	// the call waits for it, up to the deadline, instead of failing with ServiceUnknown.
	hello, err := client.SayHello(ctx, &greeterv1.HelloRequest{Name: *name}, runtime.WaitForReady(true))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(hello.GetMessage())
	sum, err := client.Add(ctx, &greeterv1.AddRequest{A: 40, B: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("40 + 2 =", sum.GetSum())
}
