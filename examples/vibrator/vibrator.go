// Package vibrator is a simulated vibration motor served from an interface converted from AIDL:
// aidl/com/example/vibrator/IVibrator.aidl became proto/com/example/vibrator/IVibrator.proto
// with aidl2proto, and the Go in gen/ came from that with protoc-gen-go and protoc-gen-kdbus.
//
// The motor keeps the habits of a binder HAL: it reads its caller's uid and pid, calls back the
// callback object a client hands it, stops a vibration whose owner's process dies, and plays
// oneway pulses one at a time in the order they were sent.
package vibrator

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	vib "github.com/kdbus-go/kdbus/examples/vibrator/gen/com/example/vibrator"
	"github.com/kdbus-go/kdbus/runtime"
	"google.golang.org/protobuf/types/known/emptypb"
)

// BusName is the well-known name the motor is served under: binder's service name
// com.example.vibrator.IVibrator/default, in the form a bus name takes.
const BusName = "com.example.vibrator.IVibrator.default"

// effectMs is how long each effect plays at full strength.
var effectMs = map[vib.Effect]int32{
	vib.Effect_EFFECT_CLICK:        20,
	vib.Effect_EFFECT_DOUBLE_CLICK: 60,
	vib.Effect_EFFECT_TICK:         10,
	vib.Effect_EFFECT_THUD:         80,
	vib.Effect_EFFECT_POP:          30,
	vib.Effect_EFFECT_HEAVY_CLICK:  40,
}

// primitiveMs is how long each composition primitive plays.
const primitiveMs = 15

// Motor is the simulated motor: an IVibratorServer.
type Motor struct {
	vib.UnimplementedIVibratorServer

	conn *runtime.Conn
	log  *log.Logger

	mu        sync.Mutex
	amplitude float32
	active    *vibration
	pulses    []int32
}

// vibration is one running vibration and who is waiting for its end.
type vibration struct {
	owner    string
	timer    *time.Timer
	callback *runtime.ObjectRef
	death    *runtime.DeathWatch
}

// NewMotor returns a motor that calls callbacks over conn and logs what it does to logger (nil:
// silently).
func NewMotor(conn *runtime.Conn, logger *log.Logger) *Motor {
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	return &Motor{conn: conn, log: logger, amplitude: 1}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Vibrating reports whether a vibration is running, and whose it is (the caller's unique name).
func (m *Motor) Vibrating() (bool, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == nil {
		return false, ""
	}
	return true, m.active.owner
}

// who describes the caller of the call being handled: its name, uid and pid.
func who(ctx context.Context) (string, string) {
	c := runtime.CallerFrom(ctx)
	creds, err := c.Credentials(ctx)
	if err != nil {
		return c.Sender, fmt.Sprintf("%s (credentials unknown: %v)", c.Sender, err)
	}
	return c.Sender, fmt.Sprintf("%s (uid %d, pid %d)", c.Sender, creds.UID, creds.PID)
}

// GetCapabilities returns every capability: the simulation can do it all.
func (m *Motor) GetCapabilities(ctx context.Context, _ *emptypb.Empty) (*vib.IVibratorGetCapabilitiesResponse, error) {
	return &vib.IVibratorGetCapabilitiesResponse{Result: vib.IVibrator_CAP_ALL}, nil
}

// Off stops the running vibration, if any; its callback hears onComplete.
func (m *Motor) Off(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	_, caller := who(ctx)
	m.log.Printf("off, asked by %s", caller)
	m.stop()
	return &emptypb.Empty{}, nil
}

// On vibrates for the given time.
func (m *Motor) On(ctx context.Context, req *vib.IVibratorOnRequest) (*emptypb.Empty, error) {
	if req.GetTimeoutMs() <= 0 || req.GetTimeoutMs() > vib.IVibrator_MAX_ON_MS {
		return nil, runtime.Errorf(runtime.InvalidArgument, "timeout_ms %d is out of range: give 1 to %d", req.GetTimeoutMs(), vib.IVibrator_MAX_ON_MS)
	}
	name, caller := who(ctx)
	m.log.Printf("on for %d ms at amplitude %.2f, asked by %s", req.GetTimeoutMs(), m.amp(), caller)
	return &emptypb.Empty{}, m.start(ctx, name, time.Duration(req.GetTimeoutMs())*time.Millisecond, req.GetCallback())
}

// Perform plays an effect and returns its length.
func (m *Motor) Perform(ctx context.Context, req *vib.IVibratorPerformRequest) (*vib.IVibratorPerformResponse, error) {
	ms, ok := effectMs[req.GetEffect()]
	if !ok {
		return nil, runtime.Errorf(runtime.Unimplemented, "effect %v is not supported; GetSupportedEffects lists those that are", req.GetEffect())
	}
	switch req.GetStrength() {
	case vib.EffectStrength_EFFECT_STRENGTH_LIGHT:
		ms /= 2
	case vib.EffectStrength_EFFECT_STRENGTH_MEDIUM:
	case vib.EffectStrength_EFFECT_STRENGTH_STRONG:
		ms = ms * 3 / 2
	default:
		return nil, runtime.Errorf(runtime.InvalidArgument, "strength %v is not one of LIGHT, MEDIUM, STRONG", req.GetStrength())
	}
	name, caller := who(ctx)
	m.log.Printf("perform %v (%v, %d ms), asked by %s", req.GetEffect(), req.GetStrength(), ms, caller)
	if err := m.start(ctx, name, time.Duration(ms)*time.Millisecond, req.GetCallback()); err != nil {
		return nil, err
	}
	return &vib.IVibratorPerformResponse{Result: ms}, nil
}

// GetSupportedEffects lists the effects Perform plays.
func (m *Motor) GetSupportedEffects(ctx context.Context, _ *emptypb.Empty) (*vib.IVibratorGetSupportedEffectsResponse, error) {
	resp := &vib.IVibratorGetSupportedEffectsResponse{}
	for e := range vib.Effect_name {
		if _, ok := effectMs[vib.Effect(e)]; ok {
			resp.Result = append(resp.Result, vib.Effect(e))
		}
	}
	sortEffects(resp.Result)
	return resp, nil
}

func sortEffects(es []vib.Effect) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j] < es[j-1]; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// SetAmplitude sets the strength of later On vibrations.
func (m *Motor) SetAmplitude(ctx context.Context, req *vib.IVibratorSetAmplitudeRequest) (*emptypb.Empty, error) {
	if a := req.GetAmplitude(); !(a > 0 && a <= 1) {
		return nil, runtime.Errorf(runtime.InvalidArgument, "amplitude %v is out of range: give more than 0 and at most 1", a)
	}
	m.mu.Lock()
	m.amplitude = req.GetAmplitude()
	m.mu.Unlock()
	return &emptypb.Empty{}, nil
}

func (m *Motor) amp() float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.amplitude
}

