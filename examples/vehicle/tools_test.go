package vehicle_test

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/vehicle"
	"github.com/kdbus-go/kdbus/examples/vehicle/vehiclev1"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// run runs a command-line tool, failing the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a command-line tool and returns its output, stdout and stderr together.
func runErr(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := dbustest.RequireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// row returns the row of busctl introspect's table for member, its columns separated by
// single spaces.
func row(table, member string) string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == member {
			return strings.Join(f, " ")
		}
	}
	return ""
}

// TestBusctlProperties reads and writes the vehicle's properties with busctl, and checks
// that the server and a subscriber see a write.
func TestBusctlProperties(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		bus := "--address=" + fx.bus.Address
		_, c := dial(t, fx.bus.Address)
		ctx := ctxFor(t)
		if err := c.SetGear(ctx, vehiclev1.Gear_GEAR_REVERSE); err != nil {
			t.Fatal(err)
		}
		drive(t, c, 42)
		if err := fx.srv.Props.SetOdometerM(1234); err != nil {
			t.Fatal(err)
		}

		table := run(t, "busctl", bus, "introspect", dest, path)
		for member, want := range map[string]string{
			".SpeedKmh":    ".SpeedKmh property d 42 emits-change",
			".Gear":        ".Gear property i 2 emits-change writable",
			".Vin":         `.Vin property s "` + vehicle.VIN + `" const`,
			".OdometerM":   ".OdometerM property t 1234 -",
			".Doors":       `.Doors property a{sb} 5 "front_left" false "front_right" false "rear_left" false "rear_right" false "trunk" false emits-invalidation`,
			".DoorChanged": ".DoorChanged signal sb - -",
			".GearShifted": ".GearShifted signal ii - -",
			".SetDoor":     ".SetDoor method sb - -",
			".Drive":       ".Drive method d - -",
		} {
			if got := row(table, member); got != want {
				t.Errorf("busctl introspect shows\n%q\nwant\n%q", got, want)
			}
		}
		if t.Failed() {
			t.Logf("busctl introspect:\n%s", table)
		}

		out := run(t, "busctl", bus, "get-property", dest, path, iface, "SpeedKmh", "Gear", "Vin", "OdometerM")
		if want := "d 42\ni 2\ns \"" + vehicle.VIN + "\"\nt 1234\n"; out != want {
			t.Errorf("busctl get-property printed\n%q\nwant\n%q", out, want)
		}

		props, err := c.WatchProperties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer props.Close()
		gears, err := c.SubscribeGearShifted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer gears.Close()
		run(t, "busctl", bus, "set-property", dest, path, iface, "Gear", "i", "4")
		if g := fx.srv.Props.Gear(); g != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("after busctl set-property Gear i 4 the store holds %v", g)
		}
		if pc := next(t, props).Args; !slices.Equal(pc.Changed, []string{"Gear"}) || pc.Values.GetGear() != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("PropertiesChanged after busctl set-property: %+v", pc)
		}
		if g := next(t, gears).Args; g.GetFrom() != vehiclev1.Gear_GEAR_REVERSE || g.GetTo() != vehiclev1.Gear_GEAR_DRIVE {
			t.Errorf("GearShifted after busctl set-property: %v, want REVERSE to DRIVE", g)
		}

		// Refused writes: the server's check, and read-only properties.
		out, err = runErr(t, "busctl", bus, "set-property", dest, path, iface, "Gear", "i", "1")
		if err == nil || !strings.Contains(out, "cannot shift into GEAR_PARK while moving") {
			t.Errorf("busctl set-property Gear i 1 while moving: %v %q, want the Moving error", err, out)
		}
		out, err = runErr(t, "busctl", bus, "set-property", dest, path, iface, "SpeedKmh", "d", "10")
		if err == nil || !strings.Contains(out, "property SpeedKmh of "+iface+" is read-only") {
			t.Errorf("busctl set-property SpeedKmh: %v %q, want a read-only error", err, out)
		}
		out, err = runErr(t, "busctl", bus, "set-property", dest, path, iface, "Vin", "s", "X")
		if err == nil || !strings.Contains(out, "read-only") {
			t.Errorf("busctl set-property Vin: %v %q, want a read-only error", err, out)
		}
		// busctl prints the error's message; dbus-send and gdbus print its name too.
		out, err = runErr(t, "dbus-send", "--bus="+fx.bus.Address, "--print-reply", "--dest="+dest, path,
			runtime.PropertiesInterface+".Set", "string:"+iface, "string:SpeedKmh", "variant:double:10")
		if err == nil || !strings.Contains(out, "Error "+runtime.ErrorPropertyReadOnly+": ") {
			t.Errorf("dbus-send Properties.Set SpeedKmh: %v %q, want %s", err, out, runtime.ErrorPropertyReadOnly)
		}
		out, err = runErr(t, "gdbus", "call", "--address", fx.bus.Address, "--dest", dest, "--object-path", path,
			"--method", runtime.PropertiesInterface+".Set", iface, "Gear", "<1>")
		if err == nil || !strings.Contains(out, "GDBus.Error:"+vehiclev1.Vehicle_Error_Moving+": ") {
			t.Errorf("gdbus call Properties.Set Gear 1: %v %q, want %s", err, out, vehiclev1.Vehicle_Error_Moving)
		}
		out, err = runErr(t, "busctl", bus, "get-property", dest, path, iface, "Nope")
		if err == nil || !strings.Contains(out, "no property Nope") {
			t.Errorf("busctl get-property Nope: %v %q", err, out)
		}

		// Nothing changed after the refused writes.
		roundTrip(t, c)
		if rest := drain(props); len(rest) != 0 {
			t.Errorf("PropertiesChanged after refused writes: %+v", rest[0].Args)
		}
		if rest := drain(gears); len(rest) != 0 {
			t.Errorf("GearShifted after refused writes: %v", rest[0].Args)
		}
		if g, v := fx.srv.Props.Gear(), fx.srv.Props.SpeedKmh(); g != vehiclev1.Gear_GEAR_DRIVE || v != 42 {
			t.Errorf("after refused writes: gear %v, speed %v", g, v)
		}
	})
}

