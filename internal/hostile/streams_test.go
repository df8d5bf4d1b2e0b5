package hostile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// Hostile callers of a kdbus-go stream server. The server (the sink) runs in a process of its
// own so that its memory can be read from /proc; the attackers speak the stream protocol
// (docs/streaming.md) with raw messages, so that they can break it: frames beyond the window
// they were given, Begins without calls, side messages for other callers' streams, more
// streams than a service serves, and streams they never read.

// sinkEnv makes the test binary the sink (see runSink): its value is the bus address.
const sinkEnv = "KDBUS_HOSTILE_SINK"

const (
	sinkName  = "org.kdbusgo.Hostile.Sink"
	sinkIface = "org.kdbusgo.Hostile.Sink"
	sinkPath  = "/org/kdbusgo/Hostile/Sink"
	callIface = "org.kdbusgo.Call" // the stream protocol's side channel
)

// The sink's messages, coded as generated code codes them.
type blob struct{ B []byte }
type frameSize struct{ N uint32 }
type none struct{}
type heapSize struct{ N uint64 }

var (
	blobCodec = kdbusimpl.Codec[blob]{Sig: "ay",
		Encode: func(e *wire.Encoder, m *blob) { e.ByteArray(m.B) },
		Decode: func(d *wire.Decoder, m *blob) { m.B = bytes.Clone(d.ByteArray()) }}
	sizeCodec = kdbusimpl.Codec[frameSize]{Sig: "u",
		Encode: func(e *wire.Encoder, m *frameSize) { e.Uint32(m.N) },
		Decode: func(d *wire.Decoder, m *frameSize) { m.N = d.Uint32() }}
	noneCodec = kdbusimpl.Codec[none]{Encode: func(*wire.Encoder, *none) {}, Decode: func(*wire.Decoder, *none) {}}
	heapCodec = kdbusimpl.Codec[heapSize]{Sig: "t",
		Encode: func(e *wire.Encoder, m *heapSize) { e.Uint64(m.N) },
		Decode: func(d *wire.Decoder, m *heapSize) { m.N = d.Uint64() }}

	// Sink echoes the caller's frames, or with metadata mode=stall reads none of them.
	sinkMethod = runtime.StreamMethod[blob, blob]{Interface: sinkIface, Name: "Sink", In: blobCodec, Out: blobCodec, ClientStreams: true, ServerStreams: true}
	// Spew sends frames of the requested size until the stream breaks.
	spewMethod = runtime.StreamMethod[frameSize, blob]{Interface: sinkIface, Name: "Spew", In: sizeCodec, Out: blobCodec, ServerStreams: true}
	// Ping answers at once: the bystander's call.
	pingMethod = runtime.UnaryMethod[none, none]{Interface: sinkIface, Name: "Ping", In: noneCodec, Out: noneCodec}
	// Heap returns the sink's live heap after a collection.
	heapMethod = runtime.UnaryMethod[none, heapSize]{Interface: sinkIface, Name: "Heap", In: noneCodec, Out: heapCodec}
)

type sinkServer interface {
	Sink(runtime.BidiStreamingServer[blob, blob]) error
	Spew(*frameSize, runtime.ServerStreamingServer[blob]) error
	Ping(context.Context, *none) (*none, error)
	Heap(context.Context, *none) (*heapSize, error)
}

var sinkDesc = runtime.ServiceDesc{
	Interface: sinkIface, Path: sinkPath, BusName: sinkName, HandlerType: (*sinkServer)(nil),
	Methods: []runtime.MethodDesc{
		sinkMethod.BidiStreamDesc(func(srv any, st runtime.BidiStreamingServer[blob, blob]) error {
			return srv.(sinkServer).Sink(st)
		}),
		spewMethod.ServerStreamDesc(func(srv any, req *frameSize, st runtime.ServerStreamingServer[blob]) error {
			return srv.(sinkServer).Spew(req, st)
		}),
		pingMethod.Desc(func(srv any, ctx context.Context, req *none) (*none, error) {
			return srv.(sinkServer).Ping(ctx, req)
		}),
		heapMethod.Desc(func(srv any, ctx context.Context, req *none) (*heapSize, error) {
			return srv.(sinkServer).Heap(ctx, req)
		}),
	},
	XML: (&introspect.Interface{Name: sinkIface}).XML(),
}

