package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses, utime 250 and stime 50 ticks.
	line := "4242 (kdbusd (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 7 0 12345 1000000 500\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("parseStatCPU = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4242 kdbusd S 1", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 50"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tkdbusd\nVmPeak:\t  999 kB\nVmRSS:\t    1536 kB\nThreads:\t7\n"
	got, err := parseStatusRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if got != 1536<<10 {
		t.Fatalf("parseStatusRSS = %d, want %d", got, 1536<<10)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q) succeeded", bad)
		}
	}
}

func TestOwnProcess(t *testing.T) {
	if _, err := ProcessCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := ProcessRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("ProcessRSS = %d, %v", rss, err)
	}
}

func TestSample(t *testing.T) {
	big := make([]byte, 1<<20)
	a := Sample(big)
	big[len(big)-1] = 1 // the last word is always sampled
	if Sample(big) == a {
		t.Fatal("Sample missed a change in the last word")
	}
	if Sample([]byte("ab")) == Sample([]byte("ba")) {
		t.Fatal("Sample of a short payload ignores order")
	}
}
