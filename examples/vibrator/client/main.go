// Command client drives the example vibration motor the way an app drives a binder HAL: it waits
// for the service, reads its capabilities, and vibrates with a callback object it serves itself.
//
//	go run ./examples/vibrator/client -address="$BUS"
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/kdbus-go/kdbus/examples/vibrator"
	"github.com/kdbus-go/kdbus/runtime"
)

func main() {
	addr := flag.String("address", "", "bus address (default: the session bus)")
	wait := flag.Duration("wait", 10*time.Second, "how long to wait for the vibrator to appear")
	flag.Parse()
	log.SetFlags(0)
	ctx, cancel := context.WithTimeout(context.Background(), *wait+30*time.Second)
	defer cancel()
	var conn *runtime.Conn
	var err error
	if *addr == "" {
		conn, err = runtime.SessionBus(ctx)
	} else {
		conn, err = runtime.Dial(ctx, *addr)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if err := vibrator.Demo(ctx, conn, *wait, func(format string, args ...any) { fmt.Printf(format+"\n", args...) }); err != nil {
		log.Fatal(err)
	}
}
