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
	// Address is the bus address clients dial.
	Address string
	dir     string
	done    chan error
	once    sync.Once
	err     error
}

// Start runs a broker on a new socket in a private directory and returns it with its
// address. Close stops it and removes the directory.
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
	b := New(opts)
	e := &Embedded{
		Broker:  b,
		Address: address.Address{Transport: "unix", Params: map[string]string{"path": path, "guid": b.GUID()}, Keys: []string{"path", "guid"}}.String(),
		dir:     dir,
		done:    make(chan error, 1),
	}
	go func() { e.done <- b.Serve(l) }()
	return e, nil
}

// Close stops the broker, disconnecting every client, and removes its socket. Calling it
// again does nothing.
func (e *Embedded) Close() error {
	e.once.Do(func() {
		e.err = e.Broker.Close()
		<-e.done
		os.RemoveAll(e.dir)
	})
	return e.err
}
