package runtime

import "context"

// Streamer opens a stream; stream client interceptors call it to continue.
type Streamer func(ctx context.Context, method *MethodInfo) (ClientStream, error)

// StreamClientInterceptor runs when a generated client opens a stream. It must call streamer
// to open it (or return an error instead), and may wrap the stream it returns to watch or
// change its messages.
type StreamClientInterceptor func(ctx context.Context, method *MethodInfo, streamer Streamer) (ClientStream, error)

// StreamHandler runs a stream's handler; stream server interceptors call it to continue.
type StreamHandler func(srv any, stream ServerStream) error

// StreamServerInterceptor runs around each stream handler. It must call handler to run it (or
// return an error instead), and may pass a wrapped stream. stream.Context() carries the
// caller (CallerFrom) and its metadata (MetadataFrom).
type StreamServerInterceptor func(srv any, stream ServerStream, method *MethodInfo, handler StreamHandler) error

// ChainStreamClient combines interceptors into one, the first outermost. The chain is built
// here, once; nil for none.
func ChainStreamClient(ics ...StreamClientInterceptor) StreamClientInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	outer, inner := ics[0], ChainStreamClient(ics[1:]...)
	return func(ctx context.Context, method *MethodInfo, streamer Streamer) (ClientStream, error) {
		return outer(ctx, method, func(ctx context.Context, method *MethodInfo) (ClientStream, error) {
			return inner(ctx, method, streamer)
		})
	}
}

// ChainStreamServer combines interceptors into one, the first outermost. The chain is built
// here, once; nil for none.
func ChainStreamServer(ics ...StreamServerInterceptor) StreamServerInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	outer, inner := ics[0], ChainStreamServer(ics[1:]...)
	return func(srv any, stream ServerStream, method *MethodInfo, handler StreamHandler) error {
		return outer(srv, stream, method, func(srv any, stream ServerStream) error {
			return inner(srv, stream, method, handler)
		})
	}
}

// WithStreamClientInterceptor runs ic whenever this connection opens a stream. Given several
// times, the interceptors run in the order given, the first outermost.
func WithStreamClientInterceptor(ic StreamClientInterceptor) Option {
	return func(o *connOptions) { o.streamClient = append(o.streamClient, ic) }
}

// WithStreamServerInterceptor runs ic around every stream handler this connection runs. Given
// several times, the interceptors run in the order given, the first outermost.
func WithStreamServerInterceptor(ic StreamServerInterceptor) Option {
	return func(o *connOptions) { o.streamServer = append(o.streamServer, ic) }
}
