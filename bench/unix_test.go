package bench_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kdbus-go/kdbus/bench"
)

// The raw AF_UNIX baseline: a SOCK_STREAM connection to a child process (this test binary,
// started again with echoServerEnv set), carrying frames of an 8-byte header (payload length
// and an op, little-endian uint32s) and the payload. No bus, no encoding, no dispatch: the
// floor that a bus call is compared with.
const echoServerEnv = "KDBUS_BENCH_ECHO_SERVER"

// Frame ops.
const (
	opEcho   = iota // the server sends the frame back
	opOneWay        // the server counts the frame and answers nothing
	opCount         // the server answers a header whose length is the count of one-way frames
	opSink          // the server answers a header whose length is the payload's size
)

const frameHeader = 8

func TestMain(m *testing.M) {
	if os.Getenv(echoServerEnv) != "" {
		if err := serveEcho(); err != nil {
			fmt.Fprintln(os.Stderr, "echo server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveEcho serves the one connection accepted on the listener inherited as fd 3.
func serveEcho() error {
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var hdr [frameHeader]byte
	var buf []byte
	var oneWay uint32
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n, op := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		if cap(buf) < int(n)+frameHeader {
			buf = make([]byte, int(n)+frameHeader)
		}
		frame := buf[:int(n)+frameHeader]
		if _, err := io.ReadFull(r, frame[frameHeader:]); err != nil {
			return err
		}
		switch op {
		case opEcho:
			copy(frame, hdr[:])
			_, err = c.Write(frame)
		case opOneWay:
			oneWay++
		case opCount:
			binary.LittleEndian.PutUint32(hdr[:4], oneWay)
			oneWay = 0
			_, err = c.Write(hdr[:])
		case opSink:
			_, err = c.Write(hdr[:])
		default:
			err = fmt.Errorf("unknown op %d", op)
		}
		if err != nil {
			return err
		}
	}
}

// rawConn is a connection to the echo server.
type rawConn struct {
	c   *net.UnixConn
	buf []byte
}

// startEchoServer starts the child process and connects to it.
func startEchoServer(tb testing.TB) *rawConn {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "echo")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	f, err := l.File()
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoServerEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		cmd.Wait()
	})
	return &rawConn{c: c}
}

// frame returns a frame of op holding payload, ready to write.
func frame(op uint32, payload []byte) []byte {
	f := make([]byte, frameHeader+len(payload))
	binary.LittleEndian.PutUint32(f, uint32(len(payload)))
	binary.LittleEndian.PutUint32(f[4:], op)
	copy(f[frameHeader:], payload)
	return f
}

// roundTrip writes a frame and reads the answer's header and payload; the payload is valid
// until the next call.
func (r *rawConn) roundTrip(f []byte) (uint32, []byte, error) {
	if _, err := r.c.Write(f); err != nil {
		return 0, nil, err
	}
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r.c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if binary.LittleEndian.Uint32(hdr[4:]) != opEcho {
		return n, nil, nil
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	_, err := io.ReadFull(r.c, p)
	return n, p, err
}

// benchmarkRawEcho is the unix-socket target of the echo benchmarks.
func benchmarkRawEcho(b *testing.B, size int) {
	c := startEchoServer(b)
	want := payload(size)
	f := frame(opEcho, want)
	b.SetBytes(2 * int64(size))
	var got []byte
	for b.Loop() {
		_, p, err := c.roundTrip(f)
		if err != nil {
			b.Fatal(err)
		}
		got = p
	}
	checkEcho(b, got, want)
}

// benchmarkRawOneWay is the unix-socket target of the one-way benchmark: b.N frames written
// back to back, each with its own write(2), then a count that waits for all of them. The
// socket buffer bounds how many are in flight.
func benchmarkRawOneWay(b *testing.B, size int) {
	c := startEchoServer(b)
	f := frame(opOneWay, payload(size))
	count := frame(opCount, nil)
	n := 0
	for b.Loop() {
		if _, err := c.c.Write(f); err != nil {
			b.Fatal(err)
		}
		n++
	}
	got, _, err := c.roundTrip(count)
	if err != nil {
		b.Fatal(err)
	}
	if int(got) != n {
		b.Fatalf("server counted %d one-way frames, want %d", got, n)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// benchmarkRawSink is the unix-socket target of the inline payload benchmark: the payload one
// way, its size back.
func benchmarkRawSink(b *testing.B, size int) {
	c := startEchoServer(b)
	f := frame(opSink, payload(size))
	b.SetBytes(int64(size))
	for b.Loop() {
		n, _, err := c.roundTrip(f)
		if err != nil {
			b.Fatal(err)
		}
		if int(n) != size {
			b.Fatalf("server saw %d bytes, want %d", n, size)
		}
	}
}

// benchmarkMemcpy is the memcpy target: copy() of size bytes between two buffers.
func benchmarkMemcpy(b *testing.B, size int) {
	src, dst := payload(size), make([]byte, size)
	b.SetBytes(int64(size))
	for b.Loop() {
		copy(dst, src)
	}
	if bench.Sample(dst) != bench.Sample(src) {
		b.Fatal("copy() lost bytes")
	}
}
