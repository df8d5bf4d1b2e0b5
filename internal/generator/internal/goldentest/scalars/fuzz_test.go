package scalarspb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// FuzzDecode feeds arbitrary bodies to the generated decoders of every request type: they
// must fail cleanly or decode to a message that survives another round trip. The bodies come
// with descriptors for h values to refer to: sealed memfds, one of them empty, an unsealed
// memfd and a pipe, which memfd fields must refuse.
func FuzzDecode(f *testing.F) {
	fds := fuzzFDs(f)
	roundtrip.Seed(f, kitchen_Sink.In, 0)
	roundtrip.Seed(f, kitchen_Choose.In, 1)
	roundtrip.Seed(f, kitchen_Collect.In, 2)
	roundtrip.Seed(f, kitchen_Order.In, 3)
	roundtrip.Seed(f, kitchen_Upload.In, 4)
	roundtrip.Seed(f, kitchen_Pack.In, 5)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		body := data[2:]
		switch data[0] % 6 {
		case 0:
			roundtrip.Redecode(t, kitchen_Sink.In, body, order)
		case 1:
			roundtrip.Redecode(t, kitchen_Choose.In, body, order)
		case 2:
			roundtrip.Redecode(t, kitchen_Collect.In, body, order)
		case 3:
			roundtrip.Redecode(t, kitchen_Order.In, body, order)
		case 4:
			roundtrip.Redecode(t, kitchen_Upload.In, body, order, fds...)
		case 5:
			roundtrip.Redecode(t, kitchen_Pack.In, body, order, fds...)
		}
	})
}

// fuzzFDs returns descriptors for fuzzed h values: two sealed memfds (one empty), an unsealed
// memfd and the read end of a pipe. They are closed when the fuzz target ends.
func fuzzFDs(f *testing.F) []int {
	var fds []int
	for _, b := range [][]byte{[]byte("payload"), nil} {
		m, err := memfd.Create("fuzz", b)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { m.Close() })
		fds = append(fds, m.Fd())
	}
	unsealed, err := unix.MemfdCreate("fuzz-unsealed", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		f.Fatal(err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { unix.Close(unsealed); unix.Close(p[0]); unix.Close(p[1]) })
	return append(fds, unsealed, p[0])
}
