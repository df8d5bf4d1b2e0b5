package vehicle_test

import (
	"reflect"
	"testing"

	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/runtime"
)

// TestSenderFiltersShareAConnection checks what TestSenderFilters does, with every
// subscription on one connection: the bus sends that connection a signal once if any of its
// rules matches, and the client must pick the subscriptions it is for. A subscription to the
// vehicle's well-known name must not get the other connection's signals, which arrive for the
// broader subscriptions beside it.
func TestSenderFiltersShareAConnection(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		impostor, _ := dial(t, fx.bus.Address)
		subConn, c := dial(t, fx.bus.Address)
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
		byUnique := sub(runtime.FromSender(fx.conn.UniqueName()))
		byImpostor := sub(runtime.FromSender(impostor.UniqueName()))
		anyone := sub(runtime.FromSender(""))
		byDefault := sub() // the vehicle's well-known name
		emitBoth(t, fx, impostor, subConn, c)
		realName, fakeName := fx.conn.UniqueName(), impostor.UniqueName()
		for _, x := range []struct {
			name string
			s    *runtime.Signals[vehiclev1.DoorChanged]
			want map[string][]string
		}{
			{"FromSender(the vehicle's unique name)", byUnique, map[string][]string{realName: numbered("real")}},
			{"FromSender(the other's unique name)", byImpostor, map[string][]string{fakeName: numbered("fake")}},
			{`FromSender("")`, anyone, map[string][]string{realName: numbered("real"), fakeName: numbered("fake")}},
			{"the default sender, " + dest, byDefault, map[string][]string{realName: numbered("real")}},
		} {
			if got := bySender(drain(x.s)); !reflect.DeepEqual(got, x.want) {
				t.Errorf("%s: got %v, want %v", x.name, got, x.want)
			}
		}
	})
}
