package runtime

import (
	"context"
	"errors"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// classicTransport is the classic D-Bus stream transport. It writes messages and nothing
// more: the bus stamps nothing, reports no delivery failures and keeps no counters.
type classicTransport struct{ c *classic.Conn }

func dialClassic(ctx context.Context, e address.Address, o connOptions) (transport, error) {
	c, err := classic.Dial(ctx, e.String(), classic.Options{NoHello: o.peer})
	if err != nil {
		return nil, err
	}
	return classicTransport{c}, nil
}

// Send writes m; the stream takes it whole or breaks, so ctx and opts have nothing to
// adjust.
func (t classicTransport) Send(_ context.Context, m *wire.Message, fds []int, _ sendOptions) error {
	return t.c.Send(m, fds)
}

func (t classicTransport) Recv() (inbound, error) {
	r, err := t.c.Recv()
	return inbound{Msg: r.Msg, FDs: r.FDs}, err
}

// Sync is unsupported: classic D-Bus has no exchange that reports routed messages.
func (t classicTransport) Sync(context.Context) error { return errors.ErrUnsupported }

func (t classicTransport) Stats() ConnStats { return ConnStats{} }

func (t classicTransport) PeerCredentials() (Credentials, error) {
	uc, err := t.c.PeerCredentials()
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{UID: uc.Uid, PID: uint32(uc.Pid), GIDs: []uint32{uc.Gid}}, nil
}

func (t classicTransport) NextSerial() uint32     { return t.c.NextSerial() }
func (t classicTransport) UniqueName() string     { return t.c.UniqueName() }
func (t classicTransport) Classic() *classic.Conn { return t.c }
func (t classicTransport) Native() bool           { return false }
func (t classicTransport) Close() error           { return t.c.Close() }
