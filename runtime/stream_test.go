package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// The streaming test service, written as generated code would be.

type frameMsg struct {
	Seq  uint32
	Data []byte
}

var frameCodec = kdbusimpl.Codec[frameMsg]{
	Sig: "uay",
	Encode: func(e *wire.Encoder, m *frameMsg) {
		e.Uint32(m.Seq)
		e.ByteArray(m.Data)
	},
	Decode: func(d *wire.Decoder, m *frameMsg) {
		m.Seq = d.Uint32()
		m.Data = append([]byte(nil), d.ByteArray()...)
	},
}

type emptyMsg struct{}

var emptyStreamCodec = kdbusimpl.Codec[emptyMsg]{Encode: func(*wire.Encoder, *emptyMsg) {}, Decode: func(*wire.Decoder, *emptyMsg) {}}

const streamIface = "org.kdbusgo.StreamTest"

var (
	watchMethod  = StreamMethod[echoMsg, frameMsg]{Interface: streamIface, Name: "Watch", In: echoCodec, Out: frameCodec, ServerStreams: true}
	uploadMethod = StreamMethod[frameMsg, echoMsg]{Interface: streamIface, Name: "Upload", In: frameCodec, Out: echoCodec, ClientStreams: true}
	chatMethod   = StreamMethod[frameMsg, frameMsg]{Interface: streamIface, Name: "Chat", In: frameCodec, Out: frameCodec, ClientStreams: true, ServerStreams: true}
	ticksMethod  = StreamMethod[emptyMsg, emptyMsg]{Interface: streamIface, Name: "Ticks", In: emptyStreamCodec, Out: emptyStreamCodec, ServerStreams: true}
)

type streamTestServer interface {
	Watch(*echoMsg, ServerStreamingServer[frameMsg]) error
	Upload(ClientStreamingServer[frameMsg, echoMsg]) error
	Chat(BidiStreamingServer[frameMsg, frameMsg]) error
	Ticks(*emptyMsg, ServerStreamingServer[emptyMsg]) error
}

var streamDesc_ = ServiceDesc{
	Interface:   streamIface,
	Path:        "/org/kdbusgo/StreamTest",
	BusName:     "org.kdbusgo.StreamTest",
	HandlerType: (*streamTestServer)(nil),
	Methods: []MethodDesc{
		watchMethod.ServerStreamDesc(func(srv any, req *echoMsg, st ServerStreamingServer[frameMsg]) error {
			return srv.(streamTestServer).Watch(req, st)
		}),
		uploadMethod.ClientStreamDesc(func(srv any, st ClientStreamingServer[frameMsg, echoMsg]) error {
			return srv.(streamTestServer).Upload(st)
		}),
		chatMethod.BidiStreamDesc(func(srv any, st BidiStreamingServer[frameMsg, frameMsg]) error {
			return srv.(streamTestServer).Chat(st)
		}),
		ticksMethod.ServerStreamDesc(func(srv any, req *emptyMsg, st ServerStreamingServer[emptyMsg]) error {
			return srv.(streamTestServer).Ticks(req, st)
		}),
	},
	XML: (&introspect.Interface{Name: streamIface, Methods: []introspect.Method{
		{Name: "Watch", Args: []introspect.Arg{{Name: "text", Type: "s", Direction: "in"}, {Name: "n", Type: "i", Direction: "in"}}},
		{Name: "Upload", Args: []introspect.Arg{{Name: "text", Type: "s", Direction: "out"}, {Name: "n", Type: "i", Direction: "out"}}},
		{Name: "Chat"},
		{Name: "Ticks"},
	}}).XML(),
}

// streamImpl implements streamTestServer with hooks.
type streamImpl struct {
	watch  func(*echoMsg, ServerStreamingServer[frameMsg]) error
	upload func(ClientStreamingServer[frameMsg, echoMsg]) error
	chat   func(BidiStreamingServer[frameMsg, frameMsg]) error
}

// Watch sends req.N frames numbered from 0 by default.
func (s *streamImpl) Watch(req *echoMsg, st ServerStreamingServer[frameMsg]) error {
	if s.watch != nil {
		return s.watch(req, st)
	}
	for i := range uint32(req.N) {
		if err := st.Send(&frameMsg{Seq: i, Data: []byte(req.Text)}); err != nil {
			return err
		}
	}
	return nil
}

