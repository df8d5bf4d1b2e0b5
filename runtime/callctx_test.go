package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/wire"
)

// near reports whether two deadlines are within the tolerance that sending and clocks allow.
func near(a, b time.Time) bool { d := a.Sub(b); return d < time.Second && d > -time.Second }

func TestHandlerGetsTheCallersDeadline(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		got := make(chan time.Time, 2)
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			dl, _ := ctx.Deadline()
			got <- dl
			return m, nil
		}})
		serveStreams(t, d, &streamImpl{watch: func(_ *echoMsg, st ServerStreamingServer[frameMsg]) error {
			dl, _ := st.Context().Deadline()
			got <- dl
			return nil
		}})
		cli := dial(t, d)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		want, _ := ctx.Deadline()
		if _, err := echoMethod.Invoke(ctx, NewObject(cli, &testDesc), &echoMsg{}); err != nil {
			t.Fatal(err)
		}
		if dl := <-got; !near(dl, want) {
			t.Fatalf("unary handler's deadline %v, caller's %v", dl, want)
		}
		st, err := watchMethod.OpenServerStream(ctx, NewObject(cli, &streamDesc_), &echoMsg{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != io.EOF {
			t.Fatal(err)
		}
		if dl := <-got; !near(dl, want) {
			t.Fatalf("stream handler's deadline %v, caller's %v", dl, want)
		}
		// Without a deadline, none.
		if _, err := echoMethod.Invoke(context.Background(), NewObject(cli, &testDesc), &echoMsg{}); err != nil {
			t.Fatal(err)
		}
		if dl := <-got; !dl.IsZero() {
			t.Fatalf("a call without a deadline reached the handler with %v", dl)
		}
	})
}

// blocker is a unary handler that waits for its context to end and reports why.
func blocker(started chan<- struct{}, ended chan<- error) func(context.Context, *echoMsg) (*echoMsg, error) {
	return func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
		started <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}
}

func TestHandlerCancelledWithItsCaller(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		started, ended := make(chan struct{}, 1), make(chan error, 1)
		serve(t, d, &impl{echo: blocker(started, ended)})
		watchStarted, watchEnded := make(chan struct{}, 1), make(chan error, 1)
		serveStreams(t, d, &streamImpl{watch: func(_ *echoMsg, st ServerStreamingServer[frameMsg]) error {
			watchStarted <- struct{}{}
			<-st.Context().Done()
			err := st.Send(&frameMsg{})
			watchEnded <- err
			return err
		}})
		bound := ctxFor(t, 20*time.Second)
		wait := func(what string, ch <-chan struct{}) {
			t.Helper()
			select {
			case <-ch:
			case <-bound.Done():
				t.Fatalf("%s: not so", what)
			}
		}
		waitErr := func(what string, ch <-chan error) error {
			t.Helper()
			select {
			case err := <-ch:
				return err
			case <-bound.Done():
				t.Fatalf("%s: not so", what)
			}
			return nil
		}

		// The caller cancels a unary call.
		cli := dial(t, d)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { _, err := echoMethod.Invoke(ctx, NewObject(cli, &testDesc), &echoMsg{}); errc <- err }()
		wait("the handler starts", started)
		cancel()
		if err := waitErr("the handler's context ends", ended); err != context.Canceled {
			t.Fatalf("handler's context: %v", err)
		}
		if err := <-errc; CodeOf(err) != Canceled {
			t.Fatalf("caller: %v", err)
		}

		// The caller's connection goes away in the middle of a unary call.
		gone := dial(t, d)
		go echoMethod.Invoke(context.Background(), NewObject(gone, &testDesc), &echoMsg{})
		wait("the handler starts", started)
		gone.Close()
		if err := waitErr("the handler's context ends when its caller leaves", ended); err != context.Canceled {
			t.Fatalf("handler's context: %v", err)
		}

		// The caller cancels a stream.
		ctx, cancel = context.WithCancel(context.Background())
		st, err := watchMethod.OpenServerStream(ctx, NewObject(cli, &streamDesc_), &echoMsg{})
		if err != nil {
			t.Fatal(err)
		}
		wait("the stream handler starts", watchStarted)
		cancel()
		if err := waitErr("the stream's context ends", watchEnded); CodeOf(err) != Canceled {
			t.Fatalf("the server's Send after the caller cancelled: %v", err)
		}
		if _, err := st.Recv(); CodeOf(err) != Canceled || !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller's Recv after cancelling: %v", err)
		}

		// The caller's connection goes away in the middle of a stream.
		gone = dial(t, d)
		if _, err := watchMethod.OpenServerStream(context.Background(), NewObject(gone, &streamDesc_), &echoMsg{}); err != nil {
			t.Fatal(err)
		}
		wait("the stream handler starts", watchStarted)
		gone.Close()
		if err := waitErr("the stream's context ends when its caller leaves", watchEnded); CodeOf(err) != Canceled {
			t.Fatalf("the server's Send after the caller left: %v", err)
		}
	})
}