type sink struct{}

func (sink) Sink(st runtime.BidiStreamingServer[blob, blob]) error {
	mode := runtime.MetadataFrom(st.Context()).Get("mode")
	// The header tells a caller its stream is being served; mode=quiet sends nothing before
	// the caller's first frame.
	if len(mode) == 0 || mode[0] != "quiet" {
		if err := st.SendHeader(runtime.NewMetadata("served", "yes")); err != nil {
			return err
		}
	}
	if len(mode) > 0 && mode[0] == "stall" {
		<-st.Context().Done()
		return st.Context().Err()
	}
	for {
		f, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(f); err != nil {
			return err
		}
	}
}

func (sink) Spew(req *frameSize, st runtime.ServerStreamingServer[blob]) error {
	f := &blob{B: make([]byte, req.N)}
	for {
		if err := st.Send(f); err != nil {
			return err
		}
	}
}

func (sink) Ping(context.Context, *none) (*none, error) { return &none{}, nil }

func (sink) Heap(context.Context, *none) (*heapSize, error) {
	goruntime.GC()
	goruntime.GC() // twice: pooled buffers go at the second
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return &heapSize{ms.HeapAlloc}, nil
}

// sinkHeap returns the sink's live heap, in bytes.
func sinkHeap(t testing.TB, o *runtime.Object) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := heapMethod.Invoke(ctx, o, &none{})
	if err != nil {
		t.Fatalf("asking the sink for its heap: %v", err)
	}
	return int64(h.N)
}

// runSink serves the sink on the bus at addr until the process is killed.
func runSink(addr string) {
	ctx := context.Background()
	c, err := runtime.Dial(ctx, addr)
	if err == nil {
		err = c.Register(&sinkDesc, sink{})
	}
	if err == nil {
		_, err = c.RequestName(ctx, sinkName, runtime.NameDoNotQueue)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

// startSink runs the sink on b and returns its process id.
func startSink(t *testing.T, b *Bus) int {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), sinkEnv+"="+b.Address)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the sink said %q (%v)", line, err)
	}
	return child.Process.Pid
}

