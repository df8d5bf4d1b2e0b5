package native

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

func TestPacketsRoundTrip(t *testing.T) {
	h := hello{version: Version, flags: helloAcceptFDs, poolSize: 1 << 20, sendSize: 4 << 20}
	if got, err := parseHello(h.append(nil)); err != nil || got != h {
		t.Fatalf("hello: %+v, %v", got, err)
	}
	w := welcome{version: Version, id: 7, poolSize: 1 << 20, bloomSize: 64, bloomHashes: 8, guid: "0123456789abcdef0123456789abcdef", unique: ":1.7"}
	if got, err := parseWelcome(w.append(nil)); err != nil || got != w {
		t.Fatalf("welcome: %+v, %v", got, err)
	}
	sh := sendHeader{flags: sendWantAck, cookie: 3, offset: 64, length: 100, timeout: 25e6, payloads: 5}
	bloom := bytes.Repeat([]byte{0xa5}, 64)
	gh, gb, gf, gi, err := parseSend(appendSend(nil, sh, bloom, []uint64{64, 128}), nil)
	if err != nil || gh != sh || !bytes.Equal(gb, bloom) || gi != nil || !reflect.DeepEqual(gf, []uint64{64, 128}) {
		t.Fatalf("send: %+v %x %v %x %v", gh, gb, gf, gi, err)
	}
	sh = sendHeader{flags: sendInline, cookie: 4, length: 5}
	gh, gb, gf, gi, err = parseSend(append(appendSend(nil, sh, nil, nil), "hello"...), nil)
	if err != nil || gh != sh || len(gb) != 0 || len(gf) != 0 || string(gi) != "hello" {
		t.Fatalf("inline send: %+v %x %v %q %v", gh, gb, gf, gi, err)
	}
	offs := []uint64{64, 128, 4096}
	if got, err := parseFree(appendFree(nil, offs), nil); err != nil || !reflect.DeepEqual(got, offs) {
		t.Fatalf("free: %v, %v", got, err)
	}
	if got, err := parseSync(appendSync(nil, 99)); err != nil || got != 99 {
		t.Fatalf("sync: %v, %v", got, err)
	}
	es := []entry{{offset: 64, length: 200, nfds: 1}, {offset: 512, length: 48}}
	pkt := appendRecvHeader(nil, len(es), 3)
	for _, e := range es {
		pkt = appendEntry(pkt, e)
	}
	if d, got, err := parseRecv(pkt, nil); err != nil || d != 3 || !reflect.DeepEqual(got, es) {
		t.Fatalf("recv: %d %v %v", d, got, err)
	}
	a := ack{cookie: 5, name: "org.freedesktop.DBus.Error.LimitsExceeded", text: "full"}
	if got, err := parseAck(a.append(nil)); err != nil || got != a {
		t.Fatalf("ack: %+v, %v", got, err)
	}
	r := Record{Seqnum: 1, Sender: 2, Timestamp: 3, UID: 4, GID: 5, PID: 6, HasCreds: true, SendSeq: 7, Deadline: 8}
	b := make([]byte, recordSize)
	putRecord(b, &r, 77)
	if got, n := parseRecord(b); got != r || n != 77 {
		t.Fatalf("record: %+v %d", got, n)
	}
	if recordSize%8 != 0 {
		t.Fatalf("a record of %d bytes would misalign the message after it", recordSize)
	}
	lm := laneMsg{flags: laneInFD, seq: 1, busSends: 2, off: 3, bodyLen: 4, payloads: 5, deadline: 6, hdr: []byte("header")}
	pkt = appendLaneMsg(nil, &lm)
	if len(pkt) != laneMsgFixed+len(lm.hdr) {
		t.Fatalf("lane msg of %d bytes, want %d", len(pkt), laneMsgFixed+len(lm.hdr))
	}
	if got, err := parseLaneMsg(pkt); err != nil || !reflect.DeepEqual(got, lm) {
		t.Fatalf("lane msg: %+v, %v", got, err)
	}
}

// TestMonotonicAt checks the conversion of a deadline to CLOCK_MONOTONIC nanoseconds that
// lane messages carry: the zero time is 0, any other time at least 1, and a time ahead of now
// lies between two clock_gettime readings taken around it (within the pairing's slack).
func TestMonotonicAt(t *testing.T) {
	if got := monotonicAt(time.Time{}); got != 0 {
		t.Errorf("the zero time: %d, want 0", got)
	}
	if got := monotonicAt(time.Unix(1, 0)); got == 0 {
		t.Error("a time long past: 0, which would mean no deadline")
	}
	read := func() uint64 {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return uint64(ts.Nano())
	}
	const slack = uint64(5 * time.Millisecond)
	before := read()
	dl := time.Now().Add(time.Minute)
	after := read()
	got := monotonicAt(dl)
	if lo, hi := before+uint64(time.Minute)-slack, after+uint64(time.Minute)+slack; got < lo || got > hi {
		t.Errorf("a minute from now: %d, want within [%d, %d]", got, lo, hi)
	}
	if now, b, a := monotonicNow(), before, read(); now+slack < b || now > a+slack {
		t.Errorf("monotonicNow %d, clock_gettime read %d before and %d after", now, b, a)
	}
}

