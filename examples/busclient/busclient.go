// Package busclient shows a typed client of an interface that exists already, the message
// bus's own org.freedesktop.DBus, generated from the bus's introspection XML:
//
//	xml2proto -go_package github.com/kdbus-go/kdbus/examples/busclient/busv1;busv1 \
//	  -bus_name org.freedesktop.DBus -object_path /org/freedesktop/DBus \
//	  -o examples/busclient/bus.proto examples/busclient/org.freedesktop.DBus.xml
//	buf generate --template buf.gen.yaml
//
// org.freedesktop.DBus.xml is what dbus-daemon 1.14 answers to Introspect; bus.proto is
// xml2proto's conversion of it, and busv1 the code generated from that.
package busclient

import (
	"context"
	"fmt"

	"github.com/kdbus-go/kdbus/examples/busclient/busv1"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/runtime"
)

// Credentials are what the bus knows of a connection, read from the a{sv} of
// GetConnectionCredentials.
type Credentials struct {
	UnixUserID   uint32
	UnixGroupIDs []uint32
	ProcessID    uint32
}

// ConnectionCredentials asks the bus for the credentials of the connection that owns name.
func ConnectionCredentials(ctx context.Context, conn *runtime.Conn, name string) (*Credentials, error) {
	bus := busv1.NewDBusClient(conn)
	resp, err := bus.GetConnectionCredentials(ctx, &busv1.GetConnectionCredentialsRequest{Arg0: name})
	if err != nil {
		return nil, err
	}
	creds := resp.GetArg0()
	defer func() {
		for _, v := range creds {
			v.Close() // a bus may send descriptors, such as a pidfd as ProcessFD
		}
	}()
	var c Credentials
	if c.UnixUserID, err = kdbusv1.As[uint32](creds["UnixUserID"]); err != nil {
		return nil, fmt.Errorf("UnixUserID: %w", err)
	}
	if c.ProcessID, err = kdbusv1.As[uint32](creds["ProcessID"]); err != nil {
		return nil, fmt.Errorf("ProcessID: %w", err)
	}
	if v, ok := creds["UnixGroupIDs"]; ok { // optional: not every bus sends it
		if c.UnixGroupIDs, err = kdbusv1.As[[]uint32](v); err != nil {
			return nil, fmt.Errorf("UnixGroupIDs: %w", err)
		}
	}
	return &c, nil
}
