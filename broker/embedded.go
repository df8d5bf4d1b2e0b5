package broker

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/kdbus-go/kdbus/transport/address"
)

// Embedded is a broker running inside the calling process, for tests, demos and programs
// that want a private bus without a daemon.
type Embedded struct {
	*Broker
	// Address is the bus address clients dial: the native socket first, then the classic
	// one, so that a client that knows the native transport uses it and others fall
	// through to the classic entry.
	Address string
	// NativeAddress is the kdbus: entry alone.
	NativeAddress string
	// ClassicAddress is the unix: entry alone, for classic clients.
	ClassicAddress string
	dir            string
	done           chan error
	once           sync.Once
	err            error
}

// Start runs a broker on new sockets in a private directory, a classic one and a native one,
// and returns it with their addresses. Close stops it and removes the directory.
func Start(opts Options) (*Embedded, error) {
	dir, err := os.MkdirTemp("", "kdbus-")
	if err != nil {
		return nil, fmt.Errorf("broker: creating its socket directory: %w", err)
	}
	path := filepath.Join(dir, "bus")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("broker: %w", err)
	}
	npath := filepath.Join(dir, "native")
	nl, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: npath, Net: "unixpacket"})
	if err != nil {
		l.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := New(opts)
	classicAddr := address.Address{Transport: "unix", Params: map[string]string{"path": path, "guid": b.GUID()}, Keys: []string{"path", "guid"}}.String()
	nativeAddr := address.Address{Transport: "kdbus", Params: map[string]string{"path": npath, "guid": b.GUID()}, Keys: []string{"path", "guid"}}.String()
	e := &Embedded{
		Broker:         b,
		Address:        nativeAddr + ";" + classicAddr,
		NativeAddress:  nativeAddr,
		ClassicAddress: classicAddr,
		dir:            dir,
		done:           make(chan error, 2),
	}
	go func() { e.done <- b.Serve(l) }()
	go func() { e.done <- b.ServeNative(nl) }()
	return e, nil
}

// Close stops the broker, disconnecting every client, and removes its socket. Calling it
// again does nothing.
func (e *Embedded) Close() error {
	e.once.Do(func() {
		e.err = e.Broker.Close()
		<-e.done
		<-e.done
		os.RemoveAll(e.dir)
	})
	return e.err
}
