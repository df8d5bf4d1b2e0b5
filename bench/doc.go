// Package bench measures kdbus-go side by side with the buses and libraries it replaces.
//
// The benchmarks live in this package's tests and run only with -bench:
//
//	go test -run '^$' -bench . -benchmem ./bench
//
// Every benchmark has one sub-benchmark per target, named by the Target constants: the
// generated stubs on kdbusd's native transport with lanes and without, on kdbusd's classic
// socket and on dbus-daemon; godbus through dbus-daemon; and the floors no bus can beat, a
// raw AF_UNIX ping-pong and copy(). The command bench/cmd/benchtable runs them and prints the side-by-side table; see
// bench/README.md.
//
// The package itself holds the benchmark service's server and the helpers that read a bus
// process's CPU time and memory from /proc.
package bench

// Targets: what a benchmark runs on. Package bench/table lists them in the same order as the
// columns of its table.
const (
	// Native is kdbusd as a separate process, dialled at its kdbus: address: the native
	// transport, whose peers call each other over lanes once the bus has set one up.
	Native = "native"
	// NativeRouted is the same, with lanes turned off: every message goes through kdbusd.
	NativeRouted = "native-routed"
	// KdbusdClassic is the same kdbusd process dialled at its unix: address.
	KdbusdClassic = "kdbusd-classic"
	// DBusDaemon is a private dbus-daemon, with the generated stubs on both ends.
	DBusDaemon = "dbus-daemon"
	// Godbus is a godbus client calling a godbus server through a private dbus-daemon.
	Godbus = "godbus-dbus-daemon"
	// GRPC is grpc-go over a unix socket (the nested module bench/grpccompare).
	GRPC = "grpc-go"
	// UnixSocket is a raw AF_UNIX SOCK_STREAM ping-pong with a child process: length-prefixed
	// frames, no bus and no encoding.
	UnixSocket = "unix-socket"
	// Memcpy is copy() of the same number of bytes.
	Memcpy = "memcpy"
)