// Upload counts the frames and their bytes by default.
func (s *streamImpl) Upload(st ClientStreamingServer[frameMsg, echoMsg]) error {
	if s.upload != nil {
		return s.upload(st)
	}
	var n, size int
	for {
		f, err := st.Recv()
		if err == io.EOF {
			return st.SendAndClose(&echoMsg{Text: fmt.Sprint(size), N: int32(n)})
		}
		if err != nil {
			return err
		}
		if f.Seq != uint32(n) {
			return Errorf(DataLoss, "frame %d came as number %d", f.Seq, n)
		}
		n++
		size += len(f.Data)
	}
}

// Chat echoes each frame by default.
func (s *streamImpl) Chat(st BidiStreamingServer[frameMsg, frameMsg]) error {
	if s.chat != nil {
		return s.chat(st)
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

// Ticks sends three empty messages.
func (s *streamImpl) Ticks(_ *emptyMsg, st ServerStreamingServer[emptyMsg]) error {
	for range 3 {
		if err := st.Send(&emptyMsg{}); err != nil {
			return err
		}
	}
	return nil
}

func serveStreams(t testing.TB, d *bustest.Bus, s *streamImpl, opts ...Option) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, d.Address, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Register(&streamDesc_, s); err != nil {
		t.Fatal(err)
	}
	if r, err := c.RequestName(ctx, streamDesc_.BusName, 0); err != nil || r != NamePrimaryOwner {
		t.Fatalf("RequestName: %v, %v", r, err)
	}
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestStreamShapes(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serveStreams(t, d, &streamImpl{})
		obj := NewObject(dial(t, d), &streamDesc_)
		ctx := ctxFor(t, 20*time.Second)

		t.Run("server", func(t *testing.T) {
			st, err := watchMethod.OpenServerStream(ctx, obj, &echoMsg{Text: "x", N: 5})
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint32(5) {
				f, err := st.Recv()
				if err != nil || f.Seq != i || string(f.Data) != "x" {
					t.Fatalf("frame %d: %+v, %v", i, f, err)
				}
			}
			if _, err := st.Recv(); err != io.EOF {
				t.Fatalf("after the frames: %v, want io.EOF", err)
			}
		})
		t.Run("client", func(t *testing.T) {
			st, err := uploadMethod.OpenClientStream(ctx, obj)
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint32(100) {
				if err := st.Send(&frameMsg{Seq: i, Data: make([]byte, 10)}); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := st.CloseAndRecv()
			if err != nil || resp.N != 100 || resp.Text != "1000" {
				t.Fatalf("CloseAndRecv = %+v, %v", resp, err)
			}
		})
		t.Run("bidi", func(t *testing.T) {
			st, err := chatMethod.OpenBidiStream(ctx, obj)
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint32(10) {
				if err := st.Send(&frameMsg{Seq: i, Data: []byte("hi")}); err != nil {
					t.Fatal(err)
				}
				f, err := st.Recv()
				if err != nil || f.Seq != i {
					t.Fatalf("echo %d: %+v, %v", i, f, err)
				}
			}
			st.CloseSend()
			if _, err := st.Recv(); err != io.EOF {
				t.Fatalf("after CloseSend: %v, want io.EOF", err)
			}
		})
		t.Run("empty messages", func(t *testing.T) {
			st, err := ticksMethod.OpenServerStream(ctx, obj, &emptyMsg{})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err := st.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 3 {
				t.Fatalf("got %d ticks, want 3", n)
			}
		})
	})
}

// servedStream returns the stream c serves, once there is exactly one.
func servedStream(t *testing.T, c *Conn) *stream {
	t.Helper()
	var s *stream
	waitFor(t, "the served stream", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, sc := range c.served {
			if sc.stream != nil {
				s = sc.stream
			}
		}
		return s != nil
	})
	return s
}

func clientStreamOf(cs ClientStream) *stream {
	return cs.(*typedClient[echoMsg, frameMsg]).ClientStream.(*clientStream).s
}

func TestStreamTenThousandFramesInOrder(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serveStreams(t, d, &streamImpl{})
		obj := NewObject(dial(t, d), &streamDesc_)
		ctx := ctxFor(t, 60*time.Second)
		const n = 10000
		st, err := watchMethod.OpenServerStream(ctx, obj, &echoMsg{Text: "frame", N: n})
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint32(n) {
			f, err := st.Recv()
			if err != nil || f.Seq != i {
				t.Fatalf("frame %d: %+v, %v", i, f, err)
			}
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatalf("after %d frames: %v", n, err)
		}
		up, err := uploadMethod.OpenClientStream(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint32(n) {
			if err := up.Send(&frameMsg{Seq: i, Data: []byte("abc")}); err != nil {
				t.Fatal(err)
			}
		}
		if resp, err := up.CloseAndRecv(); err != nil || resp.N != n {
			t.Fatalf("upload: %+v, %v", resp, err)
		}
	})
}

