package table

import (
	"fmt"
	"strings"
)

// Format writes v in unit for a reader: durations in ns, µs, ms or s; rates in k/s or M/s.
func Format(v float64, unit string) string {
	switch unit {
	case "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.2f ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f µs", v/1e3)
		}
		return fmt.Sprintf("%.0f ns", v)
	case "bus-cpu-µs/op":
		if v >= 1e3 {
			return fmt.Sprintf("%.2f ms", v/1e3)
		}
		return fmt.Sprintf("%.1f µs", v)
	case "KiB/conn":
		return fmt.Sprintf("%.1f KiB", v)
	case "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	}
	if strings.HasSuffix(unit, "/s") {
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2f M/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1f k/s", v/1e3)
		}
		return fmt.Sprintf("%.0f /s", v)
	}
	return fmt.Sprintf("%.2f", v)
}
