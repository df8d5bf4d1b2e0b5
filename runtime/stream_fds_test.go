package runtime

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
)

// A stream whose frames have two memfd fields, coded as protoc-gen-kdbus codes bytes fields
// marked [(kdbus.v1.field) = { memfd: true }].

type pairMsg struct {
	A, B []byte
	N    int64
}

var pairCodec = kdbusimpl.Codec[pairMsg]{
	Sig: "hhx",
	Encode: func(e *wire.Encoder, m *pairMsg) {
		kdbusimpl.AppendMemfd(e, m.A)
		kdbusimpl.AppendMemfd(e, m.B)
		e.Int64(m.N)
	},
	Decode: func(d *wire.Decoder, m *pairMsg) {
		m.A = kdbusimpl.DecodeMemfd(d)
		m.B = kdbusimpl.DecodeMemfd(d)
		m.N = d.Int64()
	},
}

const pairIface = "org.kdbusgo.PairStream"

var (
	pairChat   = StreamMethod[pairMsg, pairMsg]{Interface: pairIface, Name: "Chat", In: pairCodec, Out: pairCodec, ClientStreams: true, ServerStreams: true}
	pairUpload = StreamMethod[pairMsg, pairMsg]{Interface: pairIface, Name: "Upload", In: pairCodec, Out: pairCodec, ClientStreams: true}
)

type pairServer interface {
	Chat(BidiStreamingServer[pairMsg, pairMsg]) error
	Upload(ClientStreamingServer[pairMsg, pairMsg]) error
}

type pairImpl struct {
	chat   func(BidiStreamingServer[pairMsg, pairMsg]) error
	upload func(ClientStreamingServer[pairMsg, pairMsg]) error
}

func (p *pairImpl) Chat(st BidiStreamingServer[pairMsg, pairMsg]) error { return p.chat(st) }
func (p *pairImpl) Upload(st ClientStreamingServer[pairMsg, pairMsg]) error {
	return p.upload(st)
}

var pairDesc = ServiceDesc{
	Interface:   pairIface,
	Path:        "/org/kdbusgo/PairStream",
	BusName:     "org.kdbusgo.PairStream",
	HandlerType: (*pairServer)(nil),
	Methods: []MethodDesc{
		pairChat.BidiStreamDesc(func(srv any, st BidiStreamingServer[pairMsg, pairMsg]) error {
			return srv.(pairServer).Chat(st)
		}),
		pairUpload.ClientStreamDesc(func(srv any, st ClientStreamingServer[pairMsg, pairMsg]) error {
			return srv.(pairServer).Upload(st)
		}),
	},
	XML: (&introspect.Interface{Name: pairIface}).XML(),
}

