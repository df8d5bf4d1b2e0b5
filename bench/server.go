package bench

import (
	"context"
	"encoding/binary"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/bench/benchv1"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Server implements the Bench service.
type Server struct {
	benchv1.UnimplementedBenchServer

	// Notified counts Notify calls; Progress gets a token (without blocking) after each, so
	// that a sender can wait for its messages to drain without polling.
	Notified atomic.Int64
	Progress chan struct{}
}

// NewServer returns a Server ready to serve.
func NewServer() *Server { return &Server{Progress: make(chan struct{}, 1)} }

// Ping echoes the payload.
func (s *Server) Ping(_ context.Context, req *benchv1.PingRequest) (*benchv1.PingReply, error) {
	return &benchv1.PingReply{Payload: req.GetPayload()}, nil
}

// Notify counts the message.
func (s *Server) Notify(context.Context, *benchv1.NotifyRequest) (*emptypb.Empty, error) {
	s.Count()
	return &emptypb.Empty{}, nil
}

// Count records one one-way message and announces it on Progress.
func (s *Server) Count() {
	s.Notified.Add(1)
	select {
	case s.Progress <- struct{}{}:
	default:
	}
}

// Sink describes the payload.
func (s *Server) Sink(_ context.Context, req *benchv1.SinkRequest) (*benchv1.BlobReply, error) {
	return &benchv1.BlobReply{Size: uint64(len(req.GetData())), Sample: Sample(req.GetData())}, nil
}

// Blob describes the payload, which arrives mapped read-only from a sealed memfd.
func (s *Server) Blob(_ context.Context, req *benchv1.BlobRequest) (*benchv1.BlobReply, error) {
	return &benchv1.BlobReply{Size: uint64(len(req.GetData())), Sample: Sample(req.GetData())}, nil
}

// sampleWords is how many 8-byte words Sample reads.
const sampleWords = 64

// Sample checksums sampleWords words spread evenly over b (all of b when it is shorter): the
// bytes a receiver must touch to show that a payload arrived, at a cost that does not grow
// with its size.
func Sample(b []byte) uint64 {
	var sum uint64
	if len(b) < 8*sampleWords {
		for i, c := range b {
			sum = sum*31 + uint64(c) + uint64(i)
		}
		return sum
	}
	for i := range sampleWords {
		off := i * (len(b) - 8) / (sampleWords - 1) // from the first word to the last
		sum = sum*31 + binary.LittleEndian.Uint64(b[off:])
	}
	return sum
}
