// Command server serves the example Greeter on a bus and owns its well-known name.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	flag.Parse()
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *addr == "" {
		a, err := address.SessionBusAddress()
		if err != nil {
			log.Fatal(err)
		}
		*addr = a
	}
	conn, err := runtime.Dial(ctx, *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if err := greeterv1.RegisterGreeterServer(conn, greeter.Server{}); err != nil {
		log.Fatal(err)
	}
	if r, err := conn.RequestName(ctx, greeterv1.Greeter_BusName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		log.Fatalf("cannot own %s: %v %v", greeterv1.Greeter_BusName, r, err)
	}
	log.Printf("serving %s at %s as %s (%s)", greeterv1.Greeter_Interface, greeterv1.Greeter_ObjectPath, greeterv1.Greeter_BusName, conn.UniqueName())
	select {
	case <-ctx.Done():
	case <-conn.Done():
		log.Fatal(conn.Err())
	}
}
