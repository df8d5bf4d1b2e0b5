package runtime

import (
	"context"
	"errors"
	"slices"

	"github.com/kdbus-go/kdbus/transport/classic"
)

// WaitForReady says what a call does when its destination, a well-known name, has no owner
// yet: with true it waits until the name gets one (or the call's context ends, which fails it
// with DeadlineExceeded or Canceled), then makes the call; with false it fails at once with
// Unavailable (the bus's ServiceUnknown or NameHasNoOwner), which is also what a call does
// without the option. It is grpc-go's option of the same name: a client started beside its
// service (server & client) calls once the service is up instead of racing it.
//
// It overrides the client's WithWaitForReady for one call. A call to a unique name never
// waits (a unique name that is gone never comes back), and neither does a call the bus can
// start the service for: when auto-start is allowed (no NoAutoStart) and the name is
// activatable, the bus starts the service and delivers the call itself.
//
// Waiting costs nothing while the service is there: the call is made as any other, and only
// a call the bus answers with ServiceUnknown or NameHasNoOwner (no owner, and nothing it can
// start) waits for the name to get an owner and is made again; the bus refused it unseen, so
// it never ran. A no_reply call and a stream's opening call, which hear no such answer, ask
// the bus for the owner first (GetNameOwner), and only a name with no owner adds a match rule
// for NameOwnerChanged, asks again, and waits.
func WaitForReady(wait bool) CallOption {
	return func(o *callOptions) {
		if wait {
			o.ready = readyWait
		} else {
			o.ready = readyFailFast
		}
	}
}

// WithWaitForReady makes every call of the client wait for its destination's name to have an
// owner, as the call option WaitForReady(true) does; WaitForReady(false) on a call overrides
// it.
func WithWaitForReady(wait bool) ClientOption { return func(o *Object) { o.waitForReady = wait } }

// readiness is a call's WaitForReady setting.
type readiness uint8

const (
	readyDefault  readiness = iota // as the client says
	readyWait                      // WaitForReady(true)
	readyFailFast                  // WaitForReady(false)
)

// waitsForReady reports whether a call with co waits for its destination's name, as the call
// and the client say: never for no destination, a unique name, the bus itself, or on a
// peer-to-peer connection, none of which could appear later.
func (o *Object) waitsForReady(co *callOptions) bool {
	wait := o.waitForReady
	switch co.ready {
	case readyWait:
		wait = true
	case readyFailFast:
		wait = false
	}
	name := o.dest
	return wait && name != "" && name[0] != ':' && name != classic.BusName && o.conn.UniqueName() != ""
}

// retryWhenReady reports whether a call that failed with err is to be made again once its
// destination has an owner, and waits for that: the call asked to wait, and the bus refused
// it for want of an owner. A failed wait is returned as the call's error. *owned counts the
// retries the name had an owner for already: one is a name that appeared meanwhile, a second
// is a callee that itself answers ServiceUnknown, whose error is the call's.
func (o *Object) retryWhenReady(ctx context.Context, co *callOptions, err error, owned *int) (bool, error) {
	if !o.waitsForReady(co) || !noOwner(err) {
		return false, err
	}
	if owner, gerr := o.conn.GetNameOwner(ctx, o.dest); gerr == nil && owner != "" {
		*owned++
		return *owned == 1, err
	}
	// WaitForName adds its match rule before it asks for the owner again, so an owner that
	// appears at any moment from here on is seen.
	if _, werr := o.conn.WaitForName(ctx, o.dest); werr != nil {
		return false, werr
	}
	return true, nil
}

// noOwner reports whether the bus refused a call because its destination has no owner.
func noOwner(err error) bool {
	return errors.Is(err, &Error{Name: ErrorServiceUnknown}) || errors.Is(err, &Error{Name: ErrorNameHasNoOwner})
}

// awaitReady waits, for a call that hears no refusal from the bus (a no_reply call, a stream's
// opening call) and that asks to wait, until the destination's name has an owner. It returns
// nil at once when there is nothing to wait for.
func (o *Object) awaitReady(ctx context.Context, co *callOptions) error {
	if !o.waitsForReady(co) {
		return nil
	}
	name := o.dest
	_, err := o.conn.GetNameOwner(ctx, name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, &Error{Name: ErrorNameHasNoOwner}) {
		return err
	}
	if !co.noAutoStart {
		activatable, err := o.conn.listActivatableNames(ctx)
		if err != nil {
			return err
		}
		if slices.Contains(activatable, name) {
			return nil // the bus starts the service for the call
		}
	}
	_, err = o.conn.WaitForName(ctx, name)
	return err
}

// listActivatableNames asks the bus which names it can start a service for.
func (c *Conn) listActivatableNames(ctx context.Context) ([]string, error) {
	v, err := c.busCall(ctx, "ListActivatableNames", "", "as")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range v[0].([]any) {
		out = append(out, n.(string))
	}
	return out, nil
}
