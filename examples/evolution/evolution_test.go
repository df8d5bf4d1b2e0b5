// Package evolution_test runs two versions of one service against each other on every kind of
// bus: catalogv2 is catalogv1 with fields appended to requests, replies, a nested message used
// in repeated and singular fields, a signal, a property's message and stream frames. Each
// side must receive the fields it knows and see the others unset.
package evolution_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kdbus-go/kdbus/examples/evolution/catalogv1"
	"github.com/kdbus-go/kdbus/examples/evolution/catalogv2"
	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/runtime"
)

const (
	dest  = catalogv1.Catalog_BusName
	path  = catalogv1.Catalog_ObjectPath
	iface = catalogv1.Catalog_Interface
)

// received keeps what a server was sent, for the test to check.
type received struct {
	mu   sync.Mutex
	msgs []proto.Message
}

func (r *received) add(m proto.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// take returns what was received since the last take.
func (r *received) take() []proto.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func item1(name string, price uint64) *catalogv1.Item {
	return &catalogv1.Item{Name: name, Price: price}
}

func item2(name string, price uint64) *catalogv2.Item {
	return &catalogv2.Item{Name: name, Price: price, Tags: []string{"new", "v2"}, Rating: &catalogv2.Rating{Stars: 4, By: "ann"}}
}

// server1 is the catalogv1 implementation.
type server1 struct {
	catalogv1.UnimplementedCatalogServer
	got received
}

func (s *server1) Lookup(_ context.Context, req *catalogv1.LookupRequest) (*catalogv1.LookupReply, error) {
	s.got.add(req)
	return &catalogv1.LookupReply{Item: item1("lamp", 30), Related: []*catalogv1.Item{item1("bulb", 3), item1("shade", 9)}}, nil
}

func (s *server1) Watch(req *catalogv1.WatchRequest, st runtime.ServerStreamingServer[catalogv1.Item]) error {
	s.got.add(req)
	for i, n := range []string{"a", "b"} {
		if err := st.Send(item1(req.GetPrefix()+n, uint64(i+1))); err != nil {
			return err
		}
	}
	return nil
}

func (s *server1) Upload(st runtime.ClientStreamingServer[catalogv1.Item, catalogv1.UploadReply]) error {
	var n uint32
	for {
		it, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.SendAndClose(&catalogv1.UploadReply{Count: n})
		}
		if err != nil {
			return err
		}
		s.got.add(it)
		n++
	}
}

// server2 is the catalogv2 implementation.
type server2 struct {
	catalogv2.UnimplementedCatalogServer
	got received
}

func (s *server2) Lookup(_ context.Context, req *catalogv2.LookupRequest) (*catalogv2.LookupReply, error) {
	s.got.add(req)
	return &catalogv2.LookupReply{Item: item2("lamp", 30), Related: []*catalogv2.Item{item2("bulb", 3), item2("shade", 9)}, Stock: 12}, nil
}

func (s *server2) Watch(req *catalogv2.WatchRequest, st runtime.ServerStreamingServer[catalogv2.Item]) error {
	s.got.add(req)
	for i, n := range []string{"a", "b"} {
		if err := st.Send(item2(req.GetPrefix()+n, uint64(i+1))); err != nil {
			return err
		}
	}
	return nil
}

func (s *server2) Upload(st runtime.ClientStreamingServer[catalogv2.Item, catalogv2.UploadReply]) error {
	var n uint32
	var total uint64
	for {
		it, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.SendAndClose(&catalogv2.UploadReply{Count: n, Total: total})
		}
		if err != nil {
			return err
		}
		s.got.add(it)
		n++
		total += it.GetPrice()
	}
}

// dial connects to the bus at addr for the rest of the test.
func dial(t *testing.T, addr string) *runtime.Conn {
	t.Helper()
	c, err := runtime.Dial(ctx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// own makes conn the owner of the service's bus name.
func own(t *testing.T, conn *runtime.Conn) {
	t.Helper()
	if r, err := conn.RequestName(ctx(t), dest, runtime.NameDoNotQueue); err != nil || r != runtime.NamePrimaryOwner {
		t.Fatalf("RequestName: %v %v", r, err)
	}
}

// next returns the next value from ch, failing the test if none comes.
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the channel closed", what)
		}
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never arrived", what)
	}
	panic("unreachable")
}

