package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// transport is everything a Conn needs from the connection under it. Each transport
// implements it in a file of its own (transport_classic.go, transport_native.go), so that the
// rest of the runtime never asks which one it has: what a transport cannot do, it says through
// its answers (a zero stamp, ErrUnsupported from Sync, zero counters).
type transport interface {
	// Send writes m. A transport that can wait for the bus to take a message waits only as long
	// as ctx lasts; one that cannot ignores ctx, and opts where it has no way to honour them.
	Send(ctx context.Context, m *wire.Message, fds []int, opts sendOptions) error
	// Recv returns the next message. Only the connection's reader calls it.
	Recv() (inbound, error)
	// Sync waits until the bus has routed every message sent before it and returns the
	// delivery failures collected since the last Sync. A transport that has no such exchange
	// returns errors.ErrUnsupported, and the Conn makes a round trip to the bus instead.
	Sync(ctx context.Context) error
	// Stats fills in the counters the transport keeps: Wakeups, Dropped and Undelivered.
	Stats() ConnStats
	// PeerCredentials returns the credentials of the process at the other end of the socket,
	// for calls that carry no sender: those from a peer on a peer-to-peer connection.
	PeerCredentials() (Credentials, error)
	// NextSerial returns a serial for a message about to be sent.
	NextSerial() uint32
	// UniqueName returns the name the bus gave the connection.
	UniqueName() string
	// Classic returns the classic connection underneath, or nil.
	Classic() *classic.Conn
	// Native reports whether this is kdbusd's native transport.
	Native() bool
	// Close closes the connection; Recv then fails.
	Close() error
}

// sendOptions say how a message is to be sent, for the transports that can do more than write
// it.
type sendOptions struct {
	// deadline is when the caller of a method call stops waiting for the reply, for the bus to
	// forget the call then; zero for no deadline.
	deadline time.Time
	// payloads marks which of the descriptors are sealed memfd payloads
	// (wire.Encoder.PayloadMask), for the bus to check.
	payloads uint64
	// wait, for a no-reply message, returns once the bus has routed it, with the failure to
	// deliver it if any; otherwise such a failure is collected for Sync.
	wait bool
}

// inbound is a received message. Its body may be on loan from the transport (the native
// transport's receive pool) until released: decode it, then release it; anything that keeps
// the body longer detaches it first. Copies of an inbound share the loan: exactly one of them
// releases it.
type inbound struct {
	Msg *wire.Message
	FDs []int
	// stamp is what the bus itself vouches for about the message.
	stamp stamp
	// loan is the transport's claim on the body's memory; nil when the body is the message's
	// own.
	loan loan
}

// stamp is what a bus attaches to a message itself, so that no client can forge it: zero from
// a bus that attaches nothing.
type stamp struct {
	// seqnum is the bus-wide sequence number of the message; 0 when the bus did not number it.
	seqnum uint64
	// uid, gid and pid are the sender's credentials as the kernel reported them; valid when
	// hasCreds.
	uid, gid, pid uint32
	hasCreds      bool
	// deadline, for a method call, is when its caller stops waiting for the reply; the zero
	// time for none. Unlike the rest of the stamp it is the caller's word, not the bus's:
	// it is advisory, for the handler's context, which it can only cut short.
	deadline time.Time
}

// credentials returns the sender's credentials from the stamp, if it carries them.
func (s stamp) credentials() (Credentials, bool) {
	if !s.hasCreds {
		return Credentials{}, false
	}
	return Credentials{UID: s.uid, PID: s.pid, GIDs: []uint32{s.gid}}, true
}

// loan is memory a transport lent a received message's body from.
type loan interface {
	// giveBack returns the memory to the transport; the body must not be used afterwards.
	giveBack()
}

// release hands the message's body back to the transport; its body must not be used
// afterwards.
func (in *inbound) release() {
	if in.loan != nil {
		l := in.loan
		in.loan = nil
		l.giveBack()
	}
}

// detach gives the message a body of its own and releases the loan.
func (in *inbound) detach() {
	if in.loan != nil {
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
		var t transport
		if e.Transport == "kdbus" {
			if o.peer {
				errs = append(errs, fmt.Errorf("%s: the native transport needs a bus, not a peer", e))
				continue
			}
			t, err = dialNative(ctx, e, o)
		} else {
			t, err = dialClassic(ctx, e, o)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return t, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("runtime: address %q has no entries", addr)
	}
	return nil, fmt.Errorf("runtime: no entry of %q answered: %w", addr, errors.Join(errs...))
}

func errorFromNameAndMessage(name, text string) *Error {
	return &Error{Name: name, Code: CodeForErrorName(name), Message: text}
}
