package main

import "testing"

// TestDemo runs the README's main command, briefly.
func TestDemo(t *testing.T) {
	if err := run(100, false); err != nil {
		t.Fatal(err)
	}
}