// procRSS returns the resident memory of process pid, in bytes.
func procRSS(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the memory of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peaks samples the resident memory of the sink and of the bus until stop is called, and
// returns their peaks.
func peaks(t testing.TB, b *Bus, pid int) (stop func() (sink, bus int64)) {
	done := make(chan struct{})
	var sinkPeak, busPeak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			sinkPeak = max(sinkPeak, procRSS(t, pid))
			if b.Daemon != nil {
				busPeak = max(busPeak, b.RSS())
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return sinkPeak, busPeak
	}
}

// rawPeer is an attacker: a bus connection that sends what it likes and reads everything,
// keeping replies to its calls and counting the stream frames it is sent.
type rawPeer struct {
	unique string
	send   func(*wire.Message) error
	next   func() uint32
	close  func() error

	mu      sync.Mutex
	replies map[uint32]chan *wire.Message
	data    map[uint32]int64 // bytes of Data bodies received, by stream serial
	frames  map[uint32][][]byte
	headers map[uint32]bool // streams whose header came
}

// dialRaw connects an attacker to b: natively where b's address leads the runtime there.
func dialRaw(t *testing.T, b *Bus) *rawPeer {
	t.Helper()
	p := &rawPeer{replies: map[uint32]chan *wire.Message{}, data: map[uint32]int64{}, frames: map[uint32][][]byte{}, headers: map[uint32]bool{}}
	if b.Native {
		c := nativeDial(t, b, native.Options{NoLanes: b.Kind == bustest.KdbusdNativeRouted})
		p.unique, p.next, p.close = c.UniqueName(), c.NextSerial, c.Close
		p.send = func(m *wire.Message) error {
			return c.SendCall(context.Background(), m, nil, native.SendOptions{})
		}
		go func() {
			for {
				r, err := c.Recv()
				if err != nil {
					return
				}
				m := *r.Msg
				m.Body = bytes.Clone(m.Body)
				closeFDs(r.FDs)
				c.Release(&r)
				p.got(&m)
			}
		}()
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := classic.Dial(ctx, b.Address, classic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p.unique, p.next, p.close = c.UniqueName(), c.NextSerial, c.Close
	p.send = func(m *wire.Message) error { return c.Send(m, nil) }
	go func() {
		for {
			r, err := c.Recv()
			if err != nil {
				return
			}
			closeFDs(r.FDs)
			p.got(r.Msg)
		}
	}()
	return p
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		os.NewFile(uintptr(fd), "").Close()
	}
}

// got files a received message.
func (p *rawPeer) got(m *wire.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case m.Type == wire.MethodReturn || m.Type == wire.Error:
		if ch := p.replies[m.ReplySerial]; ch != nil {
			ch <- m
		}
	case m.Type == wire.Signal && m.Interface == callIface && m.Member == "Metadata" && len(m.Body) >= 8:
		var d wire.Decoder
		d.Reset(m.Body, m.Order)
		if serial := d.Uint32(); d.Uint32() == 0 {
			p.headers[serial] = true
		}
	case m.Type == wire.Signal && m.Interface == callIface && m.Member == "Data" && m.Signature == "uua(ay)":
		vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if err != nil {
			return
		}
		serial := vals[0].(uint32)
		p.data[serial] += int64(len(m.Body))
		if len(m.Body) < 4096 {
			for _, f := range vals[2].([]any) {
				p.frames[serial] = append(p.frames[serial], f.(wire.Struct)[0].([]byte))
			}
		}
	}
}

// served reports whether the stream with that serial has its header, and its reply if it
// ended.
func (p *rawPeer) served(serial uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.headers[serial]
}

// dataFor returns the bytes of Data bodies received for the stream with that serial, and
// its small frames.
func (p *rawPeer) dataFor(serial uint32) (int64, [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data[serial], p.frames[serial]
}

// signal sends a side-channel signal to dest.
func (p *rawPeer) signal(t testing.TB, dest, member string, sig wire.Signature, body []byte) {
	err := p.send(&wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Flags: wire.FlagNoReplyExpected,
		Destination: dest, Path: sinkPath, Interface: callIface, Member: member, Signature: sig, Body: body})
	if err != nil {
		t.Fatalf("sending %s: %v", member, err)
	}
}

// call sends a method call to the sink and returns where its reply will come.
func (p *rawPeer) call(t testing.TB, serial uint32, member string, sig wire.Signature, body []byte) <-chan *wire.Message {
	return p.callTo(t, &wire.Message{Serial: serial, Destination: sinkName, Path: sinkPath, Interface: sinkIface, Member: member, Signature: sig, Body: body})
}

// callTo sends the method call m and returns where its reply will come.
func (p *rawPeer) callTo(t testing.TB, m *wire.Message) <-chan *wire.Message {
	m.Order, m.Type = wire.NativeOrder, wire.MethodCall
	if m.Serial == 0 {
		m.Serial = p.next()
	}
	ch := make(chan *wire.Message, 1)
	p.mu.Lock()
	p.replies[m.Serial] = ch
	p.mu.Unlock()
	member := m.Member
	err := p.send(m)
	if err != nil {
		t.Fatalf("calling %s: %v", member, err)
	}
	return ch
}

// beginBody encodes a Begin for a stream opening with that serial.
func beginBody(serial, window uint32, md map[string]string) []byte {
	e := wire.NewEncoder(nil, wire.NativeOrder)
	e.Uint32(serial)
	e.Uint64(0)
	e.Uint32(1) // opens a stream
	e.Uint32(window)
	a := e.BeginArray(8)
	for k, v := range md {
		e.BeginStruct()
		e.String(k)
		vs := e.BeginArray(4)
		e.String(v)
		e.EndArray(vs)
	}
	e.EndArray(a)
	return e.Bytes()
}

// open opens a stream as a kdbus-go caller does: Begin, then the opening call.
func (p *rawPeer) open(t testing.TB, member string, sig wire.Signature, body []byte, window uint32, md map[string]string) (uint32, <-chan *wire.Message) {
	serial := p.next()
	p.signal(t, sinkName, "Begin", "utuua{sas}", beginBody(serial, window, md))
	return serial, p.call(t, serial, member, sig, body)
}

// dataBody encodes a Data batch of frames of signature ay.
func dataBody(serial, flags uint32, frames ...[]byte) []byte {
	e := wire.NewEncoder(nil, wire.NativeOrder)
	e.Uint32(serial)
	e.Uint32(flags)
	a := e.BeginArray(8)
	for _, f := range frames {
		e.BeginStruct()
		e.ByteArray(f)
	}
	e.EndArray(a)
	return e.Bytes()
}

func u32s(vs ...uint32) []byte {
	e := wire.NewEncoder(nil, wire.NativeOrder)
	for _, v := range vs {
		e.Uint32(v)
	}
	return e.Bytes()
}

// awaitReply waits for a reply, failing the test after limit.
func awaitReply(t testing.TB, what string, ch <-chan *wire.Message, limit time.Duration) *wire.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(limit):
		t.Fatalf("%s: no reply after %v", what, limit)
		return nil
	}
}

