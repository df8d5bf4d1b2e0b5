// Command server serves the example Vehicle on a bus, owns its well-known name and runs the
// simulation (the odometer counts the distance driven).
//
//	go run ./examples/vehicle/server -embedded            # a bus inside this process; prints how to watch it
//	go run ./examples/vehicle/server -embedded -journey   # and drive around on its own
//	go run ./examples/vehicle/server -address="$BUS"        # serve on an existing bus (default: the session bus)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	embedded := flag.Bool("embedded", false, "start a bus inside this process and serve on it")
	journey := flag.Bool("journey", false, "drive around on a loop: doors, gears and speeds change every second")
	tick := flag.Duration("tick", 100*time.Millisecond, "how often the simulation advances")
	flag.Parse()
	log.SetFlags(0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *embedded, *journey, *tick); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, embedded, journey bool, tick time.Duration) error {
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
	v, err := vehicle.Serve(conn)
	if err != nil {
		return err
	}
	if r, err := conn.RequestName(ctx, vehiclev1.Vehicle_BusName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		return fmt.Errorf("cannot own %s: %v %v", vehiclev1.Vehicle_BusName, r, err)
	}
	log.Printf("serving %s at %s as %s (%s)", vehiclev1.Vehicle_Interface, vehiclev1.Vehicle_ObjectPath, vehiclev1.Vehicle_BusName, conn.UniqueName())
	if embedded {
		printHowToWatch(addr)
	}

	var steps <-chan time.Time
	if journey {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		steps = t.C
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	last := time.Now()
	for step := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Done():
			return conn.Err()
		case now := <-ticker.C:
			if err := v.Tick(now.Sub(last)); err != nil {
				return err
			}
			last = now
		case <-steps:
			if err := journeyStep(ctx, v, step); err != nil {
				log.Printf("journey step %d: %v", step, err)
			}
			step++
		}
	}
}

// journeyStep makes one change of a loop around the block, as a driver would.
func journeyStep(ctx context.Context, v *vehicle.Server, step int) error {
	door := func(name string, open bool) error {
		_, err := v.SetDoor(ctx, &vehiclev1.SetDoorRequest{Door: name, Open: open})
		return err
	}
	drive := func(kmh float64) error {
		_, err := v.Drive(ctx, &vehiclev1.DriveRequest{SpeedKmh: kmh})
		return err
	}
	switch step % 10 {
	case 0:
		return door("front_left", true)
	case 1:
		return door("front_left", false)
	case 2:
		return v.Shift(vehiclev1.Gear_GEAR_DRIVE)
	case 3:
		return drive(30)
	case 4:
		return drive(50)
	case 5:
		return drive(20)
	case 6:
		return drive(0)
	case 7:
		return v.Shift(vehiclev1.Gear_GEAR_PARK)
	case 8:
		return door("trunk", true)
	default:
		return door("trunk", false)
	}
}

// printHowToWatch prints the bus address and the commands that watch and poke the vehicle.
func printHowToWatch(addr string) {
	const (
		name  = vehiclev1.Vehicle_BusName
		path  = vehiclev1.Vehicle_ObjectPath
		iface = vehiclev1.Vehicle_Interface
	)
	fmt.Printf(`bus address: %[1]s

In another terminal:
  export BUS='%[1]s'
  busctl --address="$BUS" monitor %[2]s
  busctl --address="$BUS" introspect %[2]s %[3]s
  busctl --address="$BUS" get-property %[2]s %[3]s %[4]s SpeedKmh Gear Doors
  busctl --address="$BUS" set-property %[2]s %[3]s %[4]s Gear i 4
  busctl --address="$BUS" call %[2]s %[3]s %[4]s Drive d 30
  go run ./examples/vehicle/client -address="$BUS" -door trunk
  go run ./examples/vehicle/client -address="$BUS" -for 1s drive 0 gear PARK open trunk close trunk
`, addr, name, path, iface)
}
