package wire

import (
	"bytes"
	"testing"
)

func TestGetBufferSizes(t *testing.T) {
	for _, c := range []struct{ n, cap int }{
		{0, 0}, {100, 100}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {64 << 20, 64 << 20}, {64<<20 + 1, 64<<20 + 1},
	} {
		b := GetBuffer(c.n)
		if len(*b) != c.n || cap(*b) != c.cap {
			t.Errorf("GetBuffer(%d): len %d cap %d, want len %d cap %d", c.n, len(*b), cap(*b), c.n, c.cap)
		}
	}
}

// TestPutBufferKeepsOnlyPooledSizes: a buffer whose capacity is not a pooled size is never
// handed out again (GetBuffer would give a caller less room than its class promises).
func TestPutBufferKeepsOnlyPooledSizes(t *testing.T) {
	odd := make([]byte, 0, 3<<20)
	PutBuffer(&odd)
	for range 100 {
		if b := GetBuffer(3 << 20); cap(*b) != 4<<20 {
			t.Fatalf("GetBuffer(3 MiB) returned a buffer of capacity %d", cap(*b))
		}
	}
	PutBuffer(nil) // no panic
}

// TestEncoderGrowsIntoPooledBuffers: a large byte array or string moves the encoding into a
// buffer of a pooled size, with what was encoded before it kept; small ones leave the
// buffer to append.
func TestEncoderGrowsIntoPooledBuffers(t *testing.T) {
	big := bytes.Repeat([]byte{0xA5}, 300<<10)
	var e Encoder
	e.Reset([]byte("prefix"), LittleEndian)
	e.Uint32(7)
	e.ByteArray(big)
	text := string(bytes.Repeat([]byte("x"), 100<<10))
	e.String(text)
	out := e.Bytes()
	if cap(out) != 512<<10 {
		t.Errorf("capacity %d after a 300 KiB array and a 100 KiB string, want the 512 KiB class", cap(out))
	}
	var got struct {
		A uint32
		B []byte
		C string
	}
	d := NewDecoder(out[len("prefix"):], LittleEndian)
	got.A, got.B, got.C = d.Uint32(), d.ByteArray(), d.String()
	if err := d.Done(); err != nil || string(out[:6]) != "prefix" || got.A != 7 || !bytes.Equal(got.B, big) || got.C != text {
		t.Fatalf("decoded %d, %d bytes, %d-byte string, err %v", got.A, len(got.B), len(got.C), err)
	}
	PutBuffer(&out)

	var small Encoder
	small.Reset(make([]byte, 0, 64), LittleEndian)
	small.ByteArray(make([]byte, 1000))
	if cap(small.Bytes()) >= minPooledBuffer {
		t.Errorf("a 1000-byte array took a pooled buffer of %d", cap(small.Bytes()))
	}
}
