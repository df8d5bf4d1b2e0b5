package scalarspb

import (
	"bytes"
	"context"
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
