package vehicle_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// The vehicle emits its signals and then replies, and its replies take a lane while its
// signals go through the bus: a caller still has the signals of a change by the time the
// call that made it returns, change after change.
func TestSignalsBeforeRepliesOverLanes(t *testing.T) {
	bus := bustest.Start(t, bustest.KdbusdNative, dbustest.Config{})
	var laned atomic.Int64
	ctx := ctxFor(t)
	conn, err := runtime.Dial(ctx, bus.Address, runtime.WithUnaryServerInterceptor(
		func(ctx context.Context, req any, _ *runtime.MethodInfo, handler runtime.UnaryHandler) (any, error) {
			// The bus numbers every call it routes and none that a lane carries.
			if runtime.CallerFrom(ctx).Seqnum() == 0 {
				laned.Add(1)
			}
			return handler(ctx, req)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := vehicle.Serve(conn); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(ctx, dest, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	_, c := dial(t, bus.Address)
	doorSigs := must[*runtime.Signals[vehiclev1.DoorChanged]](t)(c.SubscribeDoorChanged(ctx))
	gearSigs := must[*runtime.Signals[vehiclev1.GearShifted]](t)(c.SubscribeGearShifted(ctx))
	props := must[*runtime.Signals[runtime.PropertiesChanged[vehiclev1.VehicleState]]](t)(c.WatchProperties(ctx))
	// The caller's subscriptions are in place at the bus once a call has returned.
	roundTrip(t, c)

	const changes = 300
	for i := range changes {
		open := i%2 == 0
		setDoor(t, c, "trunk", open)
		if got := doors(drain(doorSigs)); !slices.Equal(got, []door{{"trunk", open}}) {
			t.Fatalf("change %d: when SetDoor returned, DoorChanged had brought %v, want trunk open=%v", i, got, open)
		}
		if got := drain(props); len(got) != 1 || !slices.Equal(got[0].Args.Invalidated, []string{vehiclev1.Vehicle_Doors_Property}) {
			t.Fatalf("change %d: when SetDoor returned, %d PropertiesChanged had arrived, want one invalidating Doors", i, len(got))
		}
		g := []vehiclev1.Gear{vehiclev1.Gear_GEAR_REVERSE, vehiclev1.Gear_GEAR_NEUTRAL}[i%2]
		if err := c.SetGear(ctx, g); err != nil {
			t.Fatal(err)
		}
		if got := drain(gearSigs); len(got) != 1 || got[0].Args.GetTo() != g {
			t.Fatalf("change %d: when the Gear write returned, %d GearShifted had arrived, want one to %v", i, len(got), g)
		}
		if got := drain(props); len(got) != 1 || got[0].Args.Values.GetGear() != g {
			t.Fatalf("change %d: when the Gear write returned, %d PropertiesChanged had arrived, want one with Gear %v", i, len(got), g)
		}
	}
	if laned.Load() == 0 {
		t.Fatalf("none of %d SetDoor calls came over a lane", changes)
	}
	t.Logf("%d of %d SetDoor calls came over a lane", laned.Load(), changes)
}
