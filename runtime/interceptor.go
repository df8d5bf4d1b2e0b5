package runtime

import (
	"context"
	"slices"
)

// PropertyCall is the request that interceptors see for a call of
// org.freedesktop.DBus.Properties (MethodInfo.Kind is KindProperty and Member is "Get", "Set"
// or "GetAll"), on both sides.
type PropertyCall struct {
	// Interface is the interface whose properties are read or written.
	Interface string
	// Name is the property read or written; "" for GetAll.
	Name string
	// Value is the value written by Set: the properties message (a *T for a Properties[T])
	// whose field for the property holds it. It is nil for Get and GetAll.
	Value any
}

// The MethodInfo of the calls of org.freedesktop.DBus.Properties and of PropertiesChanged,
// shared by every such call.
var (
	propertyGetInfo     = MethodInfo{Interface: PropertiesInterface, Member: "Get", Kind: KindProperty}
	propertySetInfo     = MethodInfo{Interface: PropertiesInterface, Member: "Set", Kind: KindProperty}
	propertyGetAllInfo  = MethodInfo{Interface: PropertiesInterface, Member: "GetAll", Kind: KindProperty}
	propertyChangedInfo = MethodInfo{Interface: PropertiesInterface, Member: "PropertiesChanged", NoReply: true, Kind: KindSignal}
)

// UnaryInvoker makes a call; client interceptors call it to continue.
type UnaryInvoker func(ctx context.Context, method *MethodInfo, req, resp any) error

// UnaryClientInterceptor runs around each outgoing call of a connection: the methods of
// generated clients and raw calls (KindMethod), property Get, Set and GetAll (KindProperty),
// the runtime's calls to the bus driver (KindDriver) and the signals it emits (KindSignal).
// It must call invoker to make the call (or return an error instead), passing on ctx or a
// context derived from it. method is shared by every call of the method: do not modify it.
type UnaryClientInterceptor func(ctx context.Context, method *MethodInfo, req, resp any, invoker UnaryInvoker) error

// UnaryHandler runs a handler; server interceptors call it to continue.
type UnaryHandler func(ctx context.Context, req any) (any, error)

// UnaryServerInterceptor runs around each incoming call a connection serves: the methods of
// registered services (KindMethod), property Get, Set and GetAll (KindProperty), and each
// signal delivered to a subscription (KindSignal). It must call handler to serve the call (or
// return an error instead), passing on ctx or a context derived from it. The caller (the
// signal's sender) is available with CallerFrom(ctx). method is shared: do not modify it.
type UnaryServerInterceptor func(ctx context.Context, req any, method *MethodInfo, handler UnaryHandler) (any, error)

// ChainUnaryClient combines interceptors into one; the first is outermost. The chain is built
// here, once: calling it allocates no closure per interceptor. The invoker of each call
// reaches the innermost interceptor through ctx, so each interceptor must pass on the context
// it was given, or one derived from it.
func ChainUnaryClient(ics ...UnaryClientInterceptor) UnaryClientInterceptor {
	if ic := chainUnaryClient(ics); ic != nil {
		return ic
	}
	return func(ctx context.Context, method *MethodInfo, req, resp any, invoker UnaryInvoker) error {
		return invoker(ctx, method, req, resp)
	}
}

// ChainUnaryServer combines interceptors into one; the first is outermost. The chain is built
// here, once: calling it allocates no closure per interceptor. The handler of each call
// reaches the innermost interceptor through ctx, so each interceptor must pass on the context
// it was given, or one derived from it.
func ChainUnaryServer(ics ...UnaryServerInterceptor) UnaryServerInterceptor {
	if ic := chainUnaryServer(ics); ic != nil {
		return ic
	}
	return func(ctx context.Context, req any, method *MethodInfo, handler UnaryHandler) (any, error) {
		return handler(ctx, req)
	}
}

// clientChain is a chain of client interceptors linked once: next[i] is the invoker that
// ics[i] calls, and the last one takes the call's own invoker from the context (under the
// chain's address as key).
type clientChain struct {
	ics  []UnaryClientInterceptor
	next []UnaryInvoker
}

