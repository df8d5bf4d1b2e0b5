package hostile

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(victimEnv); addr != "" {
		runVictim(addr)
	}
	if addr := os.Getenv(busyEnv); addr != "" {
		runBusy(addr)
	}
	if addr := os.Getenv(sinkEnv); addr != "" {
		runSink(addr)
	}
	code := m.Run()
	PrintTable()
	os.Exit(code)
}
