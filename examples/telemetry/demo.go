package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kdbus-go/kdbus/examples/telemetry/telemetryv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// Demo waits up to wait for the Telemetry service to appear on conn's bus, then uses each of
// its streams: it reads readings as they come, uploads a batch, and has a few readings echoed.
// It reports what it sees through say.
func Demo(ctx context.Context, conn *runtime.Conn, wait time.Duration, say func(format string, args ...any)) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	owner, err := conn.WaitForName(wctx, telemetryv1.Telemetry_BusName)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", telemetryv1.Telemetry_BusName, err)
	}
	say("%s is served by %s", telemetryv1.Telemetry_BusName, owner)
	client := telemetryv1.NewTelemetryClient(conn)

	// A server stream: five readings, one every 50 ms, under a deadline the server sees too.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	readings, err := client.Readings(rctx, &telemetryv1.ReadingsRequest{Sensor: "cabin-temp", Count: 5, IntervalMs: 50})
	if err != nil {
		return err
	}
	for {
		r, err := readings.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading cabin-temp: %w", err)
		}
		say("reading %s #%d: %.2f", r.GetSensor(), r.GetSeq(), r.GetValue())
	}

	// A client stream: upload a thousand readings, then read the summary.
	upload, err := client.Upload(ctx)
	if err != nil {
		return err
	}
	for seq := uint64(0); seq < 1000; seq++ {
		if err := upload.Send(&telemetryv1.Reading{Sensor: "wheel-speed", Seq: seq, Value: Sample("wheel-speed", seq)}); err != nil {
			return fmt.Errorf("uploading: %w", err)
		}
	}
	sum, err := upload.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("uploading: %w", err)
	}
	say("uploaded %d readings: min %.2f, max %.2f, mean %.2f", sum.GetCount(), sum.GetMin(), sum.GetMax(), sum.GetMean())

	// A bidirectional stream: each reading comes back as soon as it was sent.
	echo, err := client.Echo(ctx)
	if err != nil {
		return err
	}
	for seq := uint64(0); seq < 3; seq++ {
		if err := echo.Send(&telemetryv1.Reading{Sensor: "battery", Seq: seq, Value: Sample("battery", seq)}); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		r, err := echo.Recv()
		if err != nil {
			return fmt.Errorf("echo: %w", err)
		}
		say("echoed %s #%d (echoed=%v)", r.GetSensor(), r.GetSeq(), r.GetEchoed())
	}
	if err := echo.CloseSend(); err != nil {
		return err
	}
	if _, err := echo.Recv(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("echo: the stream ended with %v, want its end", err)
	}
	say("done")
	return nil
}
