package nopkg

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	shared "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/shared"
	"github.com/kdbus-go/kdbus/runtime"
)

// byPointer embeds UnimplementedBareServer as a nil pointer: its Relabel would panic.
type byPointer struct {
	*UnimplementedBareServer
}

func (byPointer) Touch(_ context.Context, p *Ping) (*Ping, error) { return p, nil }

// unsafeBare opts out of UnimplementedBareServer and implements every method itself.
type unsafeBare struct {
	UnsafeBareServer
}

func (unsafeBare) Touch(_ context.Context, p *Ping) (*Ping, error) {
	return &Ping{N: p.GetN() + 1}, nil
}

func (unsafeBare) Relabel(_ context.Context, l *shared.Label) (*shared.Label, error) { return l, nil }

// TestRegisterEmbedding: RegisterBareServer refuses a server that embeds the Unimplemented type
// as a nil pointer, saying what to do, and registers nothing; a server that embeds
// UnsafeBareServer instead is served.
func TestRegisterEmbedding(t *testing.T) {
	bus := dbustest.Start(t, dbustest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = RegisterBareServer(srv, byPointer{})
	if err == nil || !strings.Contains(err.Error(), "nopkg.byPointer embeds *UnimplementedBareServer as a nil pointer") ||
		!strings.Contains(err.Error(), "embed UnimplementedBareServer by value") {
		t.Fatalf("registering a nil embedded pointer: %v", err)
	}
	if err := RegisterBareServer(srv, unsafeBare{}); err != nil {
		t.Fatalf("registering at the path the refused server would have taken: %v", err)
	}
	cli, err := runtime.Dial(ctx, bus.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	got, err := NewBareClient(cli, runtime.WithDestination(srv.UniqueName())).Touch(ctx, &Ping{N: 41})
	if err != nil || got.GetN() != 42 {
		t.Fatalf("Touch: %v, %v; want n 42 from the Unsafe server", got, err)
	}
}
