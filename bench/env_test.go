package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/benchv1"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/transport/address"
)

// busLimits lifts the buses' per-user and per-message limits to what the benchmarks need:
// messages up to the D-Bus maximum (128 MiB), thousands of connections from one user, and
// room for queued bytes. Debian's session.conf sets the same values, except the message size.
const busLimits = `  <limit name="max_message_size">134217728</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <limit name="max_replies_per_connection">50000</limit>
`

// busTargets are the targets that run through a bus.
var busTargets = []string{bench.Native, bench.NativeRouted, bench.KdbusdClassic, bench.DBusDaemon, bench.Godbus}

// bus is a running bus process and the address a target dials on it.
type bus struct {
	target string
	// addr leads to the target's transport: the kdbus: entry alone for Native and
	// NativeRouted, the unix: entry for the others.
	addr string
	// opts are the runtime's options for every connection of the target: lanes off for
	// NativeRouted.
	opts []runtime.Option
	// pid is the bus process, for its CPU time and memory.
	pid int
}

// native says the target's connections use the native transport.
func native(target string) bool { return target == bench.Native || target == bench.NativeRouted }

// startBus starts the bus process for target, stopped when the benchmark ends.
func startBus(tb testing.TB, target string) *bus {
	tb.Helper()
	cfg := dbustest.Config{Extra: busLimits}
	var b *bus
	switch target {
	case bench.Native, bench.NativeRouted, bench.KdbusdClassic:
		kb := bustest.Start(tb, bustest.KdbusdNative, cfg)
		b = &bus{target: target, addr: kb.ClassicAddress}
		if native(target) {
			b.addr = nativeEntry(tb, kb.Address)
		}
		if target == bench.NativeRouted {
			// The same bus as Native's: only the clients decline lanes, so the column
			// differs from Native's by the lanes alone.
			b.opts = []runtime.Option{runtime.WithLanes(false)}
		}
		pid, err := bench.BusPID(kb.ClassicAddress)
		if err != nil {
			tb.Fatal(err)
		}
		b.pid = pid
	case bench.DBusDaemon, bench.Godbus:
		d := bustest.Start(tb, bustest.DBusDaemon, cfg)
		b = &bus{target: target, addr: d.Address}
		pid, err := bench.BusPID(d.Address)
		if err != nil {
			tb.Fatal(err)
		}
		b.pid = pid
	default:
		tb.Fatalf("%s is not a bus target", target)
	}
	return b
}

// nativeEntry returns the kdbus: entry of an address list.
func nativeEntry(tb testing.TB, addr string) string {
	tb.Helper()
	list, err := address.Parse(addr)
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range list {
		if a.Transport == "kdbus" {
			return a.String()
		}
	}
	tb.Fatalf("no kdbus: entry in %q", addr)
	return ""
}

// dial connects to the bus with the runtime, closing the connection when the benchmark ends.
func (b *bus) dial(tb testing.TB) *runtime.Conn {
	tb.Helper()
	c, err := b.connect(tb)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// connect is dial for any goroutine: it returns the error instead of failing tb.
func (b *bus) connect(tb testing.TB) (*runtime.Conn, error) {
	c, err := b.open()
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Close() })
	return c, nil
}

// open connects to the bus with the target's options; the caller closes the connection.
func (b *bus) open() (*runtime.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := runtime.Dial(ctx, b.addr, b.opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.target, err)
	}
	if c.Native() != native(b.target) {
		c.Close()
		return nil, fmt.Errorf("%s: the connection at %s is native=%v", b.target, b.addr, c.Native())
	}
	return c, nil
}