// The server ends a stream: with an error, the caller's Send returns io.EOF and Recv the error.
func TestStreamServerEndsIt(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serveStreams(t, d, &streamImpl{chat: func(st BidiStreamingServer[frameMsg, frameMsg]) error {
			if _, err := st.Recv(); err != nil {
				return err
			}
			return Errorf(PermissionDenied, "no chatting")
		}})
		st, err := chatMethod.OpenBidiStream(ctxFor(t, 20*time.Second), NewObject(dial(t, d), &streamDesc_))
		if err != nil {
			t.Fatal(err)
		}
		for {
			if err := st.Send(&frameMsg{}); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("Send: %v, want nil or io.EOF", err)
			}
		}
		if _, err := st.Recv(); CodeOf(err) != PermissionDenied || !strings.Contains(err.Error(), "no chatting") {
			t.Fatalf("Recv: %v", err)
		}
	})
}

// A server that dies in the middle of a stream ends it at once with Unavailable.
func TestStreamServerDies(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		started := make(chan struct{}, 1)
		srv := serveStreams(t, d, &streamImpl{watch: func(_ *echoMsg, st ServerStreamingServer[frameMsg]) error {
			st.Send(&frameMsg{Seq: 7})
			started <- struct{}{}
			<-st.Context().Done()
			return nil
		}})
		st, err := watchMethod.OpenServerStream(ctxFor(t, 60*time.Second), NewObject(dial(t, d), &streamDesc_), &echoMsg{})
		if err != nil {
			t.Fatal(err)
		}
		<-started
		srv.Close()
		// The frame may or may not have left before the server's end.
		f, err := st.Recv()
		if err == nil && f.Seq == 7 {
			f, err = st.Recv()
		}
		if CodeOf(err) != Unavailable {
			t.Fatalf("Recv after the server died: %+v, %v; want Unavailable", f, err)
		}
	})
}

func TestStreamDeadline(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		ended := make(chan error, 1)
		serveStreams(t, d, &streamImpl{watch: func(_ *echoMsg, st ServerStreamingServer[frameMsg]) error {
			<-st.Context().Done()
			ended <- st.Context().Err()
			return nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		st, err := watchMethod.OpenServerStream(ctx, NewObject(dial(t, d), &streamDesc_), &echoMsg{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); CodeOf(err) != DeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv past the deadline: %v", err)
		}
		if err := <-ended; err != context.DeadlineExceeded {
			t.Fatalf("the handler's context: %v", err)
		}
	})
}

func TestMetadataBothWays(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{echo: func(ctx context.Context, m *echoMsg) (*echoMsg, error) {
			md := MetadataFrom(ctx)
			if err := SetHeader(ctx, NewMetadata("h", "1", "req", strings.Join(md.Get("token"), ","))); err != nil {
				return nil, err
			}
			if err := SetTrailer(ctx, NewMetadata("t", "2")); err != nil {
				return nil, err
			}
			return m, nil
		}})
		serveStreams(t, d, &streamImpl{chat: func(st BidiStreamingServer[frameMsg, frameMsg]) error {
			md := MetadataFrom(st.Context())
			if err := st.SendHeader(NewMetadata("sh", md.Get("token")[0])); err != nil {
				return err
			}
			st.SetTrailer(NewMetadata("st", "done"))
			if _, err := st.Recv(); err != io.EOF {
				return Errorf(Internal, "Recv: %v", err)
			}
			return nil
		}})
		cli := dial(t, d)
		ctx := AppendMetadata(ctxFor(t, 20*time.Second), "Token", "abc", "token", "def")
		var header, trailer Metadata
		if _, err := echoMethod.Invoke(ctx, NewObject(cli, &testDesc), &echoMsg{}, Header(&header), Trailer(&trailer)); err != nil {
			t.Fatal(err)
		}
		if header.Get("h")[0] != "1" || header.Get("req")[0] != "abc,def" || trailer.Get("t")[0] != "2" {
			t.Fatalf("unary: header %v, trailer %v", header, trailer)
		}
		st, err := chatMethod.OpenBidiStream(ctx, NewObject(cli, &streamDesc_))
		if err != nil {
			t.Fatal(err)
		}
		h, err := st.Header()
		if err != nil || len(h.Get("sh")) != 1 || h.Get("sh")[0] != "abc" {
			t.Fatalf("stream header %v, %v", h, err)
		}
		st.CloseSend()
		if _, err := st.Recv(); err != io.EOF {
			t.Fatal(err)
		}
		if tr := st.Trailer(); len(tr.Get("st")) != 1 {
			t.Fatalf("stream trailer %v", tr)
		}
	})
}

