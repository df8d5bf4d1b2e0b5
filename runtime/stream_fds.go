package runtime

import (
	"fmt"

	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// Frames with memfd payloads. A frame's memfd fields travel as descriptors of the Data
// message that carries its batch: the batch's descriptor list is the concatenation of its
// frames' lists, and each frame's h values index that list (the sender shifts a frame's own
// indexes by the descriptors of the frames before it in the batch). A batch ends early when
// the next frame's descriptors would take the message beyond what a bus accepts
// (maxMessageFDs).
//
// Queued frames hold their descriptors open, so descriptors count in the window: each costs
// fdWindowCost bytes of it, on both ends, and a peer that sends more than its window of
// frames and descriptors ends the stream with ResourceExhausted. A connection also bounds
// the descriptors of all the frames it has queued (maxQueuedFDs).

const (
	// fdWindowCost is what one descriptor of a frame counts for in a stream's window: a
	// window of 1 MiB lets 256 descriptors be in flight.
	fdWindowCost = 4096
	// maxQueuedFDs bounds the descriptors of the received frames a connection holds, queued
	// on all its streams; a batch beyond it ends its stream with ResourceExhausted.
	maxQueuedFDs = 4096
)

// dupFDs returns duplicates of fds that the caller owns, so that a queued frame does not
// depend on the lifetime of the descriptors it was encoded with (a memfd.Writer the sender
// closes after Send, a copy the encoder closes once the frame is queued).
func dupFDs(fds []int) ([]int, error) {
	out := make([]int, 0, len(fds))
	for _, fd := range fds {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("duplicating a payload descriptor: %w", err)
		}
		out = append(out, nfd)
	}
	return out, nil
}

// shiftFDs adds base to every h value of frame, values of types encoded from an 8-aligned
// start in byte order o.
func shiftFDs(frame []byte, o wire.ByteOrder, types []*wire.Type, base uint32) error {
	var d wire.Decoder
	d.Reset(frame, o)
	var e wire.Encoder
	for _, t := range types {
		shiftValue(&d, &e, frame, o, t, base, 1)
	}
	return d.Done()
}

// shiftValue walks one value of type t, rewriting its h values in place.
func shiftValue(d *wire.Decoder, e *wire.Encoder, frame []byte, o wire.ByteOrder, t *wire.Type, base uint32, depth int) {
	if d.Err() != nil {
		return
	}
	if depth > wire.MaxTotalDepth {
		d.SetErr(fmt.Errorf("values nest deeper than %d containers", wire.MaxTotalDepth))
		return
	}
	switch t.Code {
	case wire.TypeUnixFD:
		v := d.Uint32()
		if d.Err() != nil {
			return
		}
		at := d.Offset() - 4
		e.Reset(frame[at:at], o) // appends over the 4 bytes just read
		e.Uint32(v + base)
	case wire.TypeStruct, wire.TypeDictEntry:
		d.BeginStruct()
		for _, f := range t.Fields {
			shiftValue(d, e, frame, o, f, base, depth+1)
		}
	case wire.TypeArray:
		if !hasFD(t.Elem) {
			d.Skip(string(t.Sig))
			return
		}
		end := d.BeginArray(t.Elem.Align())
		for d.Err() == nil && d.More(end) {
			shiftValue(d, e, frame, o, t.Elem, base, depth+1)
		}
	case wire.TypeVariant:
		sig := d.Variant()
		if d.Err() != nil {
			return
		}
		inner, err := wire.ParseType(string(sig))
		if err != nil {
			d.SetErr(err)
			return
		}
		shiftValue(d, e, frame, o, inner, base, depth+1)
	default:
		d.Skip(string(t.Sig))
	}
}

// hasFD reports whether values of type t may hold h values.
func hasFD(t *wire.Type) bool {
	for _, c := range []byte(t.Sig) {
		if c == wire.TypeUnixFD || c == wire.TypeVariant {
			return true
		}
	}
	return false
}
