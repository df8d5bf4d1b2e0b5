package runtime

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/wire"
)

// gadget is the properties message of the test service, one field per kind of property.
type gadget struct {
	Speed  float64 // read, emits the value
	Mode   int32   // readwrite, emits the value
	Label  string  // read, invalidates
	Serial string  // read, const
	Count  uint64  // read, emits nothing
	Secret string  // write only
}

var gadgetProps = Properties[gadget]{
	Interface: "org.kdbusgo.Gadget",
	Props: []Property[gadget]{
		{Name: "Speed", Sig: "d", Access: Read, Change: ChangeEmitsValue,
			Encode: func(e *wire.Encoder, m *gadget) { e.Double(m.Speed) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Speed = d.Double() },
			Copy:   func(dst, src *gadget) { dst.Speed = src.Speed }},
		{Name: "Mode", Sig: "i", Access: ReadWrite, Change: ChangeEmitsValue,
			Encode: func(e *wire.Encoder, m *gadget) { e.Int32(m.Mode) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Mode = d.Int32() },
			Copy:   func(dst, src *gadget) { dst.Mode = src.Mode }},
		{Name: "Label", Sig: "s", Access: Read, Change: ChangeInvalidates,
			Encode: func(e *wire.Encoder, m *gadget) { e.String(m.Label) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Label = d.String() },
			Copy:   func(dst, src *gadget) { dst.Label = src.Label }},
		{Name: "Serial", Sig: "s", Access: Read, Change: ChangeConst,
			Encode: func(e *wire.Encoder, m *gadget) { e.String(m.Serial) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Serial = d.String() },
			Copy:   func(dst, src *gadget) { dst.Serial = src.Serial }},
		{Name: "Count", Sig: "t", Access: Read, Change: ChangeNone,
			Encode: func(e *wire.Encoder, m *gadget) { e.Uint64(m.Count) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Count = d.Uint64() },
			Copy:   func(dst, src *gadget) { dst.Count = src.Count }},
		{Name: "Secret", Sig: "s", Access: Write, Change: ChangeInvalidates,
			Encode: func(e *wire.Encoder, m *gadget) { e.String(m.Secret) },
			Decode: func(d *wire.Decoder, m *gadget) { m.Secret = d.String() },
			Copy:   func(dst, src *gadget) { dst.Secret = src.Secret }},
	},
}

var gadgetDesc = ServiceDesc{Interface: "org.kdbusgo.Gadget", Path: "/org/kdbusgo/Gadget", Properties: &gadgetProps}

// next waits for the next PropertiesChanged of w.
func next(t *testing.T, w *Signals[PropertiesChanged[gadget]]) *PropertiesChanged[gadget] {
	t.Helper()
	select {
	case s := <-w.C():
		if s.Lost != 0 {
			t.Fatalf("lost %d changes", s.Lost)
		}
		return s.Args
	case <-time.After(20 * time.Second):
		t.Fatal("no PropertiesChanged")
	}
	return nil
}