// chainUnaryClient links ics (nil ones left out) into one interceptor, or returns nil when
// there are none.
func chainUnaryClient(ics []UnaryClientInterceptor) UnaryClientInterceptor {
	ics = slices.DeleteFunc(slices.Clone(ics), func(ic UnaryClientInterceptor) bool { return ic == nil })
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	ch := &clientChain{ics: ics, next: make([]UnaryInvoker, len(ics))}
	for i := range len(ics) - 1 {
		ic := ics[i+1]
		ch.next[i] = func(ctx context.Context, method *MethodInfo, req, resp any) error {
			return ic(ctx, method, req, resp, ch.next[i+1])
		}
	}
	ch.next[len(ics)-1] = ch.invoke
	first, next := ics[0], ch.next[0]
	return func(ctx context.Context, method *MethodInfo, req, resp any, invoker UnaryInvoker) error {
		return first(context.WithValue(ctx, ch, invoker), method, req, resp, next)
	}
}

// invoke ends the chain with the invoker the call came with.
func (ch *clientChain) invoke(ctx context.Context, method *MethodInfo, req, resp any) error {
	invoker, _ := ctx.Value(ch).(UnaryInvoker)
	if invoker == nil {
		return Errorf(Internal, "calling %s: a client interceptor called its invoker with a context that does not derive from the one it was given; pass on ctx, or a context made from it", method.FullName())
	}
	return invoker(ctx, method, req, resp)
}

// serverChain is a chain of server interceptors linked once, as clientChain.
type serverChain struct {
	ics  []UnaryServerInterceptor
	next []UnaryHandler
}

// serverCallCtx carries a call through a serverChain: the links find it by the chain's
// address, and with it the call's method (a UnaryHandler has none) and handler. It is one
// allocation per call, however long the chain.
type serverCallCtx struct {
	context.Context
	ch      *serverChain
	method  *MethodInfo
	handler UnaryHandler
}

// Value returns the call itself for the key of its chain.
func (c *serverCallCtx) Value(key any) any {
	if key == any(c.ch) {
		return c
	}
	return c.Context.Value(key)
}

// chainUnaryServer links ics (nil ones left out) into one interceptor, or returns nil when
// there are none.
func chainUnaryServer(ics []UnaryServerInterceptor) UnaryServerInterceptor {
	ics = slices.DeleteFunc(slices.Clone(ics), func(ic UnaryServerInterceptor) bool { return ic == nil })
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	ch := &serverChain{ics: ics, next: make([]UnaryHandler, len(ics))}
	for i := range len(ics) - 1 {
		ic := ics[i+1]
		ch.next[i] = func(ctx context.Context, req any) (any, error) {
			call, ok := ctx.Value(ch).(*serverCallCtx)
			if !ok {
				return nil, ch.lost()
			}
			return ic(ctx, req, call.method, ch.next[i+1])
		}
	}
	ch.next[len(ics)-1] = func(ctx context.Context, req any) (any, error) {
		call, ok := ctx.Value(ch).(*serverCallCtx)
		if !ok {
			return nil, ch.lost()
		}
		return call.handler(ctx, req)
	}
	first, next := ics[0], ch.next[0]
	return func(ctx context.Context, req any, method *MethodInfo, handler UnaryHandler) (any, error) {
		return first(&serverCallCtx{Context: ctx, ch: ch, method: method, handler: handler}, req, method, next)
	}
}

func (ch *serverChain) lost() error {
	return Errorf(Internal, "a server interceptor called its handler with a context that does not derive from the one it was given; pass on ctx, or a context made from it")
}

// invokeCall is the one way out of a connection: every call it makes (generated methods, raw
// calls, properties, the bus driver) and every signal it emits passes here, through the
// connection's client interceptors, to do.
func (c *Conn) invokeCall(ctx context.Context, info *MethodInfo, req, resp any, do UnaryInvoker) error {
	if c.unaryClient == nil {
		return do(ctx, info, req, resp)
	}
	return c.unaryClient(ctx, info, req, resp, do)
}

// serveCall is the one way in: every call a connection serves (methods, properties) and
// every signal it delivers to a subscription passes here, through the connection's server
// interceptors, to handler.
func (c *Conn) serveCall(ctx context.Context, info *MethodInfo, req any, handler UnaryHandler) (any, error) {
	if c.unaryServer == nil {
		return handler(ctx, req)
	}
	return c.unaryServer(ctx, req, info, handler)
}