// A reader that does not read makes its sender wait: neither end holds more than the window.
func TestStreamSlowReaderBoundsMemory(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var sent atomic.Int64
		release := make(chan struct{})
		srv := serveStreams(t, d, &streamImpl{
			watch: func(req *echoMsg, st ServerStreamingServer[frameMsg]) error {
				for i := range uint32(req.N) {
					if err := st.Send(&frameMsg{Seq: i, Data: make([]byte, 4096)}); err != nil {
						return err
					}
					sent.Add(1)
				}
				return nil
			},
			upload: func(st ClientStreamingServer[frameMsg, echoMsg]) error {
				<-release
				n := 0
				for {
					if _, err := st.Recv(); err == io.EOF {
						return st.SendAndClose(&echoMsg{N: int32(n)})
					} else if err != nil {
						return err
					}
					n++
				}
			},
		})
		obj := NewObject(dial(t, d), &streamDesc_)
		ctx := ctxFor(t, 60*time.Second)
		const total = 2000 // 8 MiB: eight windows
		st, err := watchMethod.OpenServerStream(ctx, obj, &echoMsg{N: total})
		if err != nil {
			t.Fatal(err)
		}
		ss := servedStream(t, srv)
		waitFor(t, "the server's Send to wait for credit", func() bool {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			return ss.sendWaiters > 0
		})
		cs := clientStreamOf(st)
		ss.mu.Lock()
		used := ss.used
		ss.mu.Unlock()
		cs.mu.Lock()
		queued := cs.received
		cs.mu.Unlock()
		if used > DefaultStreamWindow || queued > DefaultStreamWindow || sent.Load() >= total {
			t.Fatalf("the server has %d bytes outstanding and sent %d frames; the client holds %d bytes (window %d)", used, sent.Load(), queued, DefaultStreamWindow)
		}
		for i := range uint32(total) {
			f, err := st.Recv()
			if err != nil || f.Seq != i {
				t.Fatalf("frame %d: %+v, %v", i, f, err)
			}
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatal(err)
		}

		// The other way: a server that does not read makes the client's Send wait.
		up, err := uploadMethod.OpenClientStream(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		ucs := up.(*typedClient[frameMsg, echoMsg]).ClientStream.(*clientStream).s
		sendDone := make(chan error, 1)
		go func() {
			for i := range uint32(total) {
				if err := up.Send(&frameMsg{Seq: i, Data: make([]byte, 4096)}); err != nil {
					sendDone <- err
					return
				}
			}
			sendDone <- nil
		}()
		waitFor(t, "the client's Send to wait for credit", func() bool {
			ucs.mu.Lock()
			defer ucs.mu.Unlock()
			return ucs.sendWaiters > 0
		})
		ucs.mu.Lock()
		used = ucs.used
		ucs.mu.Unlock()
		if used > DefaultStreamWindow {
			t.Fatalf("the client has %d bytes outstanding (window %d)", used, DefaultStreamWindow)
		}
		close(release)
		if err := <-sendDone; err != nil {
			t.Fatal(err)
		}
		if resp, err := up.CloseAndRecv(); err != nil || resp.N != total {
			t.Fatalf("upload: %+v, %v", resp, err)
		}
	})
}

func TestStreamConcurrent(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serveStreams(t, d, &streamImpl{})
		obj := NewObject(dial(t, d), &streamDesc_)
		ctx := ctxFor(t, 60*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := chatMethod.OpenBidiStream(ctx, obj)
				if err != nil {
					errs <- err
					return
				}
				const n = 500
				go func() {
					for i := range uint32(n) {
						if st.Send(&frameMsg{Seq: i, Data: []byte{byte(g)}}) != nil {
							return
						}
					}
					st.CloseSend()
				}()
				for i := range uint32(n) {
					f, err := st.Recv()
					if err != nil || f.Seq != i || f.Data[0] != byte(g) {
						errs <- fmt.Errorf("stream %d frame %d: %+v, %v", g, i, f, err)
						return
					}
				}
				if _, err := st.Recv(); err != io.EOF {
					errs <- fmt.Errorf("stream %d: %v", g, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