// Compose plays the steps one after another.
func (m *Motor) Compose(ctx context.Context, req *vib.IVibratorComposeRequest) (*emptypb.Empty, error) {
	if len(req.GetComposite()) == 0 {
		return nil, runtime.Errorf(runtime.InvalidArgument, "composite is empty: give at least one step")
	}
	var total int32
	for i, step := range req.GetComposite() {
		if s := step.GetScale(); s < 0 || s > 1 {
			return nil, runtime.Errorf(runtime.InvalidArgument, "step %d: scale %v is out of range 0..1", i, s)
		}
		total += step.GetDelayMs() + primitiveMs
	}
	name, caller := who(ctx)
	m.log.Printf("compose %d steps (%d ms), asked by %s", len(req.GetComposite()), total, caller)
	return &emptypb.Empty{}, m.start(ctx, name, time.Duration(total)*time.Millisecond, req.GetCallback())
}

// Pulse plays a short pulse. Pulses are oneway calls: the runtime runs them one at a time in
// the order they were sent, so the motor plays them in that order without a queue of its own.
func (m *Motor) Pulse(ctx context.Context, req *vib.IVibratorPulseRequest) (*emptypb.Empty, error) {
	d := min(max(req.GetDurationMs(), 0), 100)
	time.Sleep(time.Duration(d) * time.Millisecond)
	m.mu.Lock()
	m.pulses = append(m.pulses, req.GetDurationMs())
	m.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// PlayedPulses returns the pulses played so far.
func (m *Motor) PlayedPulses(ctx context.Context, _ *emptypb.Empty) (*vib.IVibratorPlayedPulsesResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &vib.IVibratorPlayedPulsesResponse{Result: int32(len(m.pulses)), DurationsMs: append([]int32(nil), m.pulses...)}, nil
}

// start begins a vibration of length d for owner, replacing the running one. With a callback,
// the motor links to the death of the callback's process: if it dies, the vibration stops,
// since nobody is left to hear of its end.
func (m *Motor) start(ctx context.Context, owner string, d time.Duration, cb *runtime.ObjectRef) error {
	v := &vibration{owner: owner, callback: cb}
	if cb != nil {
		dw, err := m.conn.WatchDeath(ctx, cb.GetBusName())
		if err != nil {
			return runtime.Errorf(runtime.InvalidArgument, "the callback's server %q: %v", cb.GetBusName(), err)
		}
		v.death = dw
		go func() {
			<-dw.Done()
			if dw.Err() == runtime.ErrPeerGone && m.end(v, false) {
				m.log.Printf("the owner of the vibration, %s, died: stopped", owner)
			}
		}()
	}
	m.mu.Lock()
	old := m.active
	m.active = v
	v.timer = time.AfterFunc(d, func() { m.end(v, true) })
	m.mu.Unlock()
	if old != nil {
		m.finish(old, true)
	}
	return nil
}

// stop ends the running vibration, telling its owner.
func (m *Motor) stop() {
	m.mu.Lock()
	v := m.active
	m.mu.Unlock()
	if v != nil {
		m.end(v, true)
	}
}

// end ends v if it is still the running vibration, and reports whether it was.
func (m *Motor) end(v *vibration, notify bool) bool {
	m.mu.Lock()
	if m.active != v {
		m.mu.Unlock()
		return false
	}
	m.active = nil
	m.mu.Unlock()
	m.finish(v, notify)
	return true
}

// finish releases what v holds and, when asked to, calls its callback's onComplete.
func (m *Motor) finish(v *vibration, notify bool) {
	v.timer.Stop()
	if v.death != nil {
		v.death.Stop()
	}
	if v.callback == nil || !notify {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cb := vib.NewIVibratorCallbackClient(m.conn, runtime.Target(v.callback))
	if _, err := cb.OnComplete(ctx, &emptypb.Empty{}); err != nil {
		m.log.Printf("calling back %s: %v", v.callback.GetBusName(), err)
	}
}
