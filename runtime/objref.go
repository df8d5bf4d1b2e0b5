package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
)

// Object references and file descriptors: the two things binder passes in a transaction that
// protobuf has no type for. kdbus.v1.ObjectRef travels as (so), the bus name and path of an
// object a peer serves; kdbus.v1.UnixFD travels as h, a descriptor the bus passes along.

// ObjectRef is kdbus.v1.ObjectRef: a reference to an object served on the bus.
type ObjectRef = kdbusv1.ObjectRef

// UnixFD is kdbus.v1.UnixFD: a file descriptor passed with a message.
type UnixFD = kdbusv1.UnixFD

// FD returns a UnixFD that sends f's descriptor. f must stay open until the message is sent.
func FD(f *os.File) *kdbusv1.UnixFD { return &kdbusv1.UnixFD{Fd: int32(f.Fd())} }

// FileFromFD takes ownership of a descriptor a message brought and returns it as an
// *os.File named name; closing the file closes the descriptor. It returns nil for a nil or
// negative descriptor.
func FileFromFD(fd *kdbusv1.UnixFD, name string) *os.File {
	if fd == nil || fd.Fd < 0 {
		return nil
	}
	return os.NewFile(uintptr(fd.Fd), name)
}

// exportPrefix is where Export serves objects.
const exportPrefix = "/org/kdbusgo/ref/"

// Export serves an object at a new path of its own and returns a reference to it that peers
// can call, such as a callback passed as an argument. register registers the object's
// services on the Registrar it is given, typically with a generated RegisterFooServer; the
// generated ExportFooServer does this. The object is served until Unexport or the end of the
// connection.
func (c *Conn) Export(register func(Registrar) error) (*kdbusv1.ObjectRef, error) {
	path := wire.ObjectPath(fmt.Sprintf("%s%d", exportPrefix, c.exports.Add(1)))
	if err := register(exportAt{c, path}); err != nil {
		c.Unexport(&kdbusv1.ObjectRef{Path: string(path)})
		return nil, err
	}
	return &kdbusv1.ObjectRef{BusName: c.UniqueName(), Path: string(path)}, nil
}

// Unexport stops serving every interface of the object ref refers to.
func (c *Conn) Unexport(ref *kdbusv1.ObjectRef) {
	path := wire.ObjectPath(ref.GetPath())
	var ifaces []string
	c.mu.Lock()
	if obj := c.objects[path]; obj != nil {
		for _, s := range obj.services {
			ifaces = append(ifaces, s.desc.Interface)
		}
	}
	c.mu.Unlock()
	for _, i := range ifaces {
		c.Unregister(path, i)
	}
}

// exportAt registers services at one exported path.
type exportAt struct {
	c    *Conn
	path wire.ObjectPath
}

func (x exportAt) Register(desc *ServiceDesc, impl any, opts ...RegisterOption) error {
	return x.c.Register(desc, impl, append(opts[:len(opts):len(opts)], AtPath(x.path))...)
}

// Target makes a client call the object ref refers to: its bus name and path.
func Target(ref *kdbusv1.ObjectRef) ClientOption {
	return func(o *Object) {
		o.dest = ref.GetBusName()
		o.path = wire.ObjectPath(ref.GetPath())
	}
}

// ErrPeerGone is the error of a DeathWatch whose peer left the bus.
var ErrPeerGone = errors.New("the peer left the bus")

// DeathWatch tells when a peer's connection leaves the bus: its process exited, crashed or
// closed the connection. It is binder's death notification (linkToDeath) on a bus.
type DeathWatch struct {
	// Peer is the unique name watched.
	Peer string

	w    *NameWatch
	done chan struct{}
	once sync.Once
	err  error
}

// Done is closed when the peer has left the bus, the watch was stopped, or the connection
// ended; Err tells which.
func (dw *DeathWatch) Done() <-chan struct{} { return dw.done }

// Err returns ErrPeerGone once the peer has left, ErrClosed when the watch was stopped or the
// connection ended first, and nil while the peer is there.
func (dw *DeathWatch) Err() error {
	select {
	case <-dw.done:
		return dw.err
	default:
		return nil
	}
}

// Stop ends the watch without waiting for the peer; Done is closed with ErrClosed unless the
// peer had already gone.
func (dw *DeathWatch) Stop() error {
	dw.finish(ErrClosed)
	return dw.w.Stop()
}

func (dw *DeathWatch) finish(err error) {
	dw.once.Do(func() {
		dw.err = err
		close(dw.done)
	})
}

// WatchDeath watches the connection that owns name: a unique name (":1.42", as an ObjectRef
// holds) or a well-known one, whose current owner is watched (a later owner of the name is a
// different peer). When the peer is already gone, the watch is done at once with ErrPeerGone;
// a well-known name without an owner is an error (ServiceUnknown).
func (c *Conn) WatchDeath(ctx context.Context, name string) (*DeathWatch, error) {
	peer := name
	if !strings.HasPrefix(name, ":") {
		owner, err := c.GetNameOwner(ctx, name)
		if err != nil {
			return nil, err
		}
		peer = owner
	}
	w, owner, err := c.watchOwner(ctx, peer)
	if err != nil {
		return nil, err
	}
	dw := &DeathWatch{Peer: peer, w: w, done: make(chan struct{})}
	if owner == "" {
		dw.finish(ErrPeerGone)
		w.Stop()
		return dw, nil
	}
	go func() {
		for ch := range w.C {
			if ch.OldOwner != "" && ch.NewOwner == "" {
				dw.finish(ErrPeerGone)
				w.Stop()
			}
		}
		dw.finish(ErrClosed)
	}()
	return dw, nil
}

// WaitForName waits until name has an owner and returns the owner's unique name: the bus
// counterpart of binder's waitForService. It returns at once when the name is owned; ctx
// bounds the wait.
func (c *Conn) WaitForName(ctx context.Context, name string) (string, error) {
	w, owner, err := c.watchOwner(ctx, name)
	if err != nil {
		return "", err
	}
	defer w.Stop()
	if owner != "" {
		return owner, nil
	}
	for {
		select {
		case ch, ok := <-w.C:
			if !ok {
				return "", Errorf(Unavailable, "waiting for %s: the connection ended", name)
			}
			if ch.NewOwner != "" {
				return ch.NewOwner, nil
			}
		case <-ctx.Done():
			code := Canceled
			if ctx.Err() == context.DeadlineExceeded {
				code = DeadlineExceeded
			}
			return "", &callError{err: Errorf(code, "waiting for %s to appear on the bus: %v", name, ctx.Err()), ctx: ctx.Err()}
		}
	}
}
