package runtime

import (
	"context"
	"fmt"
	"sync"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// Caller identifies who made the call a handler is serving.
type Caller struct {
	// Sender is the caller's unique bus name (empty on a peer-to-peer connection).
	Sender string
	// Path, Interface and Member are where the call went.
	Path      wire.ObjectPath
	Interface string
	Member    string

	conn  *Conn
	stamp stamp    // what the bus attached to the call
	src   *inbound // the call as received, released once decoded
	// onReader is set for the sender of a signal being delivered: the connection's reader
	// runs the interceptors then, and cannot wait for a reply from the bus.
	onReader bool
	serial   uint32   // the call's serial
	md       Metadata // the request metadata from the call's Begin
	unary    bool     // a unary call, whose handler may set response metadata

	mdMu            sync.Mutex // guards the response metadata
	header, trailer Metadata
	headerSent      bool
}

// Credentials are what the bus (or, peer to peer, the kernel) vouches for about a caller.
type Credentials struct {
	UID uint32
	PID uint32
	// GIDs are the caller's groups, when the bus reports them.
	GIDs []uint32
	// SecurityLabel is the caller's LSM label, when the bus reports one.
	SecurityLabel string
}

type callerKey struct{}

func withCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of the call being handled, or nil outside a handler.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Credentials returns the caller's uid and pid (and more where the bus tells). On the native
// transport they came with the call itself, as the kernel reported them when the call was
// sent (to the bus, or over a lane); elsewhere the bus is asked once per caller: unique names
// are never reused, so the answer is cached.
//
// For a signal being delivered (in a server interceptor, KindSignal), the bus cannot be asked:
// the credentials are those the signal carries on the native transport, or those already
// cached, or else an error.
func (c *Caller) Credentials(ctx context.Context) (Credentials, error) {
	if cr, ok := c.stamp.credentials(); ok {
		return cr, nil
	}
	if c.onReader && c.Sender != "" {
		if cr, ok := c.conn.cachedCredentials(c.Sender); ok {
			return cr, nil
		}
		return Credentials{}, Errorf(FailedPrecondition, "the credentials of %s, the sender of signal %s.%s, are not known here: signal interceptors run on the connection's reader, which cannot ask the bus; ask in the subscriber instead (kdbusd's native transport stamps every signal with them)", c.Sender, c.Interface, c.Member)
	}
	return c.conn.credentials(ctx, c.Sender)
}

// Seqnum returns the bus-wide sequence number of the call on the native transport; 0
// elsewhere, and for a call that came straight from its sender over a lane, which the bus
// does not number.
func (c *Caller) Seqnum() uint64 { return c.stamp.seqnum }

// credCache remembers credentials by unique name. It is bounded: past its size it starts over.
type credCache struct {
	mu sync.Mutex
	m  map[string]Credentials
}

const credCacheSize = 4096

func (c *Conn) credentials(ctx context.Context, sender string) (Credentials, error) {
	if sender == "" {
		return c.t.PeerCredentials()
	}
	if cr, ok := c.cachedCredentials(sender); ok {
		return cr, nil
	}
	cr, err := c.GetConnectionCredentials(ctx, sender)
	if err != nil {
		return Credentials{}, err
	}
	c.creds.mu.Lock()
	if c.creds.m == nil || len(c.creds.m) >= credCacheSize {
		c.creds.m = make(map[string]Credentials)
	}
	c.creds.m[sender] = cr
	c.creds.mu.Unlock()
	return cr, nil
}

// cachedCredentials returns the credentials of sender if the bus was asked for them before.
func (c *Conn) cachedCredentials(sender string) (Credentials, bool) {
	c.creds.mu.Lock()
	defer c.creds.mu.Unlock()
	cr, ok := c.creds.m[sender]
	return cr, ok
}

// GetConnectionCredentials asks the bus for the credentials of the connection that owns name.
// The call passes the client interceptors as a driver call (KindDriver).
func (c *Conn) GetConnectionCredentials(ctx context.Context, name string) (Credentials, error) {
	body, err := c.busCall(ctx, "GetConnectionCredentials", "s", "a{sv}", name)
	if err != nil {
		return Credentials{}, err
	}
	var cr Credentials
	var haveUID, havePID bool
	for _, ent := range body[0].([]wire.DictEntry) {
		v := ent.Value.(wire.Variant)
		switch ent.Key {
		case "UnixUserID":
			cr.UID, haveUID = asUint32(v.Value)
		case "ProcessID":
			cr.PID, havePID = asUint32(v.Value)
		case "UnixGroupIDs":
			if list, ok := v.Value.([]any); ok {
				for _, g := range list {
					if gid, ok := asUint32(g); ok {
						cr.GIDs = append(cr.GIDs, gid)
					}
				}
			}
		case "LinuxSecurityLabel":
			if b, ok := v.Value.([]byte); ok {
				if n := len(b); n > 0 && b[n-1] == 0 {
					b = b[:n-1]
				}
				cr.SecurityLabel = string(b)
			}
		}
	}
	if !haveUID || !havePID {
		return cr, fmt.Errorf("the bus did not report both the uid and the pid of %s", name)
	}
	return cr, nil
}

func asUint32(v any) (uint32, bool) {
	u, ok := v.(uint32)
	return u, ok
}

// busCall calls a method of the bus driver with reflection-encoded arguments; it is for the
// driver's few, rarely called methods. The call passes the client interceptors (KindDriver)
// with the arguments ([]any) as the request and a *[]any that receives the reply's values as
// the response.
func (c *Conn) busCall(ctx context.Context, member string, inSig, outSig wire.Signature, args ...any) ([]any, error) {
	var out []any
	info := &MethodInfo{Interface: classic.BusInterface, Member: member, Kind: KindDriver}
	err := c.invokeCall(ctx, info, args, &out, func(ctx context.Context, _ *MethodInfo, req, resp any) error {
		args, ok := req.([]any)
		out, ok2 := resp.(*[]any)
		if !ok || !ok2 {
			return Errorf(Internal, "an interceptor passed a %T request and a %T response to the bus driver's %s; want []any and *[]any", req, resp, member)
		}
		var err error
		*out, err = c.callDriver(ctx, member, inSig, outSig, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// callDriver makes a call to the bus driver and decodes its reply.
func (c *Conn) callDriver(ctx context.Context, member string, inSig, outSig wire.Signature, args []any) ([]any, error) {
	body, err := wire.Marshal(wire.NativeOrder, inSig, args...)
	if err != nil {
		return nil, err
	}
	m := &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodCall, Destination: classic.BusName,
		Path: classic.BusPath, Interface: classic.BusInterface, Member: member,
		Signature: inSig, Body: body,
	}
	r, err := c.call(ctx, m, nil, 0)
	if err != nil {
		return nil, err
	}
	defer r.closeFDs()
	if r.Msg.Signature != outSig {
		return nil, fmt.Errorf("the bus answered %s with signature %q, want %q", member, r.Msg.Signature, outSig)
	}
	return wire.Unmarshal(r.Msg.Body, r.Msg.Order, r.Msg.Signature)
}
