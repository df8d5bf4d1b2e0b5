package vibrator

import (
	"context"
	"fmt"
	"time"

	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Callback is an IVibratorCallback a client serves: each onComplete arrives on Done.
type Callback struct {
	vib.UnimplementedIVibratorCallbackServer
	Done chan struct{}
}

// NewCallback returns a callback whose Done holds up to n completions.
func NewCallback(n int) *Callback { return &Callback{Done: make(chan struct{}, n)} }

// OnComplete records a completion.
func (c *Callback) OnComplete(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	select {
	case c.Done <- struct{}{}:
	default:
	}
	return &emptypb.Empty{}, nil
}

// Demo waits up to wait for the motor to appear on conn's bus, then exercises it as an app
// would, printing what happens with say.
func Demo(ctx context.Context, conn *runtime.Conn, wait time.Duration, say func(format string, args ...any)) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	owner, err := conn.WaitForName(wctx, BusName)
	cancel()
	if err != nil {
		return fmt.Errorf("no vibrator on the bus: %w; start one with go run ./examples/vibrator/server", err)
	}
	say("vibrator %s is served by %s", BusName, owner)
	motor := vib.NewIVibratorClient(conn, runtime.WithDestination(BusName))

	caps, err := motor.GetCapabilities(ctx, &emptypb.Empty{})
	if err != nil {
		return err
	}
	say("capabilities: %#x (on-callback %v, amplitude %v)", caps.GetResult(),
		caps.GetResult()&vib.IVibrator_CAP_ON_CALLBACK != 0, caps.GetResult()&vib.IVibrator_CAP_AMPLITUDE_CONTROL != 0)
	effects, err := motor.GetSupportedEffects(ctx, &emptypb.Empty{})
	if err != nil {
		return err
	}
	say("supported effects: %v", effects.GetResult())

	// The callback is an object this client serves; the motor calls it back.
	cb := NewCallback(4)
	ref, err := vib.ExportIVibratorCallbackServer(conn, cb)
	if err != nil {
		return err
	}
	defer conn.Unexport(ref)
	if _, err := motor.SetAmplitude(ctx, &vib.IVibratorSetAmplitudeRequest{Amplitude: 0.5}); err != nil {
		return err
	}
	start := time.Now()
	if _, err := motor.On(ctx, &vib.IVibratorOnRequest{TimeoutMs: 200, Callback: ref}); err != nil {
		return err
	}
	if err := waitDone(ctx, cb); err != nil {
		return err
	}
	say("on(200 ms): onComplete after %v", time.Since(start).Round(10*time.Millisecond))

	ms, err := motor.Perform(ctx, &vib.IVibratorPerformRequest{Effect: vib.Effect_EFFECT_THUD, Strength: vib.EffectStrength_EFFECT_STRENGTH_STRONG, Callback: ref})
	if err != nil {
		return err
	}
	if err := waitDone(ctx, cb); err != nil {
		return err
	}
	say("perform(THUD, STRONG): %d ms, onComplete", ms.GetResult())

	step := vib.NewCompositeEffect() // primitive CLICK, scale 1: the AIDL defaults
	step.DelayMs = 10
	if _, err := motor.Compose(ctx, &vib.IVibratorComposeRequest{Composite: []*vib.CompositeEffect{step, step}, Callback: ref}); err != nil {
		return err
	}
	if err := waitDone(ctx, cb); err != nil {
		return err
	}
	say("compose(%v x2): onComplete", step.GetPrimitive())

	// oneway pulses: sent without waiting, played one at a time in the order sent.
	sent := []int32{5, 1, 4, 2, 3}
	for _, d := range sent {
		if _, err := motor.Pulse(ctx, &vib.IVibratorPulseRequest{DurationMs: d}); err != nil {
			return err
		}
	}
	var played *vib.IVibratorPlayedPulsesResponse
	for {
		if played, err = motor.PlayedPulses(ctx, &emptypb.Empty{}); err != nil {
			return err
		}
		if int(played.GetResult()) >= len(sent) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	say("pulses sent %v, played %v", sent, played.GetDurationsMs())

	if _, err := motor.On(ctx, &vib.IVibratorOnRequest{TimeoutMs: 60 * 1000}); err != nil {
		say("on(60 s) refused: %v", err)
	}
	return nil
}

func waitDone(ctx context.Context, cb *Callback) error {
	select {
	case <-cb.Done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the motor never called back: %w", ctx.Err())
	}
}