// pattern returns n bytes that depend on seed and position.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i/4096)
	}
	return b
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestStreamMemfdFrames(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		const frames = 40 // 80 descriptors: batches must split to stay within a bus's 16
		const size = 3 * 4096
		var pre wire.Encoder // opens the shared empty payload, which stays open
		kdbusimpl.AppendMemfd(&pre, nil)
		if err := pre.Err(); err != nil {
			t.Fatal(err)
		}
		type seen struct {
			a, b     []byte
			where    string
			released bool
		}
		var mu sync.Mutex
		var atServer []seen
		srv := dial(t, d)
		impl := &pairImpl{
			chat: func(st BidiStreamingServer[pairMsg, pairMsg]) error {
				for i := 0; ; i++ {
					f, err := st.Recv()
					if err == io.EOF {
						return nil
					}
					if err != nil {
						return err
					}
					if !bytes.Equal(f.A, pattern(byte(f.N), size)) || !bytes.Equal(f.B, pattern(byte(f.N)+100, size/3)) {
						return Errorf(DataLoss, "frame %d arrived changed", f.N)
					}
					// The echo sends the mappings as plain bytes: copied into new memfds.
					if err := st.Send(&pairMsg{A: f.A, B: f.B, N: f.N}); err != nil {
						return err
					}
					s := seen{a: f.A, b: f.B, where: mapping(t, f.A)}
					if i%2 == 0 {
						ReleasePayloads(f) // the others are unmapped when the handler returns
						s.released = true
					}
					mu.Lock()
					atServer = append(atServer, s)
					mu.Unlock()
				}
			},
			upload: func(st ClientStreamingServer[pairMsg, pairMsg]) error {
				var n int64
				for {
					f, err := st.Recv()
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
					if !bytes.Equal(f.A, pattern(byte(f.N), size)) {
						return Errorf(DataLoss, "frame %d arrived changed", f.N)
					}
					n++
				}
				// The response carries payloads in the opening call's reply.
				return st.SendAndClose(&pairMsg{A: pattern(7, size), B: []byte("sum"), N: n})
			},
		}
		if err := srv.Register(&pairDesc, impl); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.RequestName(context.Background(), pairDesc.BusName, 0); err != nil {
			t.Fatal(err)
		}
		cli := dial(t, d)
		obj := NewObject(cli, &pairDesc)
		ctx := ctxFor(t, 30*time.Second)
		// A first stream sets up what stays (a lane between native peers) before counting.
		warm, err := pairChat.OpenBidiStream(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		if err := warm.Send(&pairMsg{A: pattern(0, size), B: pattern(100, size/3)}); err != nil {
			t.Fatal(err)
		}
		warm.CloseSend()
		for {
			f, err := warm.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ReleasePayloads(f)
		}
		mu.Lock()
		atServer = nil
		mu.Unlock()
		before := openFDs(t)

		st, err := pairChat.OpenBidiStream(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		var writers []*memfd.Writer
		for i := range frames {
			a := pattern(byte(i), size)
			if i%3 == 0 {
				// Built in a memfd: sealed in place, sent without a copy; closing the
				// Writer right after Send is fine.
				w, err := memfd.New("stream-frame", size)
				if err != nil {
					t.Fatal(err)
				}
				copy(w.Bytes(), a)
				a = w.Bytes()
				writers = append(writers, w)
			}
			if err := st.Send(&pairMsg{A: a, B: pattern(byte(i)+100, size/3), N: int64(i)}); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				writers[len(writers)-1].Close()
			}
		}
		st.CloseSend()
		var echoes []*pairMsg
		for {
			f, err := st.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			echoes = append(echoes, f)
		}
		if len(echoes) != frames {
			t.Fatalf("%d echoes, want %d", len(echoes), frames)
		}
		for i, f := range echoes {
			if f.N != int64(i) || !bytes.Equal(f.A, pattern(byte(i), size)) || !bytes.Equal(f.B, pattern(byte(i)+100, size/3)) {
				t.Fatalf("echo %d (N=%d) changed in transit", i, f.N)
			}
			where := mapping(t, f.A)
			if fl := strings.Fields(where); len(fl) < 6 || fl[1][:2] != "r-" || !strings.Contains(where, "memfd:") {
				t.Fatalf("echo %d lives in %q, want a read-only memfd mapping", i, where)
			}
			ReleasePayloads(f)
			if mapping(t, f.A) == where {
				t.Fatalf("echo %d stayed mapped after ReleasePayloads", i)
			}
		}
		// The server's frames: all unmapped once its handler returned (it had, before the
		// reply that ended the stream), released or not.
		mu.Lock()
		if len(atServer) != frames {
			t.Fatalf("the server saw %d frames, want %d", len(atServer), frames)
		}
		for i, s := range atServer {
			if !strings.Contains(s.where, "memfd:") {
				t.Fatalf("server frame %d lived in %q, want a memfd mapping", i, s.where)
			}
			if mapping(t, s.a) == s.where {
				t.Fatalf("server frame %d (released by the handler: %v) stayed mapped after the handler returned", i, s.released)
			}
		}
		mu.Unlock()

		// A client-streaming rpc whose response carries payloads.
		up, err := pairUpload.OpenClientStream(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := up.Send(&pairMsg{A: pattern(byte(i), size), B: []byte{1}, N: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := up.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if resp.N != 20 || !bytes.Equal(resp.A, pattern(7, size)) || string(resp.B) != "sum" {
			t.Fatalf("response N=%d, %d bytes, %q", resp.N, len(resp.A), resp.B)
		}
		ReleasePayloads(resp)

		// Every descriptor the streams used is closed again.
		for start := time.Now(); openFDs(t) > before; time.Sleep(time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				ents, _ := os.ReadDir("/proc/self/fd")
				var open []string
				for _, e := range ents {
					l, _ := os.Readlink("/proc/self/fd/" + e.Name())
					open = append(open, e.Name()+"="+l)
				}
				t.Fatalf("%d descriptors open after the streams, %d before: %v", openFDs(t), before, open)
			}
		}
	})
}

// A frame carries at most what a bus accepts in one message.
func TestStreamFrameTooManyFDs(t *testing.T) {
	d := bustest.Start(t, bustest.DBusDaemon, dbustest.Config{})
	srv := dial(t, d)
	impl := &pairImpl{chat: func(st BidiStreamingServer[pairMsg, pairMsg]) error {
		_, err := st.Recv()
		return err
	}}
	if err := srv.Register(&pairDesc, impl); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.RequestName(context.Background(), pairDesc.BusName, 0); err != nil {
		t.Fatal(err)
	}
	many := StreamMethod[[][]byte, pairMsg]{Interface: pairIface, Name: "Chat", ClientStreams: true, ServerStreams: true,
		In: kdbusimpl.Codec[[][]byte]{Sig: "hhx", Encode: func(e *wire.Encoder, m *[][]byte) {
			for _, b := range *m {
				kdbusimpl.AppendMemfd(e, b)
			}
		}},
		Out: pairCodec}
	st, err := many.OpenBidiStream(ctxFor(t, 10*time.Second), NewObject(dial(t, d), &pairDesc))
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for i := range maxMessageFDs + 1 {
		payloads = append(payloads, []byte{byte(i)})
	}
	if err := st.Send(&payloads); CodeOf(err) != ResourceExhausted {
		t.Fatalf("a frame of %d descriptors: %v, want ResourceExhausted", len(payloads), err)
	}
}

func TestShiftFDs(t *testing.T) {
	types, err := wire.ParseSignature("(hs)a{sh}vah")
	if err != nil {
		t.Fatal(err)
	}
	e := wire.NewEncoder(nil, wire.LittleEndian)
	e.BeginStruct()
	e.UnixFD(0)
	e.String("x")
	a := e.BeginArray(8)
	e.BeginStruct()
	e.String("k")
	e.UnixFD(1)
	e.EndArray(a)
	e.Variant("h")
	e.UnixFD(2)
	a = e.BeginArray(4)
	e.UnixFD(3)
	e.UnixFD(4)
	e.EndArray(a)
	frame := e.Bytes()
	if err := shiftFDs(frame, wire.LittleEndian, types, 10); err != nil {
		t.Fatal(err)
	}
	vals, err := wire.Unmarshal(frame, wire.LittleEndian, "(hs)a{sh}vah")
	if err != nil {
		t.Fatal(err)
	}
	got := []wire.UnixFD{
		vals[0].(wire.Struct)[0].(wire.UnixFD),
		vals[1].([]wire.DictEntry)[0].Value.(wire.UnixFD),
		vals[2].(wire.Variant).Value.(wire.UnixFD),
		vals[3].([]any)[0].(wire.UnixFD),
		vals[3].([]any)[1].(wire.UnixFD),
	}
	for i, v := range got {
		if v != wire.UnixFD(10+i) {
			t.Fatalf("h value %d is %d after the shift, want %d", i, v, 10+i)
		}
	}
}

// FuzzShiftFDs checks that shifting descriptor indexes never panics nor writes outside the
// frame, whatever the bytes.
func FuzzShiftFDs(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 'x', 0, 0, 0}, "(hs)")
	f.Add([]byte{1, 'h', 0, 0, 5, 0, 0, 0}, "v")
	f.Add([]byte{8, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0}, "ah")
	f.Fuzz(func(t *testing.T, frame []byte, sig string) {
		types, err := wire.ParseSignature(sig)
		if err != nil {
			return
		}
		guard := append(bytes.Clone(frame), 0xAA, 0xBB)
		shiftFDs(guard[:len(frame):len(frame)], wire.LittleEndian, types, 3)
		if guard[len(frame)] != 0xAA || guard[len(frame)+1] != 0xBB {
			t.Fatal("shiftFDs wrote past the frame")
		}
	})
}

