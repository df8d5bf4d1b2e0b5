package busclient_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/examples/busclient"
	"github.com/kdbus-go/kdbus/examples/busclient/busv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

// TestBusClient calls the bus's own methods through the client generated from its
// introspection XML, on every kind of bus.
func TestBusClient(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := bustest.Start(t, kind, dbustest.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := runtime.Dial(ctx, b.Address)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			bus := busv1.NewDBusClient(conn)

			names, err := bus.ListNames(ctx, &busv1.ListNamesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"org.freedesktop.DBus", conn.UniqueName()} {
				if !slices.Contains(names.GetArg0(), want) {
					t.Errorf("ListNames = %v, lacks %s", names.GetArg0(), want)
				}
			}
			if _, err := conn.RequestName(ctx, "org.example.BusClient", runtime.NameDoNotQueue); err != nil {
				t.Fatal(err)
			}
			owner, err := bus.GetNameOwner(ctx, &busv1.GetNameOwnerRequest{Arg0: "org.example.BusClient"})
			if err != nil || owner.GetArg0() != conn.UniqueName() {
				t.Fatalf("GetNameOwner = %q, %v; want %s", owner.GetArg0(), err, conn.UniqueName())
			}
			if _, err := bus.GetNameOwner(ctx, &busv1.GetNameOwnerRequest{Arg0: "org.example.Nobody"}); runtime.CodeOf(err) == runtime.OK {
				t.Fatalf("GetNameOwner of a name nobody owns: %v", err)
			}

			creds, err := busclient.ConnectionCredentials(ctx, conn, conn.UniqueName())
			if err != nil {
				t.Fatal(err)
			}
			if creds.UnixUserID != uint32(os.Getuid()) || creds.ProcessID != uint32(os.Getpid()) {
				t.Errorf("credentials %+v, want uid %d and pid %d", creds, os.Getuid(), os.Getpid())
			}
			if !slices.Contains(creds.UnixGroupIDs, uint32(os.Getgid())) {
				t.Errorf("UnixGroupIDs %v lack the process's group %d", creds.UnixGroupIDs, os.Getgid())
			}
		})
	}
}