// TestDbusSendAndGdbusReadProperties reads properties with dbus-send and gdbus.
func TestDbusSendAndGdbusReadProperties(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		out := run(t, "dbus-send", "--bus="+fx.bus.Address, "--print-reply", "--dest="+dest, path,
			runtime.PropertiesInterface+".Get", "string:"+iface, "string:Vin")
		if !strings.Contains(out, `variant       string "`+vehicle.VIN+`"`) {
			t.Errorf("dbus-send Properties.Get Vin:\n%s", out)
		}
		out = run(t, "gdbus", "call", "--address", fx.bus.Address, "--dest", dest, "--object-path", path,
			"--method", runtime.PropertiesInterface+".GetAll", iface)
		want := "({'SpeedKmh': <0.0>, 'Gear': <1>, 'Doors': <{'front_left': false, 'front_right': false, 'rear_left': false, 'rear_right': false, 'trunk': false}>, 'Vin': <'" + vehicle.VIN + "'>, 'OdometerM': <uint64 0>},)"
		if strings.TrimSpace(out) != want {
			t.Errorf("gdbus call GetAll:\n got %s\nwant %s", strings.TrimSpace(out), want)
		}
		out = run(t, "gdbus", "introspect", "--address", fx.bus.Address, "--dest", dest, "--object-path", path)
		for _, want := range []string{
			"DoorChanged(s door,", "b open);",
			"readonly d SpeedKmh = 0.0;", "readwrite i Gear = 1;", "readonly s Vin = '" + vehicle.VIN + "';",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("gdbus introspect lacks %q:\n%s", want, out)
			}
		}
	})
}

// output collects a running command's output, line by line.
type output struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // signalled when lines are added
}

func collect(r io.Reader) *output {
	o := &output{more: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			o.mu.Lock()
			o.lines = append(o.lines, sc.Text())
			o.mu.Unlock()
			select {
			case o.more <- struct{}{}:
			default:
			}
		}
	}()
	return o
}

// String returns the lines so far, each ended by a newline.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, l := range o.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// waitFor waits until ok holds for the output, at most d.
func (o *output) waitFor(d time.Duration, ok func(string) bool) bool {
	deadline := time.After(d)
	for {
		if ok(o.String()) {
			return true
		}
		select {
		case <-o.more:
		case <-deadline:
			return ok(o.String())
		}
	}
}

// startTool starts a long-running tool whose stdout and stderr are collected apart; it is
// killed when the test ends.
func startTool(t *testing.T, name string, args ...string) (stdout, stderr *output) {
	t.Helper()
	cmd := exec.Command(dbustest.RequireTool(t, name), args...)
	so, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr = collect(so), collect(se)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return stdout, stderr
}

