package wire

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestEncoderFDs(t *testing.T) {
	var e Encoder
	e.Reset(nil, LittleEndian)
	e.FD(7)
	e.String("x")
	e.FD(3)
	ran := 0
	e.AfterSend(func() { ran++ })
	if got := e.FDs(); len(got) != 2 || got[0] != 7 || got[1] != 3 {
		t.Fatalf("FDs = %v", got)
	}
	vals, err := Unmarshal(e.Bytes(), LittleEndian, "hsh")
	if err != nil || fmt.Sprint(vals[0], vals[2]) != "0 1" {
		t.Fatalf("indexes %v, %v", vals, err)
	}
	e.Sent()
	e.Sent()
	if ran != 1 {
		t.Fatalf("AfterSend ran %d times", ran)
	}
	e.Reset(nil, LittleEndian)
	if len(e.FDs()) != 0 {
		t.Fatal("Reset kept the descriptors")
	}
	e.FD(-1)
	if e.Err() == nil {
		t.Fatal("a negative descriptor encoded")
	}
}

type closer struct{ closed *int }

func (c closer) Close() error { *c.closed++; return nil }

func TestDecoderFDs(t *testing.T) {
	var e Encoder
	e.Reset(nil, LittleEndian)
	e.FD(10)
	e.FD(11)
	d := NewDecoder(e.Bytes(), LittleEndian)
	d.SetFDs([]int{40, 41})
	if a, b := d.FD(), d.FD(); a != 40 || b != 41 || d.Done() != nil {
		t.Fatalf("FD = %d, %d, %v", a, b, d.Err())
	}
	d = NewDecoder(e.Bytes(), LittleEndian)
	d.SetFDs([]int{40})
	d.FD()
	if fd := d.FD(); fd != -1 || d.Err() == nil {
		t.Fatalf("an index past the descriptors gave %d, %v", fd, d.Err())
	}
	var de *DecodeError
	if !errors.As(d.Err(), &de) {
		t.Fatalf("error %T", d.Err())
	}
	n := 0
	d.Hold(closer{&n})
	d.Hold(closer{&n})
	for _, c := range d.Held() {
		c.(io.Closer).Close()
	}
	if n != 2 {
		t.Fatalf("%d held values closed", n)
	}
	d.Reset(nil, LittleEndian)
	if len(d.Held()) != 0 {
		t.Fatal("Reset kept held values")
	}
}

func TestEncoderFDsShareIndexes(t *testing.T) {
	var e Encoder
	e.Reset(nil, LittleEndian)
	e.FD(7)
	e.PayloadFD(9)
	e.FD(7)
	e.PayloadFD(7)
	e.PayloadFD(9)
	if got := e.FDs(); len(got) != 2 || got[0] != 7 || got[1] != 9 {
		t.Fatalf("FDs = %v, want [7 9]: a descriptor travels once however often it is encoded", got)
	}
	vals, err := Unmarshal(e.Bytes(), LittleEndian, "hhhhh")
	if err != nil || fmt.Sprint(vals) != "[0 1 0 0 1]" {
		t.Fatalf("indexes %v, %v", vals, err)
	}
	if m := e.PayloadMask(); m != 0b11 {
		t.Fatalf("PayloadMask = %b, want 11", m)
	}
}
