// Package grpccompare serves the benchmark service's Ping and Stream over grpc-go, for the
// side-by-side table's grpc-go column. It is a module of its own so that the main module does not depend on
// grpc.
//
// The service is written by hand in the shape protoc-gen-go-grpc generates, over the same
// protobuf messages the D-Bus benchmarks send (bench/benchv1), so both sides encode the same
// payload.
//
// grpc-go runs with its defaults, which are its fastest honest setting for these cases: 32 KiB
// read and write buffers on both ends, HTTP/2 flow-control windows that start at 64 KiB per
// stream and per connection and grow with grpc-go's bandwidth-delay estimate (up to 16 MiB),
// messages up to 4 MiB, the protobuf codec, no compression. Setting a window by hand turns the
// estimate off; 256 KiB buffers and fixed 16 MiB windows, on both ends, did not make the
// stream cases faster.
package grpccompare

import (
	"context"
	"fmt"

	"github.com/kdbus-go/kdbus/bench/benchv1"
	"google.golang.org/grpc"
)

// PingMethod is the full gRPC method name of Ping.
const PingMethod = "/kdbusgo.bench.v1.Bench/Ping"

// StreamMethod is the full gRPC method name of Stream.
const StreamMethod = "/kdbusgo.bench.v1.Bench/Stream"

// MaxStreamFrame is the largest payload Echo's Stream sends in one frame: grpc-go's default
// limit on a received message is 4 MiB.
const MaxStreamFrame = 4<<20 - 64

// PingServer is the server API of the unary part of the service: Ping echoes the payload.
type PingServer interface {
	Ping(context.Context, *benchv1.PingRequest) (*benchv1.PingReply, error)
}

// BenchServer is the server API of the service: Ping, and Stream, which sends the frames the
// request asks for.
type BenchServer interface {
	PingServer
	Stream(*benchv1.StreamRequest, grpc.ServerStreamingServer[benchv1.PingReply]) error
}

// Echo is a BenchServer that echoes its payload and streams the frames it is asked for.
type Echo struct{}

// Ping echoes the payload.
func (Echo) Ping(_ context.Context, req *benchv1.PingRequest) (*benchv1.PingReply, error) {
	return &benchv1.PingReply{Payload: req.GetPayload()}, nil
}

// Stream sends req.Frames frames, each a PingReply whose payload is req.Size bytes. Every
// frame is the same message: the sender encodes it afresh each time, as for any message.
func (Echo) Stream(req *benchv1.StreamRequest, stream grpc.ServerStreamingServer[benchv1.PingReply]) error {
	if req.GetSize() > MaxStreamFrame {
		return fmt.Errorf("a frame of %d bytes is over grpc-go's default message limit; ask for at most %d", req.GetSize(), MaxStreamFrame)
	}
	frame := &benchv1.PingReply{Payload: StreamPayload(int(req.GetSize()))}
	for range req.GetFrames() {
		if err := stream.Send(frame); err != nil {
			return err
		}
	}
	return nil
}

// StreamPayload returns the payload of each of Stream's frames of size n: a pattern the
// receiver can check.
func StreamPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// ServiceDesc describes the service to grpc.Server.RegisterService.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: "kdbusgo.bench.v1.Bench",
	HandlerType: (*BenchServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Ping", Handler: pingHandler}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		Handler:       streamHandler,
		ServerStreams: true,
	}},
	Metadata: "benchv1/bench.proto",
}

func pingHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	req := new(benchv1.PingRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(PingServer).Ping(ctx, req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: PingMethod}
	return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return srv.(PingServer).Ping(ctx, req.(*benchv1.PingRequest))
	})
}

// Ping calls Ping on cc.
func Ping(ctx context.Context, cc grpc.ClientConnInterface, req *benchv1.PingRequest, opts ...grpc.CallOption) (*benchv1.PingReply, error) {
	out := new(benchv1.PingReply)
	if err := cc.Invoke(ctx, PingMethod, req, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

func streamHandler(srv any, stream grpc.ServerStream) error {
	req := new(benchv1.StreamRequest)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	return srv.(BenchServer).Stream(req, &grpc.GenericServerStream[benchv1.StreamRequest, benchv1.PingReply]{ServerStream: stream})
}

// Stream opens Stream on cc: the frames come from the returned stream's Recv, which returns
// io.EOF after the last.
func Stream(ctx context.Context, cc grpc.ClientConnInterface, req *benchv1.StreamRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[benchv1.PingReply], error) {
	stream, err := cc.NewStream(ctx, &ServiceDesc.Streams[0], StreamMethod, append([]grpc.CallOption{grpc.StaticMethod()}, opts...)...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[benchv1.StreamRequest, benchv1.PingReply]{ClientStream: stream}
	if err := x.ClientStream.SendMsg(req); err != nil {
		return nil, err
	}
	if err := x.ClientStream.CloseSend(); err != nil {
		return nil, err
	}
	return x, nil
}
