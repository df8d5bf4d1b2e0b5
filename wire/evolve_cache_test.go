package wire

import (
	"strings"
	"testing"
)

// TestEvolveCacheBounded checks that signatures chosen by a peer cannot grow the cache of
// plans past its bound, and that cached plans are the ones made.
func TestEvolveCacheBounded(t *testing.T) {
	first, err := Evolve("ts", "t")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Evolve("ts", "t"); again != first {
		t.Fatal("a second Evolve of the same pair made a new plan instead of using the cached one")
	}
	for i := 0; i < 4*maxEvolutions; i++ {
		// Distinct pairs, evolutions or not.
		Evolve(Signature("t"+strings.Repeat("y", i%250)), Signature("t("+strings.Repeat("u", 1+i/250)+")"))
		evolutions.mu.Lock()
		n := len(evolutions.m)
		evolutions.mu.Unlock()
		if n > maxEvolutions {
			t.Fatalf("the cache holds %d plans after %d pairs; the bound is %d", n, i+1, maxEvolutions)
		}
	}
}
