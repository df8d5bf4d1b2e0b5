package vehicle_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
)

const (
	dest  = vehiclev1.Vehicle_BusName
	path  = vehiclev1.Vehicle_ObjectPath
	iface = vehiclev1.Vehicle_Interface
)

// wait is how long a test waits for something that should happen at once, generous for a
// loaded machine.
const wait = 20 * time.Second

// fixture is a vehicle served on a bus.
type fixture struct {
	bus  *bustest.Bus
	srv  *vehicle.Server
	conn *runtime.Conn // the server's connection
}

// serve serves a new vehicle on bus, owning the vehicle's bus name.
func serve(t testing.TB, bus *bustest.Bus) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv, err := vehicle.Serve(conn)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(ctx, dest, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
	return &fixture{bus: bus, srv: srv, conn: conn}
}

// start serves a new vehicle on a new bus of the given kind.
func start(t testing.TB, kind string) *fixture {
	t.Helper()
	return serve(t, bustest.Start(t, kind, dbustest.Config{}))
}

// each runs f on every kind of bus, with a vehicle served on it.
func each(t *testing.T, f func(t *testing.T, fx *fixture)) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) { f(t, serve(t, bus)) })
}

// dial connects a new client to the vehicle's bus.
func dial(t testing.TB, addr string) (*runtime.Conn, vehiclev1.VehicleClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := runtime.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, vehiclev1.NewVehicleClient(conn)
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip makes a call from c to the vehicle. The bus keeps the order of one sender's
// messages to one receiver, so the signals the vehicle sent before it answered have reached
// c's subscriptions when roundTrip returns.
func roundTrip(t testing.TB, c vehiclev1.VehicleClient) {
	t.Helper()
	if vin, err := c.GetVin(ctxFor(t)); err != nil || vin != vehicle.VIN {
		t.Fatalf("GetVin = %q, %v", vin, err)
	}
}

// ping makes a round trip from conn to the connection peer, which need not serve anything:
// the signals peer sent before it answered have reached conn's subscriptions.
func ping(t testing.TB, conn *runtime.Conn, peer string) {
	t.Helper()
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: peer, Path: "/", Interface: runtime.PeerInterface, Member: "Ping"}
	if _, _, err := conn.Call(ctxFor(t), m, nil); err != nil {
		t.Fatalf("Ping %s: %v", peer, err)
	}
}

// next waits for the next signal of s.
func next[T any](t testing.TB, s *runtime.Signals[T]) runtime.Signal[T] {
	t.Helper()
	select {
	case v, ok := <-s.C():
		if !ok {
			t.Fatalf("%v: channel closed", s)
		}
		return v
	case <-time.After(wait):
		t.Fatalf("%v: no signal within %v", s, wait)
	}
	panic("unreachable")
}

