// Package telemetry implements the example Telemetry service defined in telemetry.proto: a
// server stream of sensor readings, a client-streamed upload and a bidirectional echo. The
// server and client commands beside it serve and call it.
package telemetry

import (
	"errors"
	"io"
	"math"
	"time"

	"github.com/kdbus-go/kdbus/examples/telemetry/telemetryv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// Server implements telemetryv1.TelemetryServer over simulated sensors.
type Server struct {
	telemetryv1.UnimplementedTelemetryServer
}

// Sample returns the simulated value of sensor at step seq: a slow sine wave around a level
// that depends on the sensor's name, so every sensor reads differently and reproducibly.
func Sample(sensor string, seq uint64) float64 {
	var level float64
	for _, r := range sensor {
		level += float64(r)
	}
	return math.Mod(level, 50) + 10*math.Sin(float64(seq)/10)
}

// Readings streams readings of req's sensor until count were sent, the caller stops, or its
// deadline passes.
func (Server) Readings(req *telemetryv1.ReadingsRequest, stream runtime.ServerStreamingServer[telemetryv1.Reading]) error {
	if req.GetSensor() == "" {
		return runtime.Errorf(runtime.InvalidArgument, "name the sensor to read")
	}
	ctx := stream.Context()
	var tick <-chan time.Time
	if req.GetIntervalMs() > 0 {
		t := time.NewTicker(time.Duration(req.GetIntervalMs()) * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for seq := uint64(0); req.GetCount() == 0 || seq < uint64(req.GetCount()); seq++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r := &telemetryv1.Reading{
			Sensor: req.GetSensor(), Seq: seq, Value: Sample(req.GetSensor(), seq),
			TimeUnixNano: time.Now().UnixNano(),
		}
		if err := stream.Send(r); err != nil {
			return err
		}
	}
	return nil
}

// Upload summarizes the readings a caller streams to it.
func (Server) Upload(stream runtime.ClientStreamingServer[telemetryv1.Reading, telemetryv1.UploadSummary]) error {
	sum := &telemetryv1.UploadSummary{Min: math.Inf(1), Max: math.Inf(-1)}
	var total float64
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		sum.Count++
		total += r.GetValue()
		sum.Min = min(sum.Min, r.GetValue())
		sum.Max = max(sum.Max, r.GetValue())
	}
	if sum.Count == 0 {
		sum.Min, sum.Max = 0, 0
	} else {
		sum.Mean = total / float64(sum.Count)
	}
	return stream.SendAndClose(sum)
}

// Echo sends each reading back, marked as echoed, until the caller closes its side.
func (Server) Echo(stream runtime.BidiStreamingServer[telemetryv1.Reading, telemetryv1.Reading]) error {
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r.Echoed = true
		if err := stream.Send(r); err != nil {
			return err
		}
	}
}
