package kdbusimpl

import (
	"fmt"
	"sync"

	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
)

// Large payloads: a bytes field marked [(kdbus.v1.field) = { memfd: true }] travels as a sealed
// memfd (D-Bus type h) instead of inline bytes. Package runtime documents how long a received
// payload stays mapped (KeepPayloads, ReleasePayloads).

// memfdName names the memfds made for payloads that were not in one already.
const memfdName = "kdbus-payload"

// emptyMemfd is the sealed memfd of size zero that every empty payload shares: it never
// changes, so one descriptor serves the whole process and a message spends one descriptor on
// all its empty payloads.
var emptyMemfd = sync.OnceValues(func() (*memfd.File, error) { return memfd.Create(memfdName+"-empty", nil) })

// AppendMemfd encodes b as a sealed memfd (h). Generated code calls it.
func AppendMemfd(e *wire.Encoder, b []byte) {
	if e.Err() != nil {
		return
	}
	if len(b) == 0 {
		f, err := emptyMemfd()
		if err != nil {
			e.SetErr(err)
			return
		}
		e.PayloadFD(f.Fd())
		return
	}
	if w := memfd.Lookup(b); w != nil {
		if err := w.SealInPlace(); err != nil {
			e.SetErr(err)
			return
		}
		e.PayloadFD(w.Fd())
		return
	}
	f, err := memfd.Create(memfdName, b)
	if err != nil {
		e.SetErr(err)
		return
	}
	e.PayloadFD(f.Fd())
	e.AfterSend(func() { f.Close() })
}

// DecodeMemfd decodes an h value holding a sealed memfd and returns its contents, mapped
// read-only; the mapping is held by d for the caller to release. Generated code calls it.
func DecodeMemfd(d *wire.Decoder) []byte {
	fd := d.FD()
	if d.Err() != nil {
		return nil
	}
	m, err := memfd.MapReadOnly(fd)
	if err != nil {
		d.SetErr(fmt.Errorf("a memfd payload was refused: %w", err))
		return nil
	}
	d.Hold(m)
	if b := m.Bytes(); b != nil {
		return b
	}
	return []byte{} // empty, yet present: an optional field was set
}