// errorName returns the error name of a reply, "" for a method return.
func errorName(m *wire.Message) string {
	if m.Type == wire.Error {
		return m.ErrorName
	}
	return ""
}

// sinkClient connects a well-behaved kdbus-go client of the sink.
func sinkClient(t *testing.T, b *Bus) *runtime.Object {
	return runtime.NewObject(Dial(t, b.Address), &sinkDesc)
}

// echoOnce opens an echo stream, sends one frame and reads it back to the clean end.
func echoOnce(ctx context.Context, o *runtime.Object, payload string) error {
	st, err := sinkMethod.OpenBidiStream(ctx, o)
	if err != nil {
		return err
	}
	if err := st.Send(&blob{B: []byte(payload)}); err != nil {
		return err
	}
	f, err := st.Recv()
	if err != nil {
		return err
	}
	if string(f.B) != payload {
		return fmt.Errorf("echo %q, want %q", f.B, payload)
	}
	st.CloseSend()
	if _, err := st.Recv(); err != io.EOF {
		return fmt.Errorf("after CloseSend: %v, want io.EOF", err)
	}
	return nil
}

// pings measures a bystander's unary calls to the sink.
func pings(o *runtime.Object, n int) Rate {
	var r Rate
	start := time.Now()
	for range n {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := pingMethod.Invoke(ctx, o, &none{})
		cancel()
		if err != nil {
			r.Failed++
		}
		r.Max = max(r.Max, time.Since(t0))
	}
	r.CallsPerSec = float64(n) / time.Since(start).Seconds()
	return r
}

const mb = 1 << 20

// TestStreamWindowOverrun: a caller sends frames far beyond the receive window it was given.
// The server ends the stream with ResourceExhausted once the window is passed, drops the rest,
// and its memory stays bounded by the window, not by what the attacker sends.
func TestStreamWindowOverrun(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			pid := startSink(t, b)
			atk := dialRaw(t, b)
			obj := sinkClient(t, b)
			heap0, rss0 := sinkHeap(t, obj), procRSS(t, pid)
			stop := peaks(t, b, pid)
			serial, reply := atk.open(t, "Sink", "", nil, mb, map[string]string{"mode": "stall"})
			WaitFor(t, "the stream to be served", time.Minute, func() bool { return atk.served(serial) })
			total := Size(64*mb, 512*mb)
			frame := make([]byte, 64<<10)
			for sent := 0; sent < total; sent += 4 * len(frame) {
				atk.signal(t, sinkName, "Data", "uua(ay)", dataBody(serial, 0, frame, frame, frame, frame))
			}
			// The sink has read the whole flood once a call sent after it is answered.
			m := awaitReply(t, "the sink's ping", atk.call(t, atk.next(), "Ping", "", nil), time.Minute)
			if name := errorName(m); name != "" {
				t.Fatalf("ping after the flood: %s", name)
			}
			heap := sinkHeap(t, obj) - heap0
			sinkPeak, busPeak := stop()
			select {
			case m = <-reply:
			default:
				t.Fatalf("the stream still runs after %d MB came beyond its window (sink heap +%d MB)", total/mb, heap/mb)
			}
			if name := errorName(m); name != runtime.ErrorLimitsExceeded {
				t.Fatalf("the stream ended with %q, want %s (ResourceExhausted)", name, runtime.ErrorLimitsExceeded)
			}
			Report(t, "stream window overrun", kind, Figures{RSS: busPeak,
				Note: fmt.Sprintf("%d MB sent at a 1 MB window: sink heap %+.1f MB, RSS peak +%.1f MB", total/mb, float64(heap)/1e6, float64(sinkPeak-rss0)/1e6)})
			if heap > 8*mb {
				t.Fatalf("the sink keeps %d MB more after %d MB came beyond a 1 MB window", heap/mb, total/mb)
			}
			if err := echoOnce(ctxFor(t, 30*time.Second), obj, "after"); err != nil {
				t.Fatalf("a well-behaved stream after the attack: %v", err)
			}
		})
	}
}