func TestPropertiesServedAndChanged(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv, cli := dial(t, d), dial(t, d)
		store := gadgetProps.NewStore(&gadget{Speed: 1.5, Mode: 2, Label: "first", Serial: "SN-1", Count: 7})
		if err := srv.Register(&gadgetDesc, struct{}{}); err == nil {
			t.Fatal("a service with properties registered without its store")
		}
		if err := srv.Register(&gadgetDesc, struct{}{}, WithProperties(store)); err != nil {
			t.Fatal(err)
		}
		obj := NewObject(cli, &gadgetDesc, WithDestination(srv.UniqueName()))
		ctx := ctx5s(t)
		w, err := gadgetProps.Watch(ctx, obj, FromSender(srv.UniqueName()))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()

		all, err := gadgetProps.GetAll(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		if want := (gadget{Speed: 1.5, Mode: 2, Label: "first", Serial: "SN-1", Count: 7}); *all != want {
			t.Fatalf("GetAll = %+v, want %+v (and no write-only Secret)", *all, want)
		}
		if v, err := gadgetProps.Get(ctx, obj, "Speed"); err != nil || v.Speed != 1.5 {
			t.Fatalf("Get Speed = %v, %v", v, err)
		}
		if _, err := gadgetProps.Get(ctx, obj, "Secret"); !errors.Is(err, &Error{Name: ErrorInvalidArgs}) {
			t.Fatalf("Get of a write-only property: %v, want InvalidArgs", err)
		}

		// A client writes; the store, the watchers and a later read agree.
		if err := gadgetProps.Set(ctx, obj, "Mode", &gadget{Mode: 5}); err != nil {
			t.Fatal(err)
		}
		if pc := next(t, w); !slices.Equal(pc.Changed, []string{"Mode"}) || pc.Values.Mode != 5 || len(pc.Invalidated) != 0 {
			t.Fatalf("PropertiesChanged = %+v %+v, want Mode = 5", pc, pc.Values)
		}
		if v := store.Property(1).Mode; v != 5 {
			t.Fatalf("store holds Mode %d after the write, want 5", v)
		}
		if err := gadgetProps.Set(ctx, obj, "Speed", &gadget{Speed: 9}); !errors.Is(err, &Error{Name: ErrorPropertyReadOnly}) {
			t.Fatalf("Set of a read-only property: %v, want %s", err, ErrorPropertyReadOnly)
		}
		if err := gadgetProps.Set(ctx, obj, "Secret", &gadget{Secret: "psst"}); err != nil {
			t.Fatal(err)
		}
		if pc := next(t, w); len(pc.Changed) != 0 || !slices.Equal(pc.Invalidated, []string{"Secret"}) {
			t.Fatalf("writing a write-only property announced %+v, want it invalidated", pc)
		}
		// A value of the wrong type is refused with InvalidArgs.
		body, _ := wire.Marshal(wire.NativeOrder, "ssv", gadgetDesc.Interface, "Mode", wire.Variant{Sig: "s", Value: "five"})
		m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: srv.UniqueName(), Path: gadgetDesc.Path,
			Interface: PropertiesInterface, Member: "Set", Signature: "ssv", Body: body}
		if _, _, err := cli.Call(ctx, m, nil); !errors.Is(err, &Error{Name: ErrorInvalidArgs}) {
			t.Fatalf("Set with a string for an int32: %v, want InvalidArgs", err)
		}
		if _, err := gadgetProps.Get(ctx, obj, "Nope"); !errors.Is(err, &Error{Name: ErrorUnknownProperty}) {
			t.Fatalf("Get of an unknown property: %v", err)
		}

		// OnSet checks writes, and knows the caller.
		refused := errors.New("mode 13 is unlucky")
		store.OnSet(func(ctx context.Context, name string, v *gadget) error {
			if c := CallerFrom(ctx); c == nil || c.Sender != cli.UniqueName() {
				t.Errorf("OnSet's caller is %+v, want %s", c, cli.UniqueName())
			}
			if name == "Mode" && v.Mode == 13 {
				return Errorf(InvalidArgument, "%v", refused)
			}
			if name == "Mode" && v.Mode == 21 {
				// Applied otherwise: the hook sets the value itself.
				if err := store.SetProperty(1, &gadget{Mode: 42}); err != nil {
					t.Error(err)
				}
				return ErrHandled
			}
			return nil
		})
		if err := gadgetProps.Set(ctx, obj, "Mode", &gadget{Mode: 13}); err == nil || !errors.Is(err, &Error{Name: ErrorInvalidArgs}) {
			t.Fatalf("Set refused by OnSet: %v", err)
		}
		if err := gadgetProps.Set(ctx, obj, "Mode", &gadget{Mode: 21}); err != nil {
			t.Fatalf("Set handled by OnSet: %v", err)
		}
		if pc := next(t, w); pc.Values.Mode != 42 {
			t.Fatalf("after a write the hook handled, Mode changed to %d, want the hook's 42", pc.Values.Mode)
		}
		if v := store.Property(1).Mode; v != 42 {
			t.Fatalf("store holds Mode %d, want the hook's 42", v)
		}

		// The server's own changes: one signal for several, values or names per behaviour,
		// nothing for an unchanged value or a property that emits nothing.
		if err := store.SetProperty(0, &gadget{Speed: 1.5}); err != nil {
			t.Fatal(err)
		}
		if err := store.Update(func(g *gadget) { g.Speed, g.Label, g.Count = 3, "second", 8 }); err != nil {
			t.Fatal(err)
		}
		pc := next(t, w)
		if !slices.Equal(pc.Changed, []string{"Speed"}) || pc.Values.Speed != 3 || !slices.Equal(pc.Invalidated, []string{"Label"}) {
			t.Fatalf("Update announced %+v %+v, want Speed = 3 and Label invalidated", pc, pc.Values)
		}
		if v, err := gadgetProps.Get(ctx, obj, "Label"); err != nil || v.Label != "second" {
			t.Fatalf("Get Label = %v, %v", v, err)
		}
		if v, err := gadgetProps.Get(ctx, obj, "Count"); err != nil || v.Count != 8 {
			t.Fatalf("Get Count = %v, %v", v, err)
		}

		// A const property does not change while served, and a failed Update changes nothing.
		if err := store.SetProperty(3, &gadget{Serial: "SN-2"}); err == nil {
			t.Fatal("a const property changed while served")
		}
		if err := store.Update(func(g *gadget) { g.Serial, g.Speed = "SN-2", 4 }); err == nil {
			t.Fatal("Update changed a const property while served")
		}
		if s := store.Property(0).Speed; s != 3 {
			t.Fatalf("a failed Update changed Speed to %v", s)
		}
		if err := store.SetProperty(0, &gadget{Speed: 5}); err != nil {
			t.Fatal(err)
		}
		if pc := next(t, w); pc.Values.Speed != 5 {
			t.Fatalf("after the failed Update, the next change announced %+v", pc.Values)
		}

		// Unregistered, the store no longer answers there nor announces.
		srv.Unregister(gadgetDesc.Path, gadgetDesc.Interface)
		if _, err := gadgetProps.Get(ctx, obj, "Speed"); err == nil {
			t.Fatal("Get after Unregister succeeded")
		}
		if err := store.SetProperty(3, &gadget{Serial: "SN-3"}); err != nil {
			t.Fatalf("a const property of a store that is not served: %v", err)
		}
	})
}