// BenchmarkServerStreamMemfd1MiB streams frames carrying a 1 MiB memfd payload (the same
// sealed memfd each time: no copy at all) and reports frames and bytes per second.
func BenchmarkServerStreamMemfd1MiB(b *testing.B) {
	const size = 1 << 20
	for _, kind := range bustest.Kinds {
		b.Run(kind, func(b *testing.B) {
			d := bustest.Start(b, kind, dbustest.Config{})
			w, err := memfd.New("bench-frame", size)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			srv := dialB(b, d)
			impl := &pairImpl{chat: func(st BidiStreamingServer[pairMsg, pairMsg]) error {
				req, err := st.Recv()
				if err != nil {
					return err
				}
				f := &pairMsg{A: w.Bytes(), B: []byte{1}}
				for range req.N {
					if err := st.Send(f); err != nil {
						return err
					}
				}
				return nil
			}}
			if err := srv.Register(&pairDesc, impl); err != nil {
				b.Fatal(err)
			}
			if _, err := srv.RequestName(context.Background(), pairDesc.BusName, 0); err != nil {
				b.Fatal(err)
			}
			obj := NewObject(dialB(b, d), &pairDesc)
			b.SetBytes(size)
			b.ResetTimer()
			st, err := pairChat.OpenBidiStream(ctxFor(b, 10*time.Minute), obj)
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Send(&pairMsg{A: []byte{0}, B: []byte{0}, N: int64(b.N)}); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				f, err := st.Recv()
				if err != nil {
					b.Fatal(err)
				}
				if len(f.A) != size {
					b.Fatalf("a payload of %d bytes", len(f.A))
				}
				ReleasePayloads(f)
			}
			if _, err := st.Recv(); err != io.EOF {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
