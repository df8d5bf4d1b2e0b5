// Command kdbusd is a D-Bus message bus daemon that takes dbus-daemon's command line and
// configuration files: kdbusd --session, kdbusd --system, or kdbusd --config-file=FILE.
package main

import (
	"os"

	"github.com/kdbus-go/kdbus/broker/daemon"
)

func main() {
	os.Exit(daemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