func TestStreamInterceptorsRunOncePerStream(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		var mu sync.Mutex
		var order []string
		record := func(name string) { mu.Lock(); order = append(order, name); mu.Unlock() }
		var served, opened atomic.Int32
		sic := func(name string) StreamServerInterceptor {
			return func(srv any, st ServerStream, info *MethodInfo, h StreamHandler) error {
				if info.Kind != KindStream || info.Member != "Chat" || !info.ClientStreams || !info.ServerStreams {
					return Errorf(Internal, "server interceptor saw %+v", info)
				}
				record(name)
				served.Add(1)
				return h(srv, st)
			}
		}
		serveStreams(t, d, &streamImpl{}, WithStreamServerInterceptor(sic("s1")), WithStreamServerInterceptor(sic("s2")))
		cic := func(name string) StreamClientInterceptor {
			return func(ctx context.Context, info *MethodInfo, streamer Streamer) (ClientStream, error) {
				record(name)
				opened.Add(1)
				return streamer(ctx, info)
			}
		}
		cli := dial(t, d, WithStreamClientInterceptor(cic("c1")), WithStreamClientInterceptor(cic("c2")))
		for range 3 {
			mu.Lock()
			order = order[:0]
			mu.Unlock()
			st, err := chatMethod.OpenBidiStream(ctxFor(t, 20*time.Second), NewObject(cli, &streamDesc_))
			if err != nil {
				t.Fatal(err)
			}
			for i := range uint32(5) {
				st.Send(&frameMsg{Seq: i})
				if _, err := st.Recv(); err != nil {
					t.Fatal(err)
				}
			}
			st.CloseSend()
			if _, err := st.Recv(); err != io.EOF {
				t.Fatal(err)
			}
			mu.Lock()
			got := strings.Join(order, " ")
			mu.Unlock()
			if got != "c1 c2 s1 s2" {
				t.Fatalf("interceptors ran as %q", got)
			}
		}
		if served.Load() != 6 || opened.Load() != 6 {
			t.Fatalf("server interceptors ran %d times, client ones %d; want 6 each", served.Load(), opened.Load())
		}
	})
}

// busctl cannot open a stream: the call gets an error that says what the method is.
func TestStreamCalledByBusctl(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serveStreams(t, d, &streamImpl{})
		out, err := exec.Command("busctl", "--address="+d.ClassicAddress, "call", streamDesc_.BusName,
			string(streamDesc_.Path), streamIface, "Watch", "si", "x", "1").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "server-streaming rpc") || !strings.Contains(string(out), "Watch") {
			t.Fatalf("busctl: %v\n%s", err, out)
		}
	})
}

// The side channel's decoders take any bytes.
func FuzzBegin(f *testing.F) {
	e := wire.NewEncoder(nil, wire.LittleEndian)
	e.Uint32(7)
	e.Uint64(1500)
	e.Uint32(beginStream)
	e.Uint32(1 << 20)
	encodeMetadata(e, NewMetadata("k", "v", "k", "w"))
	f.Add(e.Bytes(), false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, body []byte, big bool) {
		order := wire.LittleEndian
		if big {
			order = wire.BigEndian
		}
		b, err := decodeBegin(body, order, time.Now())
		if err == nil && len(b.md) > maxMetadataKeys {
			t.Fatalf("%d keys", len(b.md))
		}
	})
}

