package runtime

import (
	"context"
	"testing"
	"time"
)

func passClient(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
	return inv(ctx, m, req, resp)
}

func passServer(ctx context.Context, req any, m *MethodInfo, h UnaryHandler) (any, error) {
	return h(ctx, req)
}

// BenchmarkInterceptorChain measures what three interceptors cost per call: "chain" and
// "server-chain" run a composed chain alone around an invoker or handler that does nothing,
// "call" makes a whole call between two connections over an in-process transport, with the
// interceptors on the client or on the server.
func BenchmarkInterceptorChain(b *testing.B) {
	b.Run("chain", func(b *testing.B) {
		ic := ChainUnaryClient(passClient, passClient, passClient)
		info := &MethodInfo{Interface: testIface, Member: "Echo"}
		final := func(context.Context, *MethodInfo, any, any) error { return nil }
		ctx := context.Background()
		var req, resp echoMsg
		b.ReportAllocs()
		for b.Loop() {
			if err := ic(ctx, info, &req, &resp, final); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("server-chain", func(b *testing.B) {
		ic := ChainUnaryServer(passServer, passServer, passServer)
		info := &MethodInfo{Interface: testIface, Member: "Echo"}
		handler := func(context.Context, any) (any, error) { return nil, nil }
		ctx := context.Background()
		var req echoMsg
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ic(ctx, &req, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []string{"none", "3-client", "3-server"} {
		b.Run("call/"+n, func(b *testing.B) {
			var copts, sopts connOptions
			switch n {
			case "3-client":
				WithUnaryClientInterceptor(ChainUnaryClient(passClient, passClient, passClient))(&copts)
			case "3-server":
				WithUnaryServerInterceptor(ChainUnaryServer(passServer, passServer, passServer))(&sopts)
			}
			pa, pb := newPipes(true)
			cli, srv := newConn(pa, copts), newConn(pb, sopts)
			defer cli.Close()
			defer srv.Close()
			if err := srv.Register(&testDesc, &impl{}); err != nil {
				b.Fatal(err)
			}
			obj := NewObject(cli, &testDesc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req := &echoMsg{Text: "x"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := echoMethod.Invoke(ctx, obj, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
