package runtime

import "context"

// UnaryInvoker makes a call; client interceptors call it to continue.
type UnaryInvoker func(ctx context.Context, method *MethodInfo, req, resp any) error

// UnaryClientInterceptor runs around each call a generated client makes. It must call invoker
// to make the call (or return an error instead).
type UnaryClientInterceptor func(ctx context.Context, method *MethodInfo, req, resp any, invoker UnaryInvoker) error

// UnaryHandler runs a handler; server interceptors call it to continue.
type UnaryHandler func(ctx context.Context, req any) (any, error)

// UnaryServerInterceptor runs around each handler. It must call handler to run the method (or
// return an error instead). The caller is available with CallerFrom(ctx).
type UnaryServerInterceptor func(ctx context.Context, req any, method *MethodInfo, handler UnaryHandler) (any, error)

// ChainUnaryClient combines interceptors; the first is outermost.
func ChainUnaryClient(ics ...UnaryClientInterceptor) UnaryClientInterceptor {
	return func(ctx context.Context, method *MethodInfo, req, resp any, invoker UnaryInvoker) error {
		next := invoker
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], next
			next = func(ctx context.Context, method *MethodInfo, req, resp any) error {
				return ic(ctx, method, req, resp, inner)
			}
		}
		return next(ctx, method, req, resp)
	}
}

// ChainUnaryServer combines interceptors; the first is outermost.
func ChainUnaryServer(ics ...UnaryServerInterceptor) UnaryServerInterceptor {
	return func(ctx context.Context, req any, method *MethodInfo, handler UnaryHandler) (any, error) {
		next := handler
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], next
			next = func(ctx context.Context, req any) (any, error) {
				return ic(ctx, req, method, inner)
			}
		}
		return next(ctx, req)
	}
}