// TestStreamBeginFlood: a caller sends Begins with large metadata and never the calls they
// announce. The table that keeps Begins stays bounded, and a bystander opening streams during
// the flood is served.
func TestStreamBeginFlood(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			pid := startSink(t, b)
			atk := dialRaw(t, b)
			by := sinkClient(t, b)
			if err := echoOnce(ctxFor(t, 30*time.Second), by, "warm"); err != nil {
				t.Fatal(err)
			}
			heap0, rss0 := sinkHeap(t, by), procRSS(t, pid)
			stop := peaks(t, b, pid)
			n := Size(20000, 200000)
			md := map[string]string{"k": strings.Repeat("m", 8<<10)}
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				for i := range n {
					atk.signal(t, sinkName, "Begin", "utuua{sas}", beginBody(uint32(0x40000000+i), mb, md))
				}
			}()
			var opened, failed int
			var firstErr error
			for done := false; !done || opened+failed < 20; {
				select {
				case <-flooded:
					done = true
				default:
				}
				if err := echoOnce(ctxFor(t, 30*time.Second), by, "bystander"); err != nil {
					failed++
					firstErr = cmpErr(firstErr, err)
				} else {
					opened++
				}
			}
			// The sink has read the whole flood once a call sent after it is answered.
			if _, err := pingMethod.Invoke(ctxFor(t, 30*time.Second), runtime.NewObject(Dial(t, b.Address), &sinkDesc), &none{}); err != nil {
				t.Fatal(err)
			}
			heap := sinkHeap(t, by) - heap0
			sinkPeak, busPeak := stop()
			Report(t, "stream Begin flood", kind, Figures{RSS: busPeak,
				Note: fmt.Sprintf("%d Begins of 8 KB: sink heap %+.1f MB, RSS peak +%.1f MB; bystander streams %d ok, %d failed", n, float64(heap)/1e6, float64(sinkPeak-rss0)/1e6, opened, failed)})
			if failed > 0 {
				t.Fatalf("%d of the bystander's %d streams failed during the flood: %v", failed, opened+failed, firstErr)
			}
			if heap > 4*mb {
				t.Fatalf("the sink keeps %d MB more after %d Begins without calls", heap/mb, n)
			}
		})
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// TestStreamForgedSideMessages: a third connection sends Data, Credit and Cancel for every
// serial a real caller may be using, to the server (as if from the caller) and to the caller
// (as if from the server). The bus vouches for every sender, so all of it is ignored: the
// real stream carries exactly its own frames to a clean end.
func TestStreamForgedSideMessages(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			startSink(t, b)
			cc := Dial(t, b.Address)
			real := runtime.NewObject(cc, &sinkDesc) // opened to the well-known name
			forger := dialRaw(t, b)
			ctx := runtime.AppendMetadata(ctxFor(t, time.Minute), "mode", "quiet")
			// The server says nothing before the caller's first frame: until then, the caller
			// has heard from nobody for the stream.
			st, err := sinkMethod.OpenBidiStream(ctx, real)
			if err != nil {
				t.Fatal(err)
			}
			const serials = 2000
			for s := uint32(1); s <= serials; s++ {
				// To the server, as the caller: frames that would be echoed, credit, a
				// half-close and a cancellation.
				forger.signal(t, sinkName, "Data", "uua(ay)", dataBody(s, 1, []byte("forged")))
				forger.signal(t, sinkName, "Credit", "uuu", u32s(s, 0, 1<<30))
				forger.signal(t, sinkName, "Cancel", "u", u32s(s))
				// To the caller, as the server: a header, frames, and a half-close.
				forger.signal(t, cc.UniqueName(), "Metadata", "uua{sas}", append(u32s(s, 0), 0, 0, 0, 0, 0, 0, 0, 0))
				forger.signal(t, cc.UniqueName(), "Data", "uua(ay)", dataBody(s, 2|1, []byte("forged")))
			}
			// Both have read the forger's messages once they answer these calls.
			for _, ch := range []<-chan *wire.Message{
				forger.call(t, forger.next(), "Ping", "", nil),
				forger.callTo(t, &wire.Message{Destination: cc.UniqueName(), Path: "/", Interface: "org.freedesktop.DBus.Peer", Member: "Ping"}),
			} {
				if name := errorName(awaitReply(t, "the forger's ping", ch, 30*time.Second)); name != "" {
					t.Fatalf("the forger's ping: %s", name)
				}
			}
			for i := range 100 {
				want := fmt.Sprintf("frame %d", i)
				if err := st.Send(&blob{B: []byte(want)}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				f, err := st.Recv()
				if err != nil {
					t.Fatalf("echo %d: %v", i, err)
				}
				if string(f.B) != want {
					t.Fatalf("echo %d is %q: a forged frame was taken", i, f.B)
				}
			}
			st.CloseSend()
			if _, err := st.Recv(); err != io.EOF {
				t.Fatalf("the real stream ended with %v, want io.EOF", err)
			}
			if h, err := st.Header(); err != nil || len(h) != 0 {
				t.Fatalf("the real stream's header is %v (%v): a forged one was taken", h, err)
			}
			Report(t, "stream forged side messages", kind, Figures{Note: fmt.Sprintf("%d serials × 5 forged messages: ignored", serials)})
		})
	}
}