func FuzzCallMetadata(f *testing.F) {
	e := wire.NewEncoder(nil, wire.LittleEndian)
	e.Uint32(3)
	e.Uint32(metaTrailer)
	encodeMetadata(e, NewMetadata("a", "b"))
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeCallMetadata(body, wire.LittleEndian)
	})
}

func FuzzCredit(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0, 0, 16, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeCredit(body, wire.LittleEndian)
	})
}

// FuzzData feeds a Data body to a stream's receiving end, which decodes its frames.
func FuzzData(f *testing.F) {
	s := newStream(&Conn{}, context.Background(), 1, false, "", "/", frameCodec.Sig, frameCodec.Sig, 1<<20, 1<<20)
	s.writerIdle = false
	for _, frames := range [][]frameMsg{{{Seq: 1, Data: []byte("ab")}, {Seq: 2}}, {}} {
		s.out = s.out[:dataHeader]
		for _, m := range frames {
			s.out = append(s.out, make([]byte, (8-len(s.out)%8)%8)...)
			e := wire.NewEncoder(nil, wire.LittleEndian)
			frameCodec.Encode(e, &m)
			s.out = append(s.out, e.Bytes()...)
		}
		body := append([]byte(nil), s.out...)
		h := wire.NewEncoder(body[:0], wire.LittleEndian)
		h.Uint32(1)
		h.Uint32(dataHalfClose)
		h.Uint32(uint32(len(body) - dataHeader))
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, n, err := decodeDataHeader(body, wire.LittleEndian)
		if err != nil {
			return
		}
		s := newStream(&Conn{}, context.Background(), 1, false, "", "/", frameCodec.Sig, frameCodec.Sig, 1<<30, 1<<30)
		s.queue = []inBatch{{src: inbound{Msg: &wire.Message{Order: wire.LittleEndian, Body: body}}, n: n}}
		s.peerDone = true
		for range len(body) + 1 {
			var m frameMsg
			if err := s.recv(&m, func(d *wire.Decoder, v any) { frameCodec.Decode(d, v.(*frameMsg)) }); err != nil {
				return
			}
		}
		t.Fatalf("more frames than bytes in %x", body)
	})
}

// The Begin table stays within its bounds under a flood from one sender, and a bystander's
// Begin survives it.
func TestBeginTableBounds(t *testing.T) {
	var tb beginTable
	big := Metadata{"k": {strings.Repeat("x", 60<<10)}}
	for i := range uint32(100000) {
		tb.put(":1.flood", &callBegin{serial: i, md: big})
		if i == 50000 {
			tb.put(":1.bystander", &callBegin{serial: 7})
		}
		if tb.n > maxBegins || tb.bytes > maxBeginBytes {
			t.Fatalf("after %d Begins the table holds %d (%d bytes)", i+1, tb.n, tb.bytes)
		}
	}
	if sb := tb.senders[":1.flood"]; sb.n > maxSenderBegins || sb.bytes > maxSenderBeginSize || len(sb.fifo) > 2*sb.n+16 {
		t.Fatalf("the flooder holds %d Begins, %d bytes, %d serials listed", sb.n, sb.bytes, len(sb.fifo))
	}
	if tb.take(callKey{":1.bystander", 7}) == nil {
		t.Fatal("the bystander's Begin was pushed out by another sender's flood")
	}
	// Many senders: the table's own bounds hold, and the biggest sender pays.
	for i := range 10000 {
		tb.put(fmt.Sprintf(":1.%d", i), &callBegin{serial: 1, md: Metadata{"k": {strings.Repeat("y", 4<<10)}}})
		if tb.n > maxBegins || tb.bytes > maxBeginBytes {
			t.Fatalf("after %d senders the table holds %d (%d bytes)", i+1, tb.n, tb.bytes)
		}
	}
	tb.forget(":1.flood")
	if tb.senders[":1.flood"] != nil {
		t.Fatal("forget left the sender's entries")
	}
	n, bytes := 0, 0
	for _, b := range tb.m {
		n++
		bytes += b.size
	}
	if n != tb.n || bytes != tb.bytes {
		t.Fatalf("the table counts %d entries, %d bytes; it holds %d, %d", tb.n, tb.bytes, n, bytes)
	}
}