// drain takes the signals waiting in s without blocking.
func drain[T any](s *runtime.Signals[T]) []runtime.Signal[T] {
	var out []runtime.Signal[T]
	for {
		select {
		case v, ok := <-s.C():
			if !ok {
				return out
			}
			out = append(out, v)
		default:
			return out
		}
	}
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func setDoor(t testing.TB, c vehiclev1.VehicleClient, door string, open bool) {
	t.Helper()
	if _, err := c.SetDoor(ctxFor(t), &vehiclev1.SetDoorRequest{Door: door, Open: open}); err != nil {
		t.Fatalf("SetDoor(%s, %t): %v", door, open, err)
	}
}

func drive(t testing.TB, c vehiclev1.VehicleClient, kmh float64) {
	t.Helper()
	if _, err := c.Drive(ctxFor(t), &vehiclev1.DriveRequest{SpeedKmh: kmh}); err != nil {
		t.Fatalf("Drive(%v): %v", kmh, err)
	}
}

// door is a DoorChanged signal as a comparable value.
type door struct {
	Door string
	Open bool
}

func doors(sigs []runtime.Signal[vehiclev1.DoorChanged]) []door {
	var out []door
	for _, s := range sigs {
		out = append(out, door{s.Args.GetDoor(), s.Args.GetOpen()})
	}
	return out
}

// TestService drives the vehicle through its generated client and checks its rules.
func TestService(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		_, c := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		st, err := c.GetProperties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := vehicle.InitialState()
		if st.GetGear() != want.GetGear() || st.GetVin() != vehicle.VIN || st.GetSpeedKmh() != 0 || st.GetOdometerM() != 0 || !reflect.DeepEqual(st.GetDoors(), want.GetDoors()) {
			t.Fatalf("GetProperties = %v, want %v", st, want)
		}

		_, err = c.SetDoor(ctx, &vehiclev1.SetDoorRequest{Door: "sunroof", Open: true})
		if runtime.CodeOf(err) != runtime.InvalidArgument {
			t.Errorf("SetDoor(sunroof): %v, want InvalidArgument", err)
		}
		_, err = c.Drive(ctx, &vehiclev1.DriveRequest{SpeedKmh: 30})
		if runtime.CodeOf(err) != runtime.FailedPrecondition || !strings.Contains(err.Error(), "GEAR_PARK") {
			t.Errorf("Drive in PARK: %v, want FailedPrecondition", err)
		}
		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_DRIVE); err != nil {
			t.Fatal(err)
		}
		setDoor(t, c, "trunk", true)
		_, err = c.Drive(ctx, &vehiclev1.DriveRequest{SpeedKmh: 30})
		if runtime.CodeOf(err) != runtime.FailedPrecondition || !strings.Contains(err.Error(), "trunk open") {
			t.Errorf("Drive with the trunk open: %v, want FailedPrecondition", err)
		}
		setDoor(t, c, "trunk", false)
		drive(t, c, 36)
		_, err = c.SetDoor(ctx, &vehiclev1.SetDoorRequest{Door: "front_left", Open: true})
		if !errors.Is(err, vehiclev1.ErrVehicleMoving) || !strings.Contains(err.Error(), "cannot open front_left while moving") {
			t.Errorf("opening a door while moving: %v, want the Moving error", err)
		}
		// Closing a closed door is allowed while moving, and changes nothing.
		setDoor(t, c, "front_left", false)
		_, err = c.Drive(ctx, &vehiclev1.DriveRequest{SpeedKmh: -1})
		if runtime.CodeOf(err) != runtime.InvalidArgument {
			t.Errorf("Drive(-1): %v, want InvalidArgument", err)
		}

		// 36 km/h is 10 m/s: 1.55 s drive 15 m, and the half metre left counts later.
		if err := fx.srv.Tick(1550 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if m := must[uint64](t)(c.GetOdometerM(ctx)); m != 15 {
			t.Errorf("OdometerM = %d after 1.55 s at 36 km/h, want 15", m)
		}
		if err := fx.srv.Tick(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if m := must[uint64](t)(c.GetOdometerM(ctx)); m != 16 {
			t.Errorf("OdometerM = %d after 1.6 s at 36 km/h, want 16", m)
		}
		if got := must[float64](t)(c.GetSpeedKmh(ctx)); got != 36 {
			t.Errorf("GetSpeedKmh = %v, want 36", got)
		}
		if got := must[vehiclev1.Gear](t)(c.GetGear(ctx)); got != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("GetGear = %v, want DRIVE", got)
		}
		if got := must[map[string]bool](t)(c.GetDoors(ctx)); !reflect.DeepEqual(got, want.GetDoors()) {
			t.Errorf("GetDoors = %v, want all closed", got)
		}
	})
}

