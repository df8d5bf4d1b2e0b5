package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// transport is what a Conn needs from the connection under it: the classic stream transport
// or the native pool transport.
type transport interface {
	Send(m *wire.Message, fds []int) error
	Recv() (inbound, error)
	NextSerial() uint32
	UniqueName() string
	Close() error
}

// inbound is a received message. A message from the native transport lives in the receive
// pool until released: decode it, then release it; anything that keeps the body longer
// detaches it first.
type inbound struct {
	Msg *wire.Message
	FDs []int
	// Record is the bus's account of a native message (sequence number, sender's
	// credentials); zero for classic ones.
	Record native.Record

	nat    *native.Conn
	nr     native.Received
	pooled bool
}

// release hands the message's pool slice back; its body must not be used afterwards.
func (in *inbound) release() {
	if in.pooled {
		in.pooled = false
		in.nat.Release(&in.nr)
	}
}

// detach gives the message a body of its own and releases the pool slice.
func (in *inbound) detach() {
	if in.pooled {
		in.Msg.Body = bytes.Clone(in.Msg.Body)
		in.release()
	}
}

func (in *inbound) closeFDs() {
	for _, fd := range in.FDs {
		unix.Close(fd)
	}
	in.FDs = nil
}

type classicTransport struct{ *classic.Conn }

func (t classicTransport) Recv() (inbound, error) {
	r, err := t.Conn.Recv()
	return inbound{Msg: r.Msg, FDs: r.FDs}, err
}

type nativeTransport struct{ *native.Conn }

func (t nativeTransport) Recv() (inbound, error) {
	r, err := t.Conn.Recv()
	if err != nil {
		return inbound{}, nativeErr(err)
	}
	return inbound{Msg: r.Msg, FDs: r.FDs, Record: r.Record, nat: t.Conn, nr: r, pooled: true}, nil
}

// Send sends a message.
func (t nativeTransport) Send(m *wire.Message, fds []int) error {
	return nativeErr(t.Conn.Send(m, fds))
}

// sendOneWay sends a one-way call, waiting for the bus to take it as long as ctx lasts. With
// wait it returns once the bus has routed it, with the failure to deliver it if any;
// otherwise a failure is collected for Sync.
func (t nativeTransport) sendOneWay(ctx context.Context, m *wire.Message, fds []int, payloads uint64, wait bool) error {
	opts := native.SendOptions{Payloads: payloads}
	if !wait {
		return nativeErr(t.Conn.SendCall(ctx, m, fds, opts))
	}
	err := t.Conn.SendAcked(ctx, m, fds, opts)
	var se *native.SendError
	if errors.As(err, &se) {
		return sendError(se)
	}
	return nativeErr(err)
}

// sendError maps the bus's refusal of a one-way message to an *Error.
func sendError(se *native.SendError) error {
	return errorFromNameAndMessage(se.Name, se.Text)
}

// dialAddress connects to the first entry of an address list that answers: kdbus: entries over the
// native transport, the rest over the classic one.
func dialAddress(ctx context.Context, addr string, o connOptions) (transport, error) {
	entries, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.Transport == "kdbus" {
			if o.peer {
				errs = append(errs, fmt.Errorf("%s: the native transport needs a bus, not a peer", e))
				continue
			}
			c, err := native.Dial(ctx, e, native.Options{PoolSize: o.poolSize})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			return nativeTransport{c}, nil
		}
		c, err := classic.Dial(ctx, e.String(), classic.Options{NoHello: o.peer})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return classicTransport{c}, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("runtime: address %q has no entries", addr)
	}
	return nil, fmt.Errorf("runtime: no entry of %q answered: %w", addr, errors.Join(errs...))
}

func errorFromNameAndMessage(name, text string) *Error {
	return &Error{Name: name, Code: CodeForErrorName(name), Message: text}
}

// nativeErr makes the native transport's connection errors match ErrClosed and
// ErrDisconnected.
func nativeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, native.ErrClosed):
		return ErrClosed
	case errors.Is(err, native.ErrDisconnected):
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return err
}
