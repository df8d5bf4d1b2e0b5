// Package vehicle implements the example Vehicle service defined in vehicle.proto: a simulated
// car whose state is a set of D-Bus properties (SpeedKmh, Gear, Doors, Vin, OdometerM) and
// whose events are signals (DoorChanged, GearShifted). The server and client commands beside it
// serve and watch it; busctl and gdbus can watch it too.
package vehicle

import (
	"context"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Doors are the vehicle's doors, the keys of its Doors property.
var Doors = []string{"front_left", "front_right", "rear_left", "rear_right", "trunk"}

// VIN is the vehicle identification number of every simulated vehicle, its Vin property.
const VIN = "1KDBUSG0XVEH00042"

// MaxSpeedKmh is the fastest the vehicle drives.
const MaxSpeedKmh = 250

// InitialState is the state a new vehicle starts in: parked, every door closed, not moving.
func InitialState() *vehiclev1.VehicleState {
	doors := make(map[string]bool, len(Doors))
	for _, d := range Doors {
		doors[d] = false
	}
	return &vehiclev1.VehicleState{Gear: vehiclev1.Gear_GEAR_PARK, Doors: doors, Vin: VIN}
}

// Server implements vehiclev1.VehicleServer. Its state lives in Props, which answers
// org.freedesktop.DBus.Properties and announces changes; Signals emits DoorChanged and
// GearShifted.
type Server struct {
	vehiclev1.UnimplementedVehicleServer

	// Props holds the vehicle's state.
	Props *vehiclev1.VehiclePropertyStore
	// Signals emits the vehicle's signals on the connection given to New.
	Signals *vehiclev1.VehicleEmitter

	// mu serializes changes, so that each check and the change it allows happen together and
	// signals leave in the order of the changes.
	mu sync.Mutex
	// metres is the distance driven that OdometerM, which counts whole metres, does not show yet.
	metres float64
}

// New returns a vehicle in its initial state whose signals go out on conn. Serve it with
// vehiclev1.RegisterVehicleServer(conn, s, s.Props), or use Serve.
func New(conn *runtime.Conn) *Server {
	s := &Server{
		Props:   vehiclev1.NewVehiclePropertyStore(InitialState()),
		Signals: vehiclev1.NewVehicleEmitter(conn),
	}
	s.Props.OnSet(s.onSet)
	return s
}

// Serve returns a new vehicle served on conn at vehiclev1.Vehicle_ObjectPath. Owning the bus
// name vehiclev1.Vehicle_BusName is left to the caller.
func Serve(conn *runtime.Conn) (*Server, error) {
	s := New(conn)
	if err := vehiclev1.RegisterVehicleServer(conn, s, s.Props); err != nil {
		return nil, err
	}
	return s, nil
}

// SetDoor opens or closes a door, and emits DoorChanged when that changed it. Doors cannot be
// opened while the vehicle moves.
func (s *Server) SetDoor(ctx context.Context, req *vehiclev1.SetDoorRequest) (*emptypb.Empty, error) {
	door := req.GetDoor()
	if !slices.Contains(Doors, door) {
		return nil, runtime.Errorf(runtime.InvalidArgument, "no door %q; the doors are %v", door, Doors)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.GetOpen() && s.Props.SpeedKmh() > 0 {
		return nil, runtime.NewError(vehiclev1.Vehicle_Error_Moving, "cannot open "+door+" while moving")
	}
	doors := s.Props.Doors()
	if doors[door] == req.GetOpen() {
		return &emptypb.Empty{}, nil
	}
	// The store keeps the map it is given, so change a copy.
	doors = maps.Clone(doors)
	doors[door] = req.GetOpen()
	if err := s.Props.SetDoors(doors); err != nil {
		return nil, err
	}
	if err := s.Signals.EmitDoorChanged(&vehiclev1.DoorChanged{Door: door, Open: req.GetOpen()}); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Drive sets the speed. Moving needs the gear in DRIVE or REVERSE and every door closed;
// stopping (speed 0) is always allowed.
func (s *Server) Drive(ctx context.Context, req *vehiclev1.DriveRequest) (*emptypb.Empty, error) {
	speed := req.GetSpeedKmh()
	if math.IsNaN(speed) || speed < 0 || speed > MaxSpeedKmh {
		return nil, runtime.Errorf(runtime.InvalidArgument, "speed %v km/h is not between 0 and %d", speed, MaxSpeedKmh)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if speed > 0 {
		if g := s.Props.Gear(); g != vehiclev1.Gear_GEAR_DRIVE && g != vehiclev1.Gear_GEAR_REVERSE {
			return nil, runtime.Errorf(runtime.FailedPrecondition, "cannot drive in %v: shift to GEAR_DRIVE or GEAR_REVERSE first", g)
		}
		for _, d := range Doors {
			if s.Props.Doors()[d] {
				return nil, runtime.Errorf(runtime.FailedPrecondition, "cannot drive with %s open", d)
			}
		}
	}
	if err := s.Props.SetSpeedKmh(speed); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Shift moves the gear selector, as the driver would, and emits GearShifted when that changed
// it. Shifting into PARK while moving fails with the Moving error.
func (s *Server) Shift(g vehiclev1.Gear) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shift(g)
}

// onSet handles a client's write of a property. Only Gear is writable: the shift is made here,
// with its checks and its GearShifted signal, under the same lock as the driver's own shifts,
// and runtime.ErrHandled tells the store that the value is set.
func (s *Server) onSet(ctx context.Context, name string, v *vehiclev1.VehicleState) error {
	if name != vehiclev1.Vehicle_Gear_Property {
		return runtime.Errorf(runtime.PermissionDenied, "property %s cannot be written", name)
	}
	if err := s.Shift(v.GetGear()); err != nil {
		return err
	}
	return runtime.ErrHandled
}

// shift changes the gear; s.mu is held.
func (s *Server) shift(g vehiclev1.Gear) error {
	if _, ok := vehiclev1.Gear_name[int32(g)]; !ok || g == vehiclev1.Gear_GEAR_UNSPECIFIED {
		return runtime.Errorf(runtime.InvalidArgument, "no gear %d", int32(g))
	}
	from := s.Props.Gear()
	if g == from {
		return nil
	}
	if g == vehiclev1.Gear_GEAR_PARK && s.Props.SpeedKmh() > 0 {
		return runtime.NewError(vehiclev1.Vehicle_Error_Moving, "cannot shift into GEAR_PARK while moving")
	}
	if err := s.Props.SetGear(g); err != nil {
		return err
	}
	return s.Signals.EmitGearShifted(&vehiclev1.GearShifted{From: from, To: g})
}

// Tick advances the simulation by d: the odometer counts the distance driven at the current
// speed. OdometerM announces nothing, so clients read it when they want it.
func (s *Server) Tick(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metres += s.Props.SpeedKmh() / 3.6 * d.Seconds()
	whole := math.Floor(s.metres)
	if whole < 1 {
		return nil
	}
	s.metres -= whole
	return s.Props.SetOdometerM(s.Props.OdometerM() + uint64(whole))
}