// TestSignalsAndPropertiesChanged checks what each change announces: DoorChanged and an
// invalidated Doors for a door, GearShifted and the new Gear for a shift, the new speed for
// Drive, nothing for the odometer, and one PropertiesChanged for an Update of several.
func TestSignalsAndPropertiesChanged(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		_, c := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		doorSigs := must[*runtime.Signals[vehiclev1.DoorChanged]](t)(c.SubscribeDoorChanged(ctx))
		gearSigs := must[*runtime.Signals[vehiclev1.GearShifted]](t)(c.SubscribeGearShifted(ctx))
		props := must[*runtime.Signals[runtime.PropertiesChanged[vehiclev1.VehicleState]]](t)(c.WatchProperties(ctx))

		setDoor(t, c, "rear_right", true)
		setDoor(t, c, "rear_right", true) // no change: no signal
		setDoor(t, c, "rear_right", false)
		if got, want := doors([]runtime.Signal[vehiclev1.DoorChanged]{next(t, doorSigs), next(t, doorSigs)}), []door{{"rear_right", true}, {"rear_right", false}}; !slices.Equal(got, want) {
			t.Errorf("DoorChanged: %v, want %v", got, want)
		}
		for range 2 {
			pc := next(t, props).Args
			if len(pc.Changed) != 0 || !slices.Equal(pc.Invalidated, []string{vehiclev1.Vehicle_Doors_Property}) || pc.Values.GetDoors() != nil {
				t.Errorf("a door's PropertiesChanged: %+v, want Doors invalidated", pc)
			}
		}

		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_REVERSE); err != nil {
			t.Fatal(err)
		}
		if g := next(t, gearSigs); g.Args.GetFrom() != vehiclev1.Gear_GEAR_PARK || g.Args.GetTo() != vehiclev1.Gear_GEAR_REVERSE || g.Sender != fx.conn.UniqueName() || g.Path != path {
			t.Errorf("GearShifted: %+v %v, want PARK to REVERSE from %s at %s", g, g.Args, fx.conn.UniqueName(), path)
		}
		if pc := next(t, props).Args; !slices.Equal(pc.Changed, []string{"Gear"}) || pc.Values.GetGear() != vehiclev1.Gear_GEAR_REVERSE || len(pc.Invalidated) != 0 {
			t.Errorf("PropertiesChanged after shifting: %+v", pc)
		}
		// A local shift announces the same.
		if err := fx.srv.Shift(vehiclev1.Gear_GEAR_DRIVE); err != nil {
			t.Fatal(err)
		}
		if g := next(t, gearSigs); g.Args.GetFrom() != vehiclev1.Gear_GEAR_REVERSE || g.Args.GetTo() != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("GearShifted: %v, want REVERSE to DRIVE", g.Args)
		}
		if pc := next(t, props).Args; !slices.Equal(pc.Changed, []string{"Gear"}) || pc.Values.GetGear() != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("PropertiesChanged after a local shift: %+v", pc)
		}

		drive(t, c, 50)
		if err := fx.srv.Tick(time.Second); err != nil { // the odometer announces nothing
			t.Fatal(err)
		}
		drive(t, c, 0)
		for _, want := range []float64{50, 0} {
			if pc := next(t, props).Args; !slices.Equal(pc.Changed, []string{"SpeedKmh"}) || pc.Values.GetSpeedKmh() != want {
				t.Errorf("PropertiesChanged after driving: %+v, want SpeedKmh %v", pc, want)
			}
		}

		// Setting the values the store holds announces nothing; values are compared encoded.
		if err := fx.srv.Props.SetSpeedKmh(0); err != nil {
			t.Fatal(err)
		}
		if err := fx.srv.Props.SetDoors(maps.Clone(fx.srv.Props.Doors())); err != nil {
			t.Fatal(err)
		}

		// Several changes in one Update: one signal, the properties in field order.
		if err := fx.srv.Props.Update(func(v *vehiclev1.VehicleState) {
			v.Gear = vehiclev1.Gear_GEAR_NEUTRAL
			v.SpeedKmh = 5
			v.OdometerM = 1000
			v.Doors = map[string]bool{"front_left": true}
		}); err != nil {
			t.Fatal(err)
		}
		pc := next(t, props).Args
		if !slices.Equal(pc.Changed, []string{"SpeedKmh", "Gear"}) || !slices.Equal(pc.Invalidated, []string{"Doors"}) ||
			pc.Values.GetSpeedKmh() != 5 || pc.Values.GetGear() != vehiclev1.Gear_GEAR_NEUTRAL {
			t.Errorf("PropertiesChanged after Update: %+v", pc)
		}
		roundTrip(t, c)
		if rest := drain(props); len(rest) != 0 {
			t.Errorf("more PropertiesChanged than changes: %+v", rest[0].Args)
		}
		if rest := drain(doorSigs); len(rest) != 0 {
			t.Errorf("more DoorChanged than changes: %v", doors(rest))
		}
		if rest := drain(gearSigs); len(rest) != 0 {
			t.Errorf("more GearShifted than shifts: %v", rest[0].Args)
		}
		if m := must[uint64](t)(c.GetOdometerM(ctx)); m != 1000 {
			t.Errorf("OdometerM = %d, want 1000", m)
		}
	})
}

