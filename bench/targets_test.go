package bench_test

import (
	"slices"
	"testing"

	"github.com/kdbus-go/kdbus/bench"
	"github.com/kdbus-go/kdbus/bench/table"
)

// The table's columns are the benchmarks' targets.
func TestTargetsAreColumns(t *testing.T) {
	targets := []string{bench.Native, bench.NativeRouted, bench.KdbusdClassic, bench.DBusDaemon, bench.Godbus, bench.GRPC, bench.UnixSocket, bench.Memcpy}
	if !slices.Equal(targets, table.Columns) {
		t.Fatalf("targets %q, table columns %q", targets, table.Columns)
	}
}
