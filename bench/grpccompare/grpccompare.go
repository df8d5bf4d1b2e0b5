// Package grpccompare serves the benchmark service's Ping over grpc-go, for the side-by-side
// table's grpc-go column. It is a module of its own so that the main module does not depend on
// grpc.
//
// The service is written by hand in the shape protoc-gen-go-grpc generates, over the same
// protobuf messages the D-Bus benchmarks send (bench/benchv1), so both sides encode the same
// payload.
package grpccompare

import (
	"context"

	"github.com/kdbus-go/kdbus/bench/benchv1"
	"google.golang.org/grpc"
)

// PingMethod is the full gRPC method name of Ping.
const PingMethod = "/kdbusgo.bench.v1.Bench/Ping"

// PingServer is the server API of the service: Ping echoes the payload.
type PingServer interface {
	Ping(context.Context, *benchv1.PingRequest) (*benchv1.PingReply, error)
}

// Echo is a PingServer that echoes its payload.
type Echo struct{}

// Ping echoes the payload.
func (Echo) Ping(_ context.Context, req *benchv1.PingRequest) (*benchv1.PingReply, error) {
	return &benchv1.PingReply{Payload: req.GetPayload()}, nil
}

// ServiceDesc describes the service to grpc.Server.RegisterService.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: "kdbusgo.bench.v1.Bench",
	HandlerType: (*PingServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Ping", Handler: pingHandler}},
	Metadata:    "benchv1/bench.proto",
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
