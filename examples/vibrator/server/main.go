// Command server serves the example vibration motor on a bus under the name
// com.example.vibrator.IVibrator.default.
//
//	go run ./examples/vibrator/server -embedded        # a bus inside this process; prints how to call it
//	go run ./examples/vibrator/server -address="$BUS"    # serve on an existing bus (default: the session bus)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/vibrator"
	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	embedded := flag.Bool("embedded", false, "start a bus inside this process and serve on it")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *embedded); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, embedded bool) error {
	switch {
	case embedded:
		bus, err := broker.Start(broker.Options{})
		if err != nil {
			return err
		}
		defer bus.Close()
		addr = bus.Address
	case addr == "":
		a, err := address.SessionBusAddress()
		if err != nil {
			return err
		}
		addr = a
	}
	conn, err := runtime.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	motor := vibrator.NewMotor(conn, log.Default())
	if err := vib.RegisterIVibratorServer(conn, motor); err != nil {
		return err
	}
	if reply, err := conn.RequestName(ctx, vibrator.BusName, runtime.NameDoNotQueue); err != nil {
		return err
	} else if reply != runtime.NamePrimaryOwner {
		return fmt.Errorf("%s is taken (%v): is another vibrator server running?", vibrator.BusName, reply)
	}
	log.Printf("serving %s at %s as %s", vib.IVibrator_Interface, vib.IVibrator_ObjectPath, vibrator.BusName)
	if embedded {
		fmt.Printf("\nthe bus is inside this process; in another terminal:\n\n")
		fmt.Printf("  export BUS='%s'\n", addr)
		fmt.Printf("  go run ./examples/vibrator/client -address=\"$BUS\"\n")
		fmt.Printf("  busctl --address=\"$BUS\" introspect %s %s\n", vibrator.BusName, vib.IVibrator_ObjectPath)
		fmt.Printf("  busctl --address=\"$BUS\" call %s %s %s On 'ia(so)' 500 0\n\n", vibrator.BusName, vib.IVibrator_ObjectPath, vib.IVibrator_Interface)
	}
	select {
	case <-ctx.Done():
	case <-conn.Done():
		return conn.Err()
	}
	return nil
}
