package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// NameFlags adjust RequestName, as the specification defines them.
type NameFlags uint32

// The RequestName flags.
const (
	// NameAllowReplacement lets another connection take the name with NameReplaceExisting.
	NameAllowReplacement NameFlags = 0x1
	// NameReplaceExisting takes the name from an owner that allowed replacement.
	NameReplaceExisting NameFlags = 0x2
	// NameDoNotQueue fails instead of waiting in the queue for the name.
	NameDoNotQueue NameFlags = 0x4
)

// NameReply is the outcome of RequestName.
type NameReply uint32

// The RequestName outcomes.
const (
	NamePrimaryOwner NameReply = 1
	NameInQueue      NameReply = 2
	NameExists       NameReply = 3
	NameAlreadyOwner NameReply = 4
)

// String names the outcome.
func (r NameReply) String() string {
	switch r {
	case NamePrimaryOwner:
		return "primary owner"
	case NameInQueue:
		return "in queue"
	case NameExists:
		return "exists"
	case NameAlreadyOwner:
		return "already owner"
	}
	return fmt.Sprintf("NameReply(%d)", uint32(r))
}

// ReleaseReply is the outcome of ReleaseName.
type ReleaseReply uint32

// The ReleaseName outcomes.
const (
	NameReleased    ReleaseReply = 1
	NameNonExistent ReleaseReply = 2
	NameNotOwner    ReleaseReply = 3
)

// RequestName asks the bus for a well-known name.
func (c *Conn) RequestName(ctx context.Context, name string, flags NameFlags) (NameReply, error) {
	if err := wire.ValidateWellKnownName(name); err != nil {
		return 0, err
	}
	v, err := c.busCall(ctx, "RequestName", "su", "u", name, uint32(flags))
	if err != nil {
		return 0, err
	}
	return NameReply(v[0].(uint32)), nil
}

// ReleaseName gives a well-known name back to the bus.
func (c *Conn) ReleaseName(ctx context.Context, name string) (ReleaseReply, error) {
	v, err := c.busCall(ctx, "ReleaseName", "s", "u", name)
	if err != nil {
		return 0, err
	}
	return ReleaseReply(v[0].(uint32)), nil
}

// GetNameOwner returns the unique name owning name; an unowned name gives an *Error named
// org.freedesktop.DBus.Error.NameHasNoOwner.
func (c *Conn) GetNameOwner(ctx context.Context, name string) (string, error) {
	v, err := c.busCall(ctx, "GetNameOwner", "s", "s", name)
	if err != nil {
		return "", err
	}
	return v[0].(string), nil
}

// ListNames returns every name on the bus.
func (c *Conn) ListNames(ctx context.Context) ([]string, error) {
	v, err := c.busCall(ctx, "ListNames", "", "as")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range v[0].([]any) {
		out = append(out, n.(string))
	}
	return out, nil
}

// OwnerChange is a change of a name's owner; an empty owner means none.
type OwnerChange struct {
	Name, OldOwner, NewOwner string
}

// NameWatch reports the owner changes of one name.
type NameWatch struct {
	// C delivers the changes in order, starting with the owner at the time of the watch
	// (OldOwner empty) when the name has one. It is closed by Stop or the end of the connection.
	C   <-chan OwnerChange
	r   *rule
	box *mailbox[OwnerChange]
}

// Lost returns how many changes were dropped because the receiver fell behind.
func (w *NameWatch) Lost() uint64 { return w.box.lost.Load() }

// Stop ends the watch and removes its match rule from the bus.
func (w *NameWatch) Stop() error { return w.r.remove() }

// WatchNameOwner reports every change of name's owner: a service appearing, being replaced,
// or going away (a peer's death shows as a change to no owner).
func (c *Conn) WatchNameOwner(ctx context.Context, name string) (*NameWatch, error) {
	w, _, err := c.watchOwner(ctx, name)
	return w, err
}

// watchOwner is WatchNameOwner that also returns the owner at the time the watch began ("" for
// none): every later change arrives on the watch.
func (c *Conn) watchOwner(ctx context.Context, name string) (*NameWatch, string, error) {
	if err := wire.ValidateBusName(name); err != nil {
		return nil, "", err
	}
	mr := &match.Rule{
		Type: wire.Signal, Sender: classic.BusName, Interface: classic.BusInterface,
		Member: "NameOwnerChanged", Path: classic.BusPath, Args: []match.ArgMatch{{Index: 0, Value: name}},
	}
	out := make(chan OwnerChange, 64)
	box := newMailbox[OwnerChange](64)
	r := &rule{conn: c, match: mr, close: box.close, deliver: func(m *wire.Message, _ stamp) {
		if m.Signature != "sss" {
			return
		}
		var d wire.Decoder
		d.Reset(m.Body, m.Order)
		ch := OwnerChange{Name: d.String(), OldOwner: d.String(), NewOwner: d.String()}
		if d.Done() == nil {
			box.put(ch, nil)
		}
	}}
	if err := c.addRule(ctx, r); err != nil {
		return nil, "", err
	}
	// Forward typed changes, starting with the current owner. The rule is in place before
	// the owner is asked for, so no change is missed.
	owner, oerr := c.GetNameOwner(ctx, name)
	if oerr != nil {
		if e := (*Error)(nil); !errors.As(oerr, &e) || e.Name != ErrorNameHasNoOwner {
			r.remove()
			return nil, "", oerr
		}
		owner = ""
	}
	go func() {
		defer close(out)
		if owner != "" {
			out <- OwnerChange{Name: name, NewOwner: owner}
		}
		for v := range box.ch {
			out <- v
		}
	}()
	return &NameWatch{C: out, r: r, box: box}, owner, nil
}
