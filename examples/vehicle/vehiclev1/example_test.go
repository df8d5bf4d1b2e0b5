package vehiclev1_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/runtime"
)

// A client subscribes to a signal before it acts, and receives the signals in order. The
// argument filter MatchDoorChangedDoor makes the bus deliver the trunk's DoorChanged signals
// only. The bus here is started inside the process, so that the example needs nothing
// installed.
func ExampleVehicleClient_SubscribeDoorChanged() {
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
	if _, err := vehicle.Serve(server); err != nil {
		log.Fatal(err)
	}
	if _, err := server.RequestName(ctx, vehiclev1.Vehicle_BusName, runtime.NameDoNotQueue); err != nil {
		log.Fatal(err)
	}

	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	car := vehiclev1.NewVehicleClient(conn)
	trunk, err := car.SubscribeDoorChanged(ctx, vehiclev1.MatchDoorChangedDoor("trunk"))
	if err != nil {
		log.Fatal(err)
	}
	defer trunk.Close()
	for _, d := range []struct {
		door string
		open bool
	}{{"front_left", true}, {"trunk", true}, {"front_left", false}, {"trunk", false}} {
		if _, err := car.SetDoor(ctx, &vehiclev1.SetDoorRequest{Door: d.door, Open: d.open}); err != nil {
			log.Fatal(err)
		}
	}
	for range 2 {
		s := <-trunk.C()
		fmt.Printf("DoorChanged: %s open=%v\n", s.Args.GetDoor(), s.Args.GetOpen())
	}
	// Output:
	// DoorChanged: trunk open=true
	// DoorChanged: trunk open=false
}
