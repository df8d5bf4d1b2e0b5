// Command client watches the example Vehicle and drives it: it prints the vehicle's state,
// subscribes to DoorChanged (for one door, with an argument filter), GearShifted and the
// changes of the properties, carries out the actions given as arguments, in order, and prints
// the signals as they arrive.
//
//	client [-address=BUS] [-door=NAME] [-for=DURATION] [ACTION...]
//
// Actions: "open DOOR", "close DOOR", "gear GEAR" (PARK, REVERSE, NEUTRAL, DRIVE or a
// number) and "drive KMH". For example:
//
//	go run ./examples/vehicle/client -address="$BUS" -door trunk                 # watch until interrupted
//	go run ./examples/vehicle/client -address="$BUS" -for 1s gear DRIVE drive 30
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	door := flag.String("door", "front_left", `the door whose DoorChanged signals to receive; "" for every door`)
	watch := flag.Duration("for", 0, "how long to watch after the actions; 0: until interrupted")
	buffer := flag.Int("buffer", runtime.DefaultSignalBuffer, "signals each subscription buffers before it loses some")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] [open DOOR | close DOOR | gear GEAR | drive KMH]...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(0)
	actions, err := parseActions(flag.Args())
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *addr == "" {
		a, err := address.SessionBusAddress()
		if err != nil {
			log.Fatal(err)
		}
		*addr = a
	}
	if err := run(ctx, *addr, *door, *watch, *buffer, actions); err != nil {
		log.Fatal(err)
	}
}

// action is one thing to do to the vehicle.
type action struct {
	verb, arg string
	do        func(ctx context.Context, c vehiclev1.VehicleClient) error
}

func parseActions(args []string) ([]action, error) {
	var out []action
	for len(args) > 0 {
		if len(args) < 2 {
			return nil, fmt.Errorf("action %q needs an argument", args[0])
		}
		verb, arg := args[0], args[1]
		args = args[2:]
		a := action{verb: verb, arg: arg}
		switch verb {
		case "open", "close":
			req := &vehiclev1.SetDoorRequest{Door: arg, Open: verb == "open"}
			a.do = func(ctx context.Context, c vehiclev1.VehicleClient) error {
				_, err := c.SetDoor(ctx, req)
				return err
			}
		case "gear":
			g, ok := vehiclev1.Gear_value["GEAR_"+strings.ToUpper(arg)]
			if !ok {
				n, err := strconv.ParseInt(arg, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("no gear %q: use PARK, REVERSE, NEUTRAL, DRIVE or a number", arg)
				}
				g = int32(n)
			}
			a.do = func(ctx context.Context, c vehiclev1.VehicleClient) error {
				return c.SetGear(ctx, vehiclev1.Gear(g))
			}
		case "drive":
			kmh, err := strconv.ParseFloat(arg, 64)
			if err != nil {
				return nil, fmt.Errorf("drive %q: not a speed in km/h", arg)
			}
			a.do = func(ctx context.Context, c vehiclev1.VehicleClient) error {
				_, err := c.Drive(ctx, &vehiclev1.DriveRequest{SpeedKmh: kmh})
				return err
			}
		default:
			return nil, fmt.Errorf("unknown action %q: use open, close, gear or drive", verb)
		}
		out = append(out, a)
	}
	return out, nil
}