// TestBusctlMonitorShowsSignals watches the vehicle with busctl monitor.
func TestBusctlMonitorShowsSignals(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		stdout, stderr := startTool(t, "busctl", "--address="+fx.bus.Address, "monitor", dest)
		// busctl says it is monitoring once the bus made it a monitor.
		if !stderr.waitFor(wait, func(s string) bool { return strings.Contains(s, "Monitoring") }) {
			t.Fatalf("busctl monitor never started monitoring:\n%s", stderr)
		}
		_, c := dial(t, fx.bus.Address)
		setDoor(t, c, "trunk", true)
		if err := c.SetGear(ctxFor(t), vehiclev1.Gear_GEAR_NEUTRAL); err != nil {
			t.Fatal(err)
		}
		// Each signal's header, then its arguments in order.
		want := [][]string{
			{"Member=DoorChanged", `MESSAGE "sb" {`, `STRING "trunk";`, "BOOLEAN true;"},
			{"Member=GearShifted", `MESSAGE "ii" {`, "INT32 1;", "INT32 3;"},
			{"Member=PropertiesChanged", `MESSAGE "sa{sv}as" {`, `STRING "org.kdbusgo.Vehicle1";`, `ARRAY "{sv}" {`, "};", `ARRAY "s" {`, `STRING "Doors";`},
			{"Member=PropertiesChanged", `MESSAGE "sa{sv}as" {`, `STRING "org.kdbusgo.Vehicle1";`, `STRING "Gear";`, `VARIANT "i" {`, "INT32 3;"},
		}
		ok := stdout.waitFor(wait, func(s string) bool {
			for _, w := range want {
				if !inOrder(s, w) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("busctl monitor did not show the signals %q:\n%s", want, stdout)
		}
	})
}

// inOrder reports whether some occurrence of want[0] in s is followed by the other strings of
// want, in order, before the next message (a blank line).
func inOrder(s string, want []string) bool {
	for rest := s; ; {
		i := strings.Index(rest, want[0])
		if i < 0 {
			return false
		}
		rest = rest[i+len(want[0]):]
		msg, _, _ := strings.Cut(rest, "\n\n")
		ok := true
		for _, w := range want[1:] {
			j := strings.Index(msg, w)
			if j < 0 {
				ok = false
				break
			}
			msg = msg[j+len(w):]
		}
		if ok {
			return true
		}
	}
}

// TestGdbusMonitorShowsPropertiesChanged watches the vehicle with gdbus monitor.
func TestGdbusMonitorShowsPropertiesChanged(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		stdout, _ := startTool(t, "gdbus", "monitor", "--address", fx.bus.Address, "--dest", dest)
		// gdbus prints this when it learns the name's owner, and subscribes to the owner's
		// signals just after; so change the speed until a change shows, then make the change
		// this test looks for.
		owned := "The name " + dest + " is owned by " + fx.conn.UniqueName()
		if !stdout.waitFor(wait, func(s string) bool { return strings.Contains(s, owned) }) {
			t.Fatalf("gdbus monitor did not find the vehicle:\n%s", stdout)
		}
		if err := fx.srv.Shift(vehiclev1.Gear_GEAR_DRIVE); err != nil {
			t.Fatal(err)
		}
		seen := func(s string) bool { return strings.Contains(s, "{'SpeedKmh': <") }
		for kmh := 1; !seen(stdout.String()); kmh++ {
			if kmh > int(wait/time.Second) {
				t.Fatalf("gdbus monitor showed no PropertiesChanged:\n%s", stdout)
			}
			if err := fx.srv.Props.SetSpeedKmh(float64(kmh)); err != nil {
				t.Fatal(err)
			}
			stdout.waitFor(time.Second, seen)
		}
		t.Logf("gdbus monitor showed PropertiesChanged after %d changes of the speed", int(fx.srv.Props.SpeedKmh()))
		_, c := dial(t, fx.bus.Address)
		drive(t, c, 0)
		setDoor(t, c, "rear_left", true)
		want := []string{
			path + ": " + runtime.PropertiesInterface + ".PropertiesChanged ('" + iface + "', {'SpeedKmh': <0.0>}, @as [])",
			path + ": " + runtime.PropertiesInterface + ".PropertiesChanged ('" + iface + "', @a{sv} {}, ['Doors'])",
			path + ": " + iface + ".DoorChanged ('rear_left', true)",
		}
		ok := stdout.waitFor(wait, func(s string) bool {
			for _, w := range want {
				if !strings.Contains(s, w) {
					return false
				}
			}
			return true
		})
		if !ok {
			t.Fatalf("gdbus monitor did not show\n%s\nin:\n%s", strings.Join(want, "\n"), stdout)
		}
	})
}