// equal fails the test unless got and want are equal messages.
func equal(t *testing.T, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestOlderClientNewerServer(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := bustest.Start(t, kind, dbustest.Config{})
			srvConn := dial(t, bus.Address)
			srv := &server2{}
			store := catalogv2.NewCatalogPropertyStore(&catalogv2.CatalogProperties{Title: "shop", Featured: item2("lamp", 30), Count: 3})
			if err := catalogv2.RegisterCatalogServer(srvConn, srv, store); err != nil {
				t.Fatal(err)
			}
			own(t, srvConn)
			cli := catalogv1.NewCatalogClient(dial(t, bus.Address))

			// A call: the request lacks the locale, the reply has fields the client skips.
			reply, err := cli.Lookup(ctx(t), &catalogv1.LookupRequest{Id: 7})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "the reply", reply, &catalogv1.LookupReply{Item: item1("lamp", 30), Related: []*catalogv1.Item{item1("bulb", 3), item1("shade", 9)}})
			if got := srv.got.take(); len(got) != 1 {
				t.Fatalf("the server received %v", got)
			} else {
				equal(t, "the request", got[0], &catalogv2.LookupRequest{Id: 7})
			}

			// A signal with an argument the subscriber does not know.
			added, err := cli.SubscribeAdded(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer added.Close()
			if err := catalogv2.NewCatalogEmitter(srvConn).EmitAdded(&catalogv2.Added{Id: 9, Item: item2("rug", 50), By: "bob"}); err != nil {
				t.Fatal(err)
			}
			sig := next(t, added.C(), "the Added signal")
			equal(t, "the signal", sig.Args, &catalogv1.Added{Id: 9, Item: item1("rug", 50)})

			// Properties: Get, GetAll, Set and PropertiesChanged.
			featured, err := cli.GetFeatured(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "Featured", featured, item1("lamp", 30))
			all, err := cli.GetProperties(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "GetAll", all, &catalogv1.CatalogProperties{Title: "shop", Featured: item1("lamp", 30)})
			if err := cli.SetFeatured(ctx(t), item1("desk", 80)); err != nil {
				t.Fatal(err)
			}
			equal(t, "Featured set by the older client", store.Featured(), &catalogv2.Item{Name: "desk", Price: 80})
			changes, err := cli.WatchProperties(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer changes.Close()
			if err := store.SetFeatured(item2("sofa", 200)); err != nil {
				t.Fatal(err)
			}
			pc := next(t, changes.C(), "PropertiesChanged")
			equal(t, "the changed Featured", pc.Args.Values.GetFeatured(), item1("sofa", 200))
			if !pc.Args.Has(catalogv1.Catalog_Featured_Property) {
				t.Errorf("PropertiesChanged names %v, want Featured", pc.Args.Changed)
			}

			// A server stream: the opening call lacks the limit, the frames have more fields.
			w, err := cli.Watch(ctx(t), &catalogv1.WatchRequest{Prefix: "p-"})
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range []string{"a", "b"} {
				it, err := w.Recv()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				equal(t, "a frame", it, item1("p-"+n, uint64(i+1)))
			}
			if _, err := w.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the frames: %v, want io.EOF", err)
			}
			equal(t, "the stream's request", srv.got.take()[0], &catalogv2.WatchRequest{Prefix: "p-"})

			// A client stream: the frames lack fields, the reply has one more.
			up, err := cli.Upload(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range []*catalogv1.Item{item1("x", 1), item1("y", 2)} {
				if err := up.Send(it); err != nil {
					t.Fatal(err)
				}
			}
			ur, err := up.CloseAndRecv()
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "the upload's reply", ur, &catalogv1.UploadReply{Count: 2})
			got := srv.got.take()
			if len(got) != 2 {
				t.Fatalf("the server received %d frames: %v", len(got), got)
			}
			equal(t, "the first frame", got[0], &catalogv2.Item{Name: "x", Price: 1})
			equal(t, "the second frame", got[1], &catalogv2.Item{Name: "y", Price: 2})

			// busctl calls the newer method with the older arguments.
			out, err := exec.Command(dbustest.RequireTool(t, "busctl"), "--address="+bus.Address, "call", dest, path, iface, "Lookup", "t", "7").CombinedOutput()
			if err != nil {
				t.Fatalf("busctl call Lookup t 7: %v\n%s", err, out)
			}
			const tagged = `2 "new" "v2" 1 4 "ann"`
			if want := `a(stasa(us))a(stasa(us))u 1 "lamp" 30 ` + tagged + ` 2 "bulb" 3 ` + tagged + ` "shade" 9 ` + tagged + ` 12`; strings.TrimSpace(string(out)) != want {
				t.Errorf("busctl call Lookup t 7 printed %q, want %q", out, want)
			}
			equal(t, "busctl's request", srv.got.take()[0], &catalogv2.LookupRequest{Id: 7})
		})
	}
}