// TestDoorFilters checks that argument filters deliver exactly the matching signals, in order.
func TestDoorFilters(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		_, driver := dial(t, fx.bus.Address)
		_, c := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		sub := func(opts ...runtime.SubscribeOption) *runtime.Signals[vehiclev1.DoorChanged] {
			t.Helper()
			s, err := c.SubscribeDoorChanged(ctx, append(opts, runtime.Buffer(100))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		frontLeft := sub(vehiclev1.MatchDoorChangedDoor("front_left"))
		trunk := sub(vehiclev1.MatchDoorChangedDoor("trunk"))
		none := sub(vehiclev1.MatchDoorChangedDoor("sunroof"))
		all := sub()

		var emitted []door
		for i, d := range []string{"front_left", "trunk", "rear_left", "front_left", "front_right", "trunk", "rear_left", "front_left", "trunk", "trunk", "rear_right", "front_left"} {
			open := !fx.srv.Props.Doors()[d]
			setDoor(t, driver, d, open)
			emitted = append(emitted, door{d, open})
			if i == 5 { // and once straight from the emitter, with a door the server does not have
				if err := fx.srv.Signals.EmitDoorChanged(&vehiclev1.DoorChanged{Door: "sunroof", Open: true}); err != nil {
					t.Fatal(err)
				}
				emitted = append(emitted, door{"sunroof", true})
			}
		}
		roundTrip(t, c)
		only := func(name string) []door {
			var out []door
			for _, d := range emitted {
				if d.Door == name {
					out = append(out, d)
				}
			}
			return out
		}
		for _, x := range []struct {
			name string
			s    *runtime.Signals[vehiclev1.DoorChanged]
			want []door
		}{
			{"front_left", frontLeft, only("front_left")},
			{"trunk", trunk, only("trunk")},
			{"sunroof", none, only("sunroof")},
			{"unfiltered", all, emitted},
		} {
			got := drain(x.s)
			if !slices.Equal(doors(got), x.want) {
				t.Errorf("subscriber to %s got\n%v\nwant\n%v", x.name, doors(got), x.want)
			}
			for _, g := range got {
				if g.Lost != 0 || g.Sender != fx.conn.UniqueName() || g.Path != path {
					t.Errorf("subscriber to %s: signal from %s at %s, lost %d", x.name, g.Sender, g.Path, g.Lost)
				}
			}
			if x.s.Lost() != 0 {
				t.Errorf("subscriber to %s lost %d", x.name, x.s.Lost())
			}
		}
	})
}

// emitBoth has the vehicle and another connection emit five DoorChanged signals each ("real0"
// to "real4" and "fake0" to "fake4"), and returns once they have reached the subscriptions of
// subConn.
func emitBoth(t *testing.T, fx *fixture, impostor, subConn *runtime.Conn, c vehiclev1.VehicleClient) {
	t.Helper()
	real := vehiclev1.NewVehicleEmitter(fx.conn)
	fake := vehiclev1.NewVehicleEmitter(impostor)
	for i := range 5 {
		if err := real.EmitDoorChanged(&vehiclev1.DoorChanged{Door: fmt.Sprint("real", i), Open: true}); err != nil {
			t.Fatal(err)
		}
		if err := fake.EmitDoorChanged(&vehiclev1.DoorChanged{Door: fmt.Sprint("fake", i), Open: true}); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip(t, c)
	ping(t, subConn, impostor.UniqueName())
}

// bySender groups the doors of the signals by sender. Two senders' signals interleave as they
// race; each sender's arrive in order.
func bySender(got []runtime.Signal[vehiclev1.DoorChanged]) map[string][]string {
	out := map[string][]string{}
	for _, g := range got {
		out[g.Sender] = append(out[g.Sender], g.Args.GetDoor())
	}
	return out
}

func numbered(prefix string) []string {
	var out []string
	for i := range 5 {
		out = append(out, fmt.Sprint(prefix, i))
	}
	return out
}

// TestSenderFilters checks that subscriptions receive the signals of the senders they name
// only: the vehicle's, by default, and not those of another connection emitting the same
// signal.
func TestSenderFilters(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		impostor, _ := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		// Each subscription on a connection of its own: what the bus delivers for one rule.
		sub := func(opts ...runtime.SubscribeOption) (*runtime.Conn, vehiclev1.VehicleClient, *runtime.Signals[vehiclev1.DoorChanged]) {
			t.Helper()
			conn, c := dial(t, fx.bus.Address)
			s, err := c.SubscribeDoorChanged(ctx, append(opts, runtime.Buffer(100))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return conn, c, s
		}
		realName, fakeName := fx.conn.UniqueName(), impostor.UniqueName()
		for _, x := range []struct {
			name string
			opts []runtime.SubscribeOption
			want map[string][]string
		}{
			{"the default sender, " + dest, nil, map[string][]string{realName: numbered("real")}},
			{"FromSender(the vehicle's unique name)", []runtime.SubscribeOption{runtime.FromSender(realName)}, map[string][]string{realName: numbered("real")}},
			{"FromSender(the other's unique name)", []runtime.SubscribeOption{runtime.FromSender(fakeName)}, map[string][]string{fakeName: numbered("fake")}},
			{`FromSender("")`, []runtime.SubscribeOption{runtime.FromSender("")}, map[string][]string{realName: numbered("real"), fakeName: numbered("fake")}},
		} {
			conn, c, s := sub(x.opts...)
			emitBoth(t, fx, impostor, conn, c)
			if got := bySender(drain(s)); !reflect.DeepEqual(got, x.want) {
				t.Errorf("%s: got %v, want %v", x.name, got, x.want)
			}
		}
	})
}