func run(ctx context.Context, addr, door string, watch time.Duration, buffer int, actions []action) error {
	conn, err := runtime.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Its calls wait for the vehicle to own its name, so that the client can start together
	// with the server.
	c := vehiclev1.NewVehicleClient(conn, runtime.WithWaitForReady(true))

	// Subscribe first, then read the state: no change falls in between.
	var filter []runtime.SubscribeOption
	if door != "" {
		filter = append(filter, vehiclev1.MatchDoorChangedDoor(door))
	}
	doors, err := c.SubscribeDoorChanged(ctx, append(filter, runtime.Buffer(buffer))...)
	if err != nil {
		return err
	}
	defer doors.Close()
	gears, err := c.SubscribeGearShifted(ctx, runtime.Buffer(buffer))
	if err != nil {
		return err
	}
	defer gears.Close()
	props, err := c.WatchProperties(ctx, runtime.Buffer(buffer))
	if err != nil {
		return err
	}
	defer props.Close()
	if door == "" {
		fmt.Println("watching DoorChanged of every door, GearShifted and PropertiesChanged")
	} else {
		fmt.Printf("watching DoorChanged of %s, GearShifted and PropertiesChanged\n", door)
	}

	st, err := c.GetProperties(ctx)
	if err != nil {
		return err
	}
	fmt.Println("state:", describe(st))

	for _, a := range actions {
		if err := a.do(ctx, c); err != nil {
			fmt.Printf("%s %s: %v\n", a.verb, a.arg, err)
		} else {
			fmt.Printf("%s %s: done\n", a.verb, a.arg)
		}
	}

	var done <-chan time.Time
	if watch > 0 {
		done = time.After(watch)
	}
	for {
		select {
		case <-ctx.Done():
			summary(doors, gears, props)
			return nil
		case <-done:
			summary(doors, gears, props)
			return nil
		case <-conn.Done():
			return conn.Err()
		case s, ok := <-doors.C():
			if !ok {
				return fmt.Errorf("the subscription ended: %v", conn.Err())
			}
			lost(s.Lost)
			fmt.Printf("DoorChanged: %s open=%t (from %s)\n", s.Args.GetDoor(), s.Args.GetOpen(), s.Sender)
		case s, ok := <-gears.C():
			if !ok {
				return fmt.Errorf("the subscription ended: %v", conn.Err())
			}
			lost(s.Lost)
			fmt.Printf("GearShifted: %v -> %v\n", s.Args.GetFrom(), s.Args.GetTo())
		case s, ok := <-props.C():
			if !ok {
				return fmt.Errorf("the subscription ended: %v", conn.Err())
			}
			lost(s.Lost)
			var parts []string
			for _, name := range s.Args.Changed {
				parts = append(parts, name+"="+value(s.Args.Values, name))
			}
			for _, name := range s.Args.Invalidated {
				parts = append(parts, name+" changed")
			}
			fmt.Printf("PropertiesChanged: %s\n", strings.Join(parts, ", "))
			if slices.Contains(s.Args.Invalidated, vehiclev1.Vehicle_Doors_Property) {
				// Doors only invalidates: read it again.
				if d, err := c.GetDoors(ctx); err == nil {
					fmt.Println("  doors now:", doorList(d))
				}
			}
		}
	}
}

func lost(n uint64) {
	if n > 0 {
		fmt.Printf("(lost %d signals before this one: the buffer was full)\n", n)
	}
}

func summary(doors *runtime.Signals[vehiclev1.DoorChanged], gears *runtime.Signals[vehiclev1.GearShifted], props *runtime.Signals[runtime.PropertiesChanged[vehiclev1.VehicleState]]) {
	if n := doors.Lost() + gears.Lost() + props.Lost(); n > 0 {
		fmt.Printf("lost %d signals in all\n", n)
	}
}

func describe(st *vehiclev1.VehicleState) string {
	return fmt.Sprintf("speed %v km/h, gear %v, doors %s, VIN %s, odometer %d m",
		st.GetSpeedKmh(), st.GetGear(), doorList(st.GetDoors()), st.GetVin(), st.GetOdometerM())
}

func value(v *vehiclev1.VehicleState, name string) string {
	switch name {
	case vehiclev1.Vehicle_SpeedKmh_Property:
		return fmt.Sprint(v.GetSpeedKmh())
	case vehiclev1.Vehicle_Gear_Property:
		return v.GetGear().String()
	case vehiclev1.Vehicle_Doors_Property:
		return doorList(v.GetDoors())
	case vehiclev1.Vehicle_Vin_Property:
		return v.GetVin()
	case vehiclev1.Vehicle_OdometerM_Property:
		return fmt.Sprint(v.GetOdometerM())
	}
	return "?"
}

// doorList lists the open doors, or says that all are closed.
func doorList(doors map[string]bool) string {
	var open []string
	for _, d := range slices.Sorted(maps.Keys(doors)) {
		if doors[d] {
			open = append(open, d)
		}
	}
	if len(open) == 0 {
		return "all closed"
	}
	return "open: " + strings.Join(open, " ")
}