func TestNewerClientOlderServer(t *testing.T) {
	for _, kind := range bustest.Kinds {
		t.Run(kind, func(t *testing.T) {
			bus := bustest.Start(t, kind, dbustest.Config{})
			srvConn := dial(t, bus.Address)
			srv := &server1{}
			store := catalogv1.NewCatalogPropertyStore(&catalogv1.CatalogProperties{Title: "shop", Featured: item1("lamp", 30)})
			if err := catalogv1.RegisterCatalogServer(srvConn, srv, store); err != nil {
				t.Fatal(err)
			}
			own(t, srvConn)
			cli := catalogv2.NewCatalogClient(dial(t, bus.Address))

			// A call: the request has a field the server skips, the reply lacks the new ones.
			reply, err := cli.Lookup(ctx(t), &catalogv2.LookupRequest{Id: 7, Locale: "fr"})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "the reply", reply, &catalogv2.LookupReply{
				Item:    &catalogv2.Item{Name: "lamp", Price: 30},
				Related: []*catalogv2.Item{{Name: "bulb", Price: 3}, {Name: "shade", Price: 9}},
			})
			if got := srv.got.take(); len(got) != 1 {
				t.Fatalf("the server received %v", got)
			} else {
				equal(t, "the request", got[0], &catalogv1.LookupRequest{Id: 7})
			}

			// A signal without the argument the subscriber knows.
			added, err := cli.SubscribeAdded(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer added.Close()
			if err := catalogv1.NewCatalogEmitter(srvConn).EmitAdded(&catalogv1.Added{Id: 9, Item: item1("rug", 50)}); err != nil {
				t.Fatal(err)
			}
			sig := next(t, added.C(), "the Added signal")
			equal(t, "the signal", sig.Args, &catalogv2.Added{Id: 9, Item: &catalogv2.Item{Name: "rug", Price: 50}})

			// Properties: Get, GetAll, Set and PropertiesChanged.
			featured, err := cli.GetFeatured(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "Featured", featured, &catalogv2.Item{Name: "lamp", Price: 30})
			all, err := cli.GetProperties(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "GetAll", all, &catalogv2.CatalogProperties{Title: "shop", Featured: &catalogv2.Item{Name: "lamp", Price: 30}})
			if err := cli.SetFeatured(ctx(t), item2("desk", 80)); err != nil {
				t.Fatal(err)
			}
			equal(t, "Featured set by the newer client", store.Featured(), item1("desk", 80))
			if err := cli.SetCount(ctx(t), 4); err == nil {
				t.Error("the older server accepted a property it does not have")
			}
			changes, err := cli.WatchProperties(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			defer changes.Close()
			if err := store.SetFeatured(item1("sofa", 200)); err != nil {
				t.Fatal(err)
			}
			pc := next(t, changes.C(), "PropertiesChanged")
			equal(t, "the changed Featured", pc.Args.Values.GetFeatured(), &catalogv2.Item{Name: "sofa", Price: 200})

			// A server stream: the opening call has the limit the server skips, the frames
			// lack the new fields.
			w, err := cli.Watch(ctx(t), &catalogv2.WatchRequest{Prefix: "p-", Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range []string{"a", "b"} {
				it, err := w.Recv()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				equal(t, "a frame", it, &catalogv2.Item{Name: "p-" + n, Price: uint64(i + 1)})
			}
			if _, err := w.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the frames: %v, want io.EOF", err)
			}
			equal(t, "the stream's request", srv.got.take()[0], &catalogv1.WatchRequest{Prefix: "p-"})

			// A client stream: the frames have fields the server skips, the reply lacks one.
			up, err := cli.Upload(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range []*catalogv2.Item{item2("x", 1), item2("y", 2)} {
				if err := up.Send(it); err != nil {
					t.Fatal(err)
				}
			}
			ur, err := up.CloseAndRecv()
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "the upload's reply", ur, &catalogv2.UploadReply{Count: 2})
			got := srv.got.take()
			if len(got) != 2 {
				t.Fatalf("the server received %d frames: %v", len(got), got)
			}
			equal(t, "the first frame", got[0], item1("x", 1))
			equal(t, "the second frame", got[1], item1("y", 2))
		})
	}
}