// TestStreamMaxStreams: callers open more streams than a service serves. One caller gets at
// most a quarter of them; beyond MaxStreams everyone is refused; the streams that are open
// keep being served, and so are unary calls; streams free up when their callers leave.
func TestStreamMaxStreams(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			// dbus-daemon's own defaults allow 128 calls awaiting a reply per connection.
			b := Start(t, kind, dbustest.Config{Extra: SessionLimits})
			startSink(t, b)
			perCaller := runtime.MaxStreams / 4
			type opened struct {
				serial uint32
				reply  <-chan *wire.Message
			}
			var atks []*rawPeer
			var streams [][]opened
			for i := range 5 {
				atk := dialRaw(t, b)
				atks = append(atks, atk)
				var mine []opened
				for len(mine) < perCaller {
					chunk := mine[len(mine):]
					for range min(32, perCaller-len(mine)) {
						s, r := atk.open(t, "Sink", "", nil, mb, map[string]string{"mode": "echo"})
						chunk = append(chunk, opened{s, r})
					}
					for _, o := range chunk {
						WaitFor(t, "an opened stream's header", time.Minute, func() bool {
							select {
							case m := <-o.reply:
								t.Fatalf("stream %d of caller %d was refused: %s", len(mine)+1, i, errorName(m))
							default:
							}
							return atk.served(o.serial)
						})
					}
					mine = append(mine, chunk...)
				}
				streams = append(streams, mine)
				if i == 0 {
					// One more than a caller may have.
					_, r := atk.open(t, "Sink", "", nil, mb, nil)
					if name := errorName(awaitReply(t, "the caller's extra stream", r, 30*time.Second)); name != runtime.ErrorLimitsExceeded {
						t.Fatalf("a caller's stream %d was answered with %q, want %s", perCaller+1, name, runtime.ErrorLimitsExceeded)
					}
				}
				if i == 3 {
					break
				}
			}
			// MaxStreams are open now: a fifth caller is refused.
			extra := dialRaw(t, b)
			_, r := extra.open(t, "Sink", "", nil, mb, nil)
			if name := errorName(awaitReply(t, "the stream beyond MaxStreams", r, 30*time.Second)); name != runtime.ErrorLimitsExceeded {
				t.Fatalf("stream %d was answered with %q, want %s", runtime.MaxStreams+1, name, runtime.ErrorLimitsExceeded)
			}
			// The open streams are still served: each caller's first and last echo a frame.
			for i, mine := range streams {
				for _, o := range []opened{mine[0], mine[len(mine)-1]} {
					select {
					case m := <-o.reply:
						t.Fatalf("an open stream of caller %d ended: %v", i, errorName(m))
					default:
					}
					atks[i].signal(t, sinkName, "Data", "uua(ay)", dataBody(o.serial, 0, []byte("still")))
					WaitFor(t, "an open stream's echo", 30*time.Second, func() bool {
						_, frames := atks[i].dataFor(o.serial)
						return len(frames) == 1 && string(frames[0]) == "still"
					})
				}
			}
			by := sinkClient(t, b)
			rate := pings(by, Size(200, 2000))
			if rate.Failed > 0 {
				t.Fatalf("unary calls failed while the streams were taken: %v", rate)
			}
			// A caller leaves: its streams end, and a newcomer's stream is served.
			atks[0].close()
			WaitFor(t, "a stream after a caller left", time.Minute, func() bool {
				return echoOnce(ctxFor(t, 30*time.Second), by, "newcomer") == nil
			})
			Report(t, "stream MaxStreams", kind, Figures{Rate: rate,
				Note: fmt.Sprintf("%d streams from 4 callers: caller's %d+1th and the %d+1th refused", runtime.MaxStreams, perCaller, runtime.MaxStreams)})
		})
	}
}

