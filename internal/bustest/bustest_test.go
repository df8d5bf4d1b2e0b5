package bustest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
)

// Every kind of bus answers on its addresses as Bus describes them, and the kinds differ only
// as documented: the native ones list a kdbus: entry first, and the routed one runs kdbusd
// with lanes off.
func TestKinds(t *testing.T) {
	if len(Kinds) != 4 || len(slices.Compact(slices.Sorted(slices.Values(Kinds)))) != 4 {
		t.Fatalf("Kinds = %v; want four distinct kinds", Kinds)
	}
	Each(t, dbustest.Config{}, func(t *testing.T, b *Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := classic.Dial(ctx, b.ClassicAddress, classic.Options{})
		if err != nil {
			t.Fatalf("the classic address %q: %v", b.ClassicAddress, err)
		}
		c.Close()

		entries, err := address.Parse(b.Address)
		if err != nil {
			t.Fatal(err)
		}
		if first := entries[0].Transport == "kdbus"; first != b.Native || b.Native != (b.Kind == KdbusdNative || b.Kind == KdbusdNativeRouted) {
			t.Fatalf("%s: Native=%v, address %q", b.Kind, b.Native, b.Address)
		}
		if b.Native {
			n, err := native.Dial(ctx, entries[0], native.Options{})
			if err != nil {
				t.Fatalf("the native entry of %q: %v", b.Address, err)
			}
			n.Close()
		}

		if b.Kind == DBusDaemon {
			return
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", b.Daemon.PID()))
		if err != nil {
			t.Fatal(err)
		}
		args := bytes.Split(bytes.TrimSuffix(cmdline, []byte{0}), []byte{0})
		if routed := slices.ContainsFunc(args, func(a []byte) bool { return string(a) == "--no-lanes" }); routed != (b.Kind == KdbusdNativeRouted) {
			t.Fatalf("%s runs as %q", b.Kind, args)
		}
	})
}