// cpu returns the bus process's CPU time so far.
func (b *bus) cpu(tb testing.TB) time.Duration {
	tb.Helper()
	d, err := bench.ProcessCPU(b.pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// reportBusCPU reports the bus's CPU time since before, per iteration, as bus-cpu-µs/op.
func (b *bus) reportBusCPU(tb *testing.B, before time.Duration) {
	used := b.cpu(tb) - before
	tb.ReportMetric(float64(used)/float64(time.Microsecond)/float64(tb.N), "bus-cpu-µs/op")
}

// client is what a benchmark calls, whichever library and bus are underneath.
type client interface {
	ping(ctx context.Context, payload []byte) ([]byte, error)
	notify(payload []byte) error
	sink(ctx context.Context, data []byte) (*benchv1.BlobReply, error)
}

// service is the benchmark service on a bus, served and called in this process.
type service struct {
	*bus
	// server counts the one-way messages it handles.
	server *bench.Server
	client client
	// stubs is the generated client and conn its connection; nil on the Godbus target.
	stubs benchv1.BenchClient
	conn  *runtime.Conn
}

// serve starts the bus for target, serves the Bench service on it and connects a client: the
// generated stubs on both ends, or godbus on both ends for the Godbus target.
func serve(tb testing.TB, target string) *service {
	tb.Helper()
	return serveWith(tb, target, nil)
}

// serveWith is serve with wrap(s.server) as the generated server's implementation, for
// methods that bench.Server leaves out; nil wrap serves s.server itself. The Godbus target
// ignores wrap.
func serveWith(tb testing.TB, target string, wrap func(*bench.Server) benchv1.BenchServer) *service {
	tb.Helper()
	b := startBus(tb, target)
	s := &service{bus: b, server: bench.NewServer()}
	if target == bench.Godbus {
		s.client = serveGodbus(tb, b.addr, s.server)
		return s
	}
	ctx := context.Background()
	srv := b.dial(tb)
	var impl benchv1.BenchServer = s.server
	if wrap != nil {
		impl = wrap(s.server)
	}
	if err := benchv1.RegisterBenchServer(srv, impl); err != nil {
		tb.Fatal(err)
	}
	if r, err := srv.RequestName(ctx, benchv1.Bench_BusName, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		tb.Fatalf("RequestName: %v %v", r, err)
	}
	s.conn = b.dial(tb)
	s.stubs = benchv1.NewBenchClient(s.conn)
	s.client = stubClient{s.stubs}
	return s
}

// undelivered fails the benchmark when the bus reported no-reply messages it could not
// deliver, with how many and the first reason: they will never reach the server, and a rate
// that counted them would measure nothing.
func (s *service) undelivered(tb testing.TB, sent int64) {
	tb.Helper()
	if s.conn == nil {
		return // godbus: classic D-Bus does not report them
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.conn.Sync(ctx)
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
		err = j.Unwrap()[0]
	}
	tb.Fatalf("the bus did not deliver %d of %d one-way messages; the first: %v", s.conn.Stats().Undelivered, sent, err)
}

// stubClient calls through the generated client.
type stubClient struct{ c benchv1.BenchClient }

func (c stubClient) ping(ctx context.Context, payload []byte) ([]byte, error) {
	r, err := c.c.Ping(ctx, &benchv1.PingRequest{Payload: payload})
	return r.GetPayload(), err
}

func (c stubClient) notify(payload []byte) error {
	_, err := c.c.Notify(context.Background(), &benchv1.NotifyRequest{Payload: payload})
	return err
}

func (c stubClient) sink(ctx context.Context, data []byte) (*benchv1.BlobReply, error) {
	return c.c.Sink(ctx, &benchv1.SinkRequest{Data: data})
}

// godbusBench is the Bench service written for godbus's reflection-based export.
type godbusBench struct{ s *bench.Server }

func (g godbusBench) Ping(payload []byte) ([]byte, *dbus.Error) { return payload, nil }

func (g godbusBench) Notify([]byte) *dbus.Error {
	g.s.Count()
	return nil
}

func (g godbusBench) Sink(data []byte) (uint64, uint64, *dbus.Error) {
	return uint64(len(data)), bench.Sample(data), nil
}

// godbusClient calls a godbus server with godbus.
type godbusClient struct{ obj dbus.BusObject }

func (c godbusClient) ping(ctx context.Context, payload []byte) ([]byte, error) {
	var out []byte
	err := c.obj.CallWithContext(ctx, benchv1.Bench_Interface+"."+benchv1.Bench_Ping_Member, 0, payload).Store(&out)
	return out, err
}

func (c godbusClient) notify(payload []byte) error {
	return c.obj.Go(benchv1.Bench_Interface+"."+benchv1.Bench_Notify_Member, dbus.FlagNoReplyExpected, nil, payload).Err
}

func (c godbusClient) sink(ctx context.Context, data []byte) (*benchv1.BlobReply, error) {
	r := new(benchv1.BlobReply)
	err := c.obj.CallWithContext(ctx, benchv1.Bench_Interface+"."+benchv1.Bench_Sink_Member, 0, data).Store(&r.Size, &r.Sample)
	return r, err
}

func godbusConn(tb testing.TB, addr string) *dbus.Conn {
	tb.Helper()
	c, err := dbus.Connect(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// serveGodbus exports the service with godbus under the service's names and returns a godbus
// client of it.
func serveGodbus(tb testing.TB, addr string, s *bench.Server) client {
	tb.Helper()
	srv := godbusConn(tb, addr)
	if err := srv.Export(godbusBench{s}, benchv1.Bench_ObjectPath, benchv1.Bench_Interface); err != nil {
		tb.Fatal(err)
	}
	if r, err := srv.RequestName(benchv1.Bench_BusName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		tb.Fatalf("RequestName: %v %v", r, err)
	}
	return godbusClient{godbusConn(tb, addr).Object(benchv1.Bench_BusName, benchv1.Bench_ObjectPath)}
}

// sizeName names a payload size as the benchmarks do: 32B, 4KiB, 1MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// payload returns n bytes of a recognisable pattern.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// checkEcho fails the benchmark when an echo came back wrong: a benchmark of a broken call
// measures nothing.
func checkEcho(tb testing.TB, got, want []byte) {
	tb.Helper()
	if len(got) != len(want) || bench.Sample(got) != bench.Sample(want) {
		tb.Fatalf("echo returned %d bytes (sample %x), want %d (sample %x)", len(got), bench.Sample(got), len(want), bench.Sample(want))
	}
}
