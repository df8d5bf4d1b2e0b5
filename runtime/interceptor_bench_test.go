package runtime

import (
	"context"
	"testing"
	"time"
)

func passClient(ctx context.Context, m *MethodInfo, req, resp any, inv UnaryInvoker) error {
	return inv(ctx, m, req, resp)
}

// BenchmarkInterceptorChain measures what three client interceptors cost per call: "chain"
// runs the composed chain alone around an invoker that does nothing, "call" makes a whole
// call between two connections over an in-process transport.
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
	for _, n := range []int{0, 3} {
		name := map[int]string{0: "call/none", 3: "call/3"}[n]
		b.Run(name, func(b *testing.B) {
			var opts connOptions
			if n > 0 {
				WithUnaryClientInterceptor(ChainUnaryClient(passClient, passClient, passClient))(&opts)
			}
			pa, pb := newPipes(true)
			cli, srv := newConn(pa, opts), newConn(pb, connOptions{})
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