func TestMalformedPackets(t *testing.T) {
	valid := appendSend(nil, sendHeader{cookie: 1, offset: 0, length: 16}, nil, nil)
	for name, pkt := range map[string][]byte{
		"empty":              nil,
		"short send":         valid[:10],
		"bloom overrun":      append(append([]byte(nil), valid[:48]...), 0xff, 0xff, 0, 0, 0, 0, 0, 0),
		"frees overrun":      append(append([]byte(nil), valid[:52]...), 9, 0, 0, 0, 1, 2, 3),
		"stray bytes":        append(append([]byte(nil), valid...), 1),
		"inline length lies": append(appendSend(nil, sendHeader{flags: sendInline, length: 9}, nil, nil), "short"...),
	} {
		if _, _, _, _, err := parseSend(pkt, nil); err == nil {
			t.Errorf("%s: parseSend accepted %x", name, pkt)
		}
	}
	if _, err := parseFree(append(appendFree(nil, []uint64{1, 2}), 0), nil); err == nil {
		t.Error("parseFree accepted a trailing byte")
	}
	if _, _, err := parseRecv(appendRecvHeader(nil, 2, 0), nil); err == nil {
		t.Error("parseRecv accepted a packet missing its entries")
	}
	if _, err := parseAck(ne.AppendUint16(append(appendAckHeader(), 0, 0), 40)); err == nil {
		t.Error("parseAck accepted a text that overruns the packet")
	}
}

func appendAckHeader() []byte {
	b := ne.AppendUint32(nil, opAck)
	b = ne.AppendUint32(b, 0)
	return ne.AppendUint64(b, 1)
}

// FuzzBusPackets feeds what a client may send to the bus's packet decoders: they must answer
// every input with a value or an error, never a panic.
func FuzzBusPackets(f *testing.F) {
	f.Add((&hello{version: Version, poolSize: 1 << 20, sendSize: 1 << 20}).append(nil))
	f.Add(appendSend(nil, sendHeader{flags: sendWantAck, cookie: 1, offset: 8, length: 64}, make([]byte, 64), []uint64{64}))
	f.Add(append(appendSend(nil, sendHeader{flags: sendInline, cookie: 2, length: 3}, nil, nil), "abc"...))
	f.Add(appendFree(nil, []uint64{64, 128}))
	f.Add(appendSync(nil, 7))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		switch opOf(pkt) {
		case opHello:
			parseHello(pkt)
		case opSend:
			h, bloom, frees, inline, err := parseSend(pkt, nil)
			if err == nil && len(bloom)+8*len(frees)+len(inline)+sendFixed > len(pkt) {
				t.Fatalf("send parts of %d+%d+%d bytes from a %d-byte packet (%+v)", len(bloom), 8*len(frees), len(inline), len(pkt), h)
			}
		case opFree:
			parseFree(pkt, nil)
		case opSync:
			parseSync(pkt)
		}
	})
}

// FuzzClientPackets feeds what the bus may send to the client's packet decoders.
func FuzzClientPackets(f *testing.F) {
	f.Add((&welcome{version: Version, id: 1, poolSize: 1 << 20, bloomSize: 64, bloomHashes: 8, unique: ":1.1"}).append(nil))
	f.Add(appendEntry(appendRecvHeader(nil, 1, 0), entry{offset: 64, length: 100}))
	f.Add((&ack{cookie: 3, name: "a.b", text: "c"}).append(nil))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		switch opOf(pkt) {
		case opWelcome:
			parseWelcome(pkt)
		case opRecv:
			_, es, err := parseRecv(pkt, nil)
			if err == nil && len(es) > maxRecvEntries {
				t.Fatalf("%d entries from one packet", len(es))
			}
		case opAck:
			parseAck(pkt)
		}
	})
}

// FuzzSendArea feeds a send area's bytes, as a client may leave them, to the bus's decoding of
// a send: the bus must refuse garbage with an error and never read outside the area.
func FuzzSendArea(f *testing.F) {
	f.Add([]byte("l\x01\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"), uint64(0), uint64(16))
	f.Add(make([]byte, 64), uint64(8), uint64(48))
	f.Fuzz(func(t *testing.T, area []byte, off, length uint64) {
		c := &BusConn{area: area, opts: BusOptions{MaxMessageSize: 1 << 20}}
		c.opts.Bloom.Size = 64
		in, err := c.parseSend(appendSend(nil, sendHeader{offset: off, length: length}, nil, nil), nil, Creds{})
		if err == nil && in.Msg == nil {
			t.Fatal("no message and no error")
		}
	})
}

// FuzzPoolEntry feeds pool contents and an entry, as a broken bus might present them, to the
// client's in-place decoding.
func FuzzPoolEntry(f *testing.F) {
	pool := make([]byte, 256)
	m := &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Serial: 1, Path: "/a", Interface: "a.b", Member: "C", Signature: "s", Body: []byte{1, 0, 0, 0, 'x', 0}}
	msg, err := m.AppendTo(nil)
	if err != nil {
		f.Fatal(err)
	}
	putRecord(pool[64:], &Record{Seqnum: 1}, len(msg))
	copy(pool[64+recordSize:], msg)
	f.Add(pool, uint64(64), uint32(recordSize+len(msg)))
	f.Add(pool, uint64(200), uint32(100))
	f.Fuzz(func(t *testing.T, pool []byte, off uint64, length uint32) {
		c := &Conn{poolMem: pool}
		c.refs.Store(1)
		r, err := c.decodeEntry(entry{offset: off, length: length})
		if err == nil && r.Msg == nil {
			t.Fatal("no message and no error")
		}
	})
}
