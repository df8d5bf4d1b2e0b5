package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// A service with a memfd field, coded as protoc-gen-kdbus codes a bytes field marked
// [(kdbus.v1.field) = { memfd: true }].

type blobMsg struct {
	Data []byte
	N    int64
}

var blobCodec = kdbusimpl.Codec[blobMsg]{
	Sig:    "hx",
	Encode: func(e *wire.Encoder, m *blobMsg) { kdbusimpl.AppendMemfd(e, m.Data); e.Int64(m.N) },
	Decode: func(d *wire.Decoder, m *blobMsg) { m.Data = kdbusimpl.DecodeMemfd(d); m.N = d.Int64() },
}

const blobIface = "org.kdbusgo.Blob"

var blobMethod = UnaryMethod[blobMsg, blobMsg]{Interface: blobIface, Name: "Echo", In: blobCodec, Out: blobCodec}

type blobServer interface {
	Echo(context.Context, *blobMsg) (*blobMsg, error)
}

type blobFunc func(context.Context, *blobMsg) (*blobMsg, error)

func (f blobFunc) Echo(ctx context.Context, m *blobMsg) (*blobMsg, error) { return f(ctx, m) }

var blobDesc = ServiceDesc{
	Interface:   blobIface,
	Path:        "/org/kdbusgo/Blob",
	BusName:     "org.kdbusgo.Blob",
	HandlerType: (*blobServer)(nil),
	Methods: []MethodDesc{blobMethod.Desc(func(srv any, ctx context.Context, req *blobMsg) (*blobMsg, error) {
		return srv.(blobServer).Echo(ctx, req)
	})},
	XML: (&introspect.Interface{Name: blobIface}).XML(),
}

// mapping describes the mapping of this process that holds b, from /proc/self/maps.
func mapping(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) == 0 {
		return ""
	}
	addr := uint64(uintptr(unsafe.Pointer(&b[0])))
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return line
		}
	}
	return ""
}

func TestMemfdPayloads(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		type seen struct {
			where string
			data  []byte
			ok    bool
		}
		got := make(chan seen, 1)
		var keep func()
		srv := dial(t, d)
		impl := blobFunc(func(ctx context.Context, m *blobMsg) (*blobMsg, error) {
			ok := int64(len(m.Data)) == m.N
			for i := 0; ok && i < len(m.Data); i += 4096 {
				ok = m.Data[i] == byte(i/4096)
			}
			if m.N == 42 {
				keep = KeepPayloads(ctx)
			}
			got <- seen{mapping(t, m.Data), m.Data, ok}
			return &blobMsg{Data: m.Data[:len(m.Data)/2], N: int64(len(m.Data) / 2)}, nil
		})
		if err := srv.Register(&blobDesc, impl); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.RequestName(context.Background(), blobDesc.BusName, 0); err != nil {
			t.Fatal(err)
		}
		cli := dial(t, d)
		obj := NewObject(cli, &blobDesc)

		// 64 MiB built in place in a memfd: it travels without a copy.
		const size = 64 << 20
		w, err := memfd.New("payload-test", size)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for i := 0; i < size; i += 4096 {
			w.Bytes()[i] = byte(i / 4096)
		}
		resp, err := blobMethod.Invoke(ctx5s(t), obj, &blobMsg{Data: w.Bytes(), N: size})
		if err != nil {
			t.Fatal(err)
		}
		s := <-got
		if !s.ok {
			t.Fatal("the handler saw other bytes than were sent")
		}
		// The handler read the sender's memfd itself, mapped read-only.
		if f := strings.Fields(s.where); len(f) < 6 || f[1][:2] != "r-" || !strings.Contains(s.where, "memfd:payload-test") {
			t.Fatalf("the handler's payload lives in %q, want a read-only mapping of the sender's memfd", s.where)
		}
		// Once the handler returned, its mapping is gone.
		if where := mapping(t, s.data); strings.Contains(where, "memfd:payload-test") && where == s.where {
			t.Fatalf("the request's mapping outlived the handler: %s", where)
		}
		// The response's payload (copied by the handler into a new memfd: it sent plain
		// bytes) stays mapped until released.
		if len(resp.Data) != size/2 || resp.Data[4096] != 1 {
			t.Fatalf("response of %d bytes", len(resp.Data))
		}
		where := mapping(t, resp.Data)
		if !strings.Contains(where, "memfd:kdbus-payload") {
			t.Fatalf("the response lives in %q, want a memfd mapping", where)
		}
		ReleasePayloads(resp)
		if mapping(t, resp.Data) == where {
			t.Fatal("the response's mapping survived ReleasePayloads")
		}

		// Heap bytes are copied into a memfd once; a handler may keep its payloads.
		heap := bytes.Repeat([]byte{0}, 3*4096)
		heap[4096], heap[8192] = 1, 2
		resp, err = blobMethod.Invoke(ctx5s(t), obj, &blobMsg{Data: heap, N: 42}) // 42: the handler keeps it
		if err != nil {
			t.Fatal(err)
		}
		defer ReleasePayloads(resp)
		s = <-got
		if !bytes.Equal(s.data, heap) {
			t.Fatal("heap payload changed in transit")
		}
		if keep == nil {
			t.Fatal("KeepPayloads was not reached")
		}
		if mapping(t, s.data) != s.where {
			t.Fatal("a kept payload was unmapped when the handler returned")
		}
		keep()
		if mapping(t, s.data) == s.where {
			t.Fatal("releasing a kept payload did not unmap it")
		}
	})
}

func TestUnsealedMemfdIsRefused(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		srv := dial(t, d)
		called := make(chan struct{}, 1)
		if err := srv.Register(&blobDesc, blobFunc(func(context.Context, *blobMsg) (*blobMsg, error) {
			called <- struct{}{}
			return &blobMsg{}, nil
		})); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		unix.Ftruncate(fd, 4096)
		var e wire.Encoder
		e.Reset(nil, wire.NativeOrder)
		e.FD(fd)
		e.Int64(4096)
		cli := dial(t, d)
		_, _, err = cli.Call(ctx5s(t), &wire.Message{
			Order: wire.NativeOrder, Type: wire.MethodCall, Destination: srv.UniqueName(), Path: blobDesc.Path,
			Interface: blobIface, Member: "Echo", Signature: "hx", Body: e.Bytes(),
		}, e.FDs())
		var re *Error
		if !errors.As(err, &re) || re.Code != InvalidArgument || !strings.Contains(re.Message, "seal") {
			t.Fatalf("an unsealed memfd: %v", err)
		}
		select {
		case <-called:
			t.Fatal("the handler ran with an unsealed payload")
		default:
		}
	})
}
