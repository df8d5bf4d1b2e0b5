package hostile

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	PrintTable()
	os.Exit(code)
}
