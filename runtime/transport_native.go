package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// nativeTransport is kdbusd's native transport: the bus learns calls' deadlines and passes
// them on to the callee (stamp.deadline), checks payloads, acknowledges sends on request,
// stamps each message with a sequence number and the sender's credentials, and lends each
// received body from the connection's receive pool.
type nativeTransport struct{ c *native.Conn }

func dialNative(ctx context.Context, e address.Address, o connOptions) (transport, error) {
	c, err := native.Dial(ctx, e, native.Options{PoolSize: o.poolSize, NoLanes: o.noLanes})
	if err != nil {
		return nil, err
	}
	return nativeTransport{c}, nil
}

// Send hands m to the bus, waiting for it to take the message only as long as ctx lasts. With
// opts.wait it also waits for the bus to route it.
func (t nativeTransport) Send(ctx context.Context, m *wire.Message, fds []int, opts sendOptions) error {
	no := native.SendOptions{Deadline: opts.deadline, Payloads: opts.payloads}
	if !opts.wait {
		return nativeErr(t.c.SendCall(ctx, m, fds, no))
	}
	return deliveryErr(t.c.SendAcked(ctx, m, fds, no))
}

func (t nativeTransport) Recv() (inbound, error) {
	r, err := t.c.Recv()
	if err != nil {
		return inbound{}, nativeErr(err)
	}
	l := nativeLoans.Get().(*nativeLoan)
	l.c, l.r = t.c, r
	rec := r.Record
	return inbound{
		Msg: r.Msg, FDs: r.FDs, loan: l,
		stamp: stamp{seqnum: rec.Seqnum, uid: rec.UID, gid: rec.GID, pid: rec.PID, hasCreds: rec.HasCreds,
			deadline: monotonicToTime(rec.Deadline)},
	}, nil
}

// monotonicToTime turns a CLOCK_MONOTONIC reading in nanoseconds (a record's deadline) into a
// time.Time; 0 stays the zero time. A reading that is too far away for a time.Duration, past
// or future, counts as that far.
func monotonicToTime(mono uint64) time.Time {
	if mono == 0 {
		return time.Time{}
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Time{}
	}
	now := uint64(ts.Nano())
	var d time.Duration
	if mono >= now {
		d = time.Duration(min(mono-now, math.MaxInt64))
	} else {
		d = -time.Duration(min(now-mono, math.MaxInt64))
	}
	return time.Now().Add(d)
}

// Sync returns each failure the bus reported as an *Error.
func (t nativeTransport) Sync(ctx context.Context) error {
	err := t.c.Sync(ctx)
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, deliveryErr(e))
		}
		return errors.Join(errs...)
	}
	return deliveryErr(err)
}

func (t nativeTransport) Stats() ConnStats {
	s := t.c.Stats()
	return ConnStats{Wakeups: s.Wakeups, Dropped: s.Dropped, Undelivered: s.Undelivered}
}

// PeerCredentials fails: every call on a bus connection has a sender, whose credentials the
// bus stamps on the call itself.
func (t nativeTransport) PeerCredentials() (Credentials, error) {
	return Credentials{}, errors.New("runtime: a call without a sender on a bus connection")
}

func (t nativeTransport) NextSerial() uint32     { return t.c.NextSerial() }
func (t nativeTransport) UniqueName() string     { return t.c.UniqueName() }
func (t nativeTransport) Classic() *classic.Conn { return nil }
func (t nativeTransport) Native() bool           { return true }
func (t nativeTransport) Close() error           { return t.c.Close() }

// nativeLoan is a received message's slice of the receive pool. Loans are recycled so that
// receiving allocates nothing for them.
type nativeLoan struct {
	c *native.Conn
	r native.Received
}

var nativeLoans = sync.Pool{New: func() any { return new(nativeLoan) }}

func (l *nativeLoan) giveBack() {
	l.c.Release(&l.r)
	*l = nativeLoan{}
	nativeLoans.Put(l)
}

// deliveryErr maps the bus's refusal to deliver a message to an *Error, and the connection's
// errors as nativeErr does.
func deliveryErr(err error) error {
	var se *native.SendError
	if errors.As(err, &se) {
		return errorFromNameAndMessage(se.Name, se.Text)
	}
	return nativeErr(err)
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