// TestPropertiesChangedInOrder checks that many changes arrive in the order they were made.
func TestPropertiesChangedInOrder(t *testing.T) {
	const n = 500
	each(t, func(t *testing.T, fx *fixture) {
		subConn, c := dial(t, fx.bus.Address)
		w, err := c.WatchProperties(ctxFor(t), runtime.Buffer(n))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		got := make(chan []float64, 1)
		go func() {
			var speeds []float64
			timeout := time.After(2 * wait)
			for len(speeds) < n {
				select {
				case s, ok := <-w.C():
					if !ok {
						got <- speeds
						return
					}
					speeds = append(speeds, s.Args.Values.GetSpeedKmh())
				case <-timeout:
					got <- speeds
					return
				}
			}
			got <- speeds
		}()
		for i := 1; i <= n; i++ {
			if err := fx.srv.Props.SetSpeedKmh(float64(i)); err != nil {
				t.Fatal(err)
			}
		}
		speeds := <-got
		for i, v := range speeds {
			if v != float64(i+1) {
				t.Fatalf("PropertiesChanged %d carried SpeedKmh %v, want %d; all: %v", i, v, i+1, speeds)
			}
		}
		if len(speeds) != n {
			t.Fatalf("received %d of %d PropertiesChanged (lost %d, bus dropped %d)", len(speeds), n, w.Lost(), subConn.Stats().Dropped)
		}
		if w.Lost() != 0 {
			t.Errorf("Lost = %d", w.Lost())
		}
	})
}

