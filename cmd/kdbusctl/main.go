// Command kdbusctl calls D-Bus services by their proto names, in JSON: it lists services and
// objects, describes them as proto, calls methods, reads and writes properties, watches
// signals and monitors the bus. See docs/kdbusctl.md, or run kdbusctl help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kdbus-go/kdbus/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	status := ctl.RunContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(status)
}
