package scalarspb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"google.golang.org/protobuf/proto"
)

// packer echoes parcels and reports where the payloads it received live.
type packer struct {
	UnimplementedKitchenServer
	seen chan []string
}

func (p *packer) Pack(_ context.Context, req *Parcel) (*Parcel, error) {
	var where []string
	for _, b := range []*Blob{req.GetMain(), req.GetMore()[0], req.GetNamed()["frame"]} {
		where = append(where, mappingOf(b.GetData()), mappingOf(b.GetFrame()))
	}
	p.seen <- where
	return req, nil
}

// mappingOf returns the line of /proc/self/maps that holds b, or "" for empty b or memory
// that is not mapped.
func mappingOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	addr := uint64(uintptr(unsafe.Pointer(&b[0])))
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "reading /proc/self/maps: " + err.Error()
	}
	for line := range strings.SplitSeq(string(maps), "\n") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(line, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return line
		}
	}
	return ""
}

// TestMemfdFieldsOverABus calls the generated Pack through each bus with memfd fields at
// every depth: singular, optional, repeated and oneof members of messages nested in a struct,
// a list and a map, built in a memfd, on the heap, and empty.
func TestMemfdFieldsOverABus(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		impl := &packer{seen: make(chan []string, 1)}
		if err := RegisterKitchenServer(srv, impl); err != nil {
			t.Fatal(err)
		}
		cli, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		client := NewKitchenClient(cli, runtime.WithDestination(srv.UniqueName()))

		w, err := memfd.New("parcel-main", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for i := range w.Bytes() {
			w.Bytes()[i] = byte(i * 7)
		}
		heap := bytes.Repeat([]byte("heap"), 1000)
		req := &Parcel{
			Main: &Blob{Data: w.Bytes(), Name: "main", Chunks: [][]byte{heap, {}, nil}, Extra: []byte{}},
			More: []*Blob{{Name: "empty"}, {Kind: &Blob_Frame{Frame: heap}}},
			Named: map[string]*Blob{
				"frame": {Data: heap[:10], Kind: &Blob_Frame{Frame: w.Bytes()}},
				"label": {Kind: &Blob_Label{Label: "no payload"}},
			},
		}
		resp, err := client.Pack(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		defer runtime.ReleasePayloads(resp)
		where := <-impl.seen
		// The Writer's bytes arrive as a mapping of its own memfd, wherever they were.
		for _, i := range []int{0, 5} {
			if !strings.Contains(where[i], "memfd:parcel-main") || !strings.Contains(where[i], " r--") {
				t.Errorf("payload %d lives in %q, want a read-only mapping of memfd:parcel-main", i, where[i])
			}
		}
		if !strings.Contains(where[4], "memfd:kdbus-payload") {
			t.Errorf("heap payload lives in %q, want a mapping of a memfd the runtime made", where[4])
		}
		// Empty payloads arrive empty but present.
		if resp.GetMain().Extra == nil || len(resp.GetMain().Extra) != 0 {
			t.Errorf("optional empty payload arrived as %v", resp.GetMain().Extra)
		}
		if !proto.Equal(resp, req) {
			t.Fatalf("the parcel changed in transit:\n got %v\nwant %v", resp, req)
		}
	})
}

// chunker answers Upload with as many one-byte chunks as the request's name says.
type chunker struct{ UnimplementedKitchenServer }

func (chunker) Upload(_ context.Context, req *Blob) (*Blob, error) {
	var n int
	fmt.Sscan(req.GetName(), &n)
	resp := &Blob{Name: "reply"}
	for i := range n {
		resp.Chunks = append(resp.Chunks, []byte{byte(i)})
	}
	return resp, nil
}

// TestMemfdDescriptorLimit checks that a message never carries more descriptors than a bus
// accepts (it would disconnect the sender), that the refusal leaves the connection working,
// and that empty payloads share one descriptor.
func TestMemfdDescriptorLimit(t *testing.T) {
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, bus *bustest.Bus) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if err := RegisterKitchenServer(srv, chunker{}); err != nil {
			t.Fatal(err)
		}
		cli, err := runtime.Dial(ctx, bus.Address)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		client := NewKitchenClient(cli, runtime.WithDestination(srv.UniqueName()))
		chunks := func(n int) [][]byte {
			var c [][]byte
			for i := range n {
				c = append(c, []byte{byte(i)})
			}
			return c
		}
		upload := func(req *Blob) (*Blob, error) {
			resp, err := client.Upload(ctx, req)
			runtime.ReleasePayloads(resp)
			return resp, err
		}

		// 16 descriptors: the data (empty) and 15 chunks.
		if _, err := upload(&Blob{Chunks: chunks(15)}); err != nil {
			t.Fatalf("16 descriptors: %v", err)
		}
		var re *runtime.Error
		if _, err := upload(&Blob{Chunks: chunks(16)}); !errors.As(err, &re) || re.Code != runtime.ResourceExhausted || !strings.Contains(re.Message, "17 file descriptors") {
			t.Fatalf("17 descriptors: %v, want a ResourceExhausted error that counts them", err)
		}
		// Empty payloads share one descriptor.
		if _, err := upload(&Blob{Chunks: make([][]byte, 100), Extra: []byte{}}); err != nil {
			t.Fatalf("100 empty chunks: %v", err)
		}
		// A reply with too many payloads becomes an error reply, not a lost connection.
		if _, err := upload(&Blob{Name: "17"}); !errors.As(err, &re) || re.Code != runtime.ResourceExhausted {
			t.Fatalf("a reply of 17 descriptors: %v, want ResourceExhausted", err)
		}
		resp, err := upload(&Blob{Name: "15"})
		if err != nil || len(resp.GetChunks()) != 15 {
			t.Fatalf("after the refusals: %v, %d chunks", err, len(resp.GetChunks()))
		}
	})
}
