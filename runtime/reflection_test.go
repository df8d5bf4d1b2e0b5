package runtime_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/greeter"
	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

type vehicleServer struct {
	vehiclev1.UnimplementedVehicleServer
}

// TestServedDescriptors checks that an object serving generated services answers
// ReflectionInterface with their files and imports, and names the proto service of each
// interface, on every kind of bus.
func TestServedDescriptors(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv, err := runtime.Dial(ctx, d.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		const shared = "/shared"
		if err := greeterv1.RegisterGreeterServer(srv, greeter.Server{}, runtime.AtPath(shared)); err != nil {
			t.Fatal(err)
		}
		store := vehiclev1.NewVehiclePropertyStore(&vehiclev1.VehicleState{})
		if err := vehiclev1.RegisterVehicleServer(srv, vehicleServer{}, store, runtime.AtPath(shared)); err != nil {
			t.Fatal(err)
		}
		if err := srv.Register(&plainDesc, plainServer{}, runtime.AtPath("/plain")); err != nil {
			t.Fatal(err)
		}
		cli, err := runtime.Dial(ctx, d.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		call := func(path wire.ObjectPath, iface, member string) ([]any, error) {
			m, _, err := cli.Call(ctx, &wire.Message{Type: wire.MethodCall, Destination: srv.UniqueName(), Path: path, Interface: iface, Member: member}, nil)
			if err != nil {
				return nil, err
			}
			return wire.Unmarshal(m.Body, m.Order, m.Signature)
		}

		v, err := call(shared, runtime.IntrospectableInterface, "Introspect")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := introspect.ParseString(v[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		if doc.Interface(runtime.ReflectionInterface) == nil {
			t.Fatalf("the introspection of %s lists no %s:\n%s", shared, runtime.ReflectionInterface, v[0])
		}

		v, err = call(shared, runtime.ReflectionInterface, runtime.ReflectionGetDescriptors)
		if err != nil {
			t.Fatal(err)
		}
		set := new(descriptorpb.FileDescriptorSet)
		if err := proto.Unmarshal(v[0].([]byte), set); err != nil {
			t.Fatal(err)
		}
		files, err := protodesc.NewFiles(set)
		if err != nil {
			t.Fatalf("the served set does not build: %v", err)
		}
		var paths []string
		for _, f := range set.File {
			paths = append(paths, f.GetName())
		}
		for _, want := range []string{"greeter/greeter.proto", "vehicle/vehicle.proto", "kdbus/v1/options.proto", "google/protobuf/descriptor.proto"} {
			if !slices.Contains(paths, want) {
				t.Errorf("served files %v lack %s", paths, want)
			}
		}
		if len(slices.Compact(slices.Sorted(slices.Values(paths)))) != len(paths) {
			t.Errorf("served files %v repeat a file", paths)
		}
		// Imports come before the files that import them.
		if i, j := slices.Index(paths, "kdbus/v1/options.proto"), slices.Index(paths, "greeter/greeter.proto"); i > j {
			t.Errorf("served files %v list greeter.proto before its import", paths)
		}
		services := map[string]string{}
		for _, e := range v[1].([]wire.DictEntry) {
			services[e.Key.(string)] = e.Value.(string)
		}
		want := map[string]string{
			greeterv1.Greeter_Interface: "example.greeter.v1.Greeter",
			vehiclev1.Vehicle_Interface: string(vehiclev1.File_vehicle_vehicle_proto.Services().Get(0).FullName()),
		}
		if len(services) != len(want) || services[greeterv1.Greeter_Interface] != want[greeterv1.Greeter_Interface] || services[vehiclev1.Vehicle_Interface] != want[vehiclev1.Vehicle_Interface] {
			t.Fatalf("services = %v, want %v", services, want)
		}
		for _, name := range want {
			d, err := files.FindDescriptorByName(protoreflect.FullName(name))
			if err != nil {
				t.Fatalf("the served set lacks service %s: %v", name, err)
			}
			if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
				t.Fatalf("%s is a %T, not a service", name, d)
			}
		}

		// An object whose services have no descriptors does not answer, nor list, the interface.
		v, err = call("/plain", runtime.IntrospectableInterface, "Introspect")
		if err != nil {
			t.Fatal(err)
		}
		if doc, _ := introspect.ParseString(v[0].(string)); doc.Interface(runtime.ReflectionInterface) != nil {
			t.Fatalf("/plain lists %s", runtime.ReflectionInterface)
		}
		_, err = call("/plain", runtime.ReflectionInterface, runtime.ReflectionGetDescriptors)
		var re *runtime.Error
		if !errors.As(err, &re) || re.Name != runtime.ErrorUnknownInterface {
			t.Fatalf("GetDescriptors at /plain: %v, want %s", err, runtime.ErrorUnknownInterface)
		}
	})
}

// plainDesc is a service described without proto descriptors, as hand-written code may be.
var plainDesc = runtime.ServiceDesc{
	Interface: "org.kdbusgo.Plain",
	Path:      "/plain",
	XML:       (&introspect.Interface{Name: "org.kdbusgo.Plain"}).XML(),
}

type plainServer struct{}