// TestSlowSubscriberIsToldWhatItLost checks that a subscriber whose buffer overflows learns how
// many signals it lost, and where.
func TestSlowSubscriberIsToldWhatItLost(t *testing.T) {
	const n = 300
	each(t, func(t *testing.T, fx *fixture) {
		subConn, c := dial(t, fx.bus.Address)
		s, err := c.SubscribeDoorChanged(ctxFor(t), runtime.Buffer(4))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// The door argument carries a counter, so that the gaps show.
		emit := func(i int) {
			t.Helper()
			if err := fx.srv.Signals.EmitDoorChanged(&vehiclev1.DoorChanged{Door: fmt.Sprint(i), Open: i%2 == 0}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			emit(i)
		}
		roundTrip(t, c) // every signal has been delivered or dropped
		got := drain(s)
		if len(got) == 0 || len(got) > 4 {
			t.Fatalf("a subscriber with a buffer of 4 holds %d signals", len(got))
		}
		// A last signal, once there is room again, carries the count of those lost since.
		emit(n)
		got = append(got, next(t, s))
		var told uint64
		want := 0
		for _, g := range got {
			num, err := strconv.Atoi(g.Args.GetDoor())
			if err != nil {
				t.Fatal(err)
			}
			if num != want+int(g.Lost) {
				t.Fatalf("signal %d arrived saying %d were lost before it, after signal %d", num, g.Lost, want-1)
			}
			told += g.Lost
			want = num + 1
		}
		bus := subConn.Stats().Dropped // broadcasts a native bus could not deliver, counted apart
		if want != n+1 || uint64(len(got))+told+bus != n+1 || told != s.Lost() {
			t.Fatalf("received %d, told of %d lost (Lost() = %d, bus dropped %d), of %d", len(got), told, s.Lost(), bus, n+1)
		}
		if told == 0 {
			t.Fatalf("a subscriber with a buffer of 4 lost none of %d signals", n)
		}
		t.Logf("received %d, lost %d in the subscription's buffer, %d dropped by the bus", len(got), told, bus)
	})
}

// TestConstPropertyAndWriteChecks checks over the bus that Vin cannot change and that the
// server's check of writes to Gear decides what clients get.
func TestConstPropertyAndWriteChecks(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		_, c := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		if _, ok := reflect.TypeOf(fx.srv.Props).MethodByName("SetVin"); ok {
			t.Error("the store has a setter for the const property Vin")
		}
		err := fx.srv.Props.Update(func(v *vehiclev1.VehicleState) {
			v.Vin = "CHANGED"
			v.SpeedKmh = 99 // not applied either: an Update applies all or nothing
		})
		if runtime.CodeOf(err) != runtime.FailedPrecondition || !strings.Contains(err.Error(), "const") {
			t.Errorf("Update changing Vin: %v, want FailedPrecondition", err)
		}
		if vin := must[string](t)(c.GetVin(ctx)); vin != vehicle.VIN {
			t.Errorf("Vin = %q after a refused Update", vin)
		}
		if v := must[float64](t)(c.GetSpeedKmh(ctx)); v != 0 {
			t.Errorf("SpeedKmh = %v after a refused Update", v)
		}

		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_DRIVE); err != nil {
			t.Fatal(err)
		}
		drive(t, c, 80)
		err = c.SetGear(ctx, vehiclev1.Gear_GEAR_PARK)
		if !errors.Is(err, vehiclev1.ErrVehicleMoving) || !strings.Contains(err.Error(), "cannot shift into GEAR_PARK while moving") {
			t.Errorf("SetGear(PARK) while moving: %v, want the Moving error", err)
		}
		if g := must[vehiclev1.Gear](t)(c.GetGear(ctx)); g != vehiclev1.Gear_GEAR_DRIVE || fx.srv.Props.Gear() != g {
			t.Errorf("Gear = %v after a refused write, want DRIVE", g)
		}
		err = c.SetGear(ctx, vehiclev1.Gear(42))
		if runtime.CodeOf(err) != runtime.InvalidArgument {
			t.Errorf("SetGear(42): %v, want InvalidArgument", err)
		}
		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_NEUTRAL); err != nil {
			t.Errorf("SetGear(NEUTRAL) while moving: %v", err)
		}
		drive(t, c, 0)
		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_PARK); err != nil {
			t.Errorf("SetGear(PARK) standing still: %v", err)
		}
		if g := fx.srv.Props.Gear(); g != vehiclev1.Gear_GEAR_PARK {
			t.Errorf("the store holds gear %v, want PARK", g)
		}
	})
}

func TestServedXMLEqualsGeneratedFile(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		conn, _ := dial(t, fx.bus.Address)
		m, _, err := conn.Call(ctxFor(t), &wire.Message{
			Type: wire.MethodCall, Destination: dest, Path: path,
			Interface: runtime.IntrospectableInterface, Member: "Introspect",
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile("vehiclev1/vehicle.Vehicle.introspect.xml")
		if err != nil {
			t.Fatal(err)
		}
		// The object also serves its descriptors, on an interface listed first.
		served := introspect.Document([]string{runtime.ReflectionXML, vehiclev1.Vehicle_ServiceDesc.XML}, nil)
		if v[0] != served || string(file) != vehiclev1.Vehicle_IntrospectXML || string(file) != introspect.Document([]string{vehiclev1.Vehicle_ServiceDesc.XML}, nil) {
			t.Fatalf("served XML differs from the generated file:\nserved:\n%s\nfile:\n%s", v[0], file)
		}
		if _, err := introspect.ParseString(string(file)); err != nil {
			t.Fatal(err)
		}
	})
}