// TestStreamNeverReads: a caller opens streams whose server sends as fast as it can, and never
// credits what it receives. Each server Send blocks once the caller's window is full, the
// server's memory stays bounded, and a bystander's calls are served meanwhile.
func TestStreamNeverReads(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			b := Start(t, kind, dbustest.Config{})
			pid := startSink(t, b)
			by := sinkClient(t, b)
			calls := Size(500, 5000)
			before := pings(by, calls)
			atk := dialRaw(t, b)
			heap0, rss0 := sinkHeap(t, by), procRSS(t, pid)
			stop := peaks(t, b, pid)
			k := Size(16, 64)
			const window, frame = mb, 64 << 10
			var serials []uint32
			for range k {
				s, _ := atk.open(t, "Spew", "u", u32s(frame), window, nil)
				serials = append(serials, s)
			}
			WaitFor(t, "the servers to fill the windows", time.Minute, func() bool {
				for _, s := range serials {
					if n, _ := atk.dataFor(s); n < window-2*frame {
						return false
					}
				}
				return true
			})
			during := pings(by, calls)
			heap := sinkHeap(t, by) - heap0
			sinkPeak, busPeak := stop()
			for _, s := range serials {
				if n, _ := atk.dataFor(s); n > window+2*frame {
					t.Fatalf("a server sent %d bytes of frames without credit, beyond the window of %d", n, window)
				}
			}
			Report(t, "stream never read", kind, Figures{RSS: busPeak, Rate: during,
				Note: fmt.Sprintf("%d streams at a 1 MB window: sink heap %+.1f MB, RSS peak +%.1f MB; bystander before: %v", k, float64(heap)/1e6, float64(sinkPeak-rss0)/1e6, before)})
			if during.Failed > 0 {
				t.Fatalf("the bystander's calls failed: %v", during)
			}
			if heap > int64(k)*3*mb+8*mb {
				t.Fatalf("the sink holds %d MB more for %d streams nobody reads", heap/mb, k)
			}
		})
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
