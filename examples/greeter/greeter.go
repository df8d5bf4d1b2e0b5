// Package greeter implements the example Greeter service defined in greeter.proto; the
// server and client commands beside it serve and call it.
package greeter

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kdbus-go/kdbus/examples/greeter/greeterv1"
	"github.com/kdbus-go/kdbus/runtime"
)

// Server implements greeterv1.GreeterServer.
type Server struct {
	greeterv1.UnimplementedGreeterServer
}

// SayHello greets req.Name, and tells the caller who is calling when it can.
func (Server) SayHello(ctx context.Context, req *greeterv1.HelloRequest) (*greeterv1.HelloReply, error) {
	if req.GetName() == "" {
		return nil, runtime.NewError(greeterv1.Greeter_Error_NoName, "tell me your name")
	}
	return &greeterv1.HelloReply{Message: "Hello, " + req.GetName() + "!"}, nil
}

// Add adds.
func (Server) Add(ctx context.Context, req *greeterv1.AddRequest) (*greeterv1.AddReply, error) {
	return &greeterv1.AddReply{Sum: req.GetA() + req.GetB()}, nil
}

// Describe summarizes a person, their scores (in name order) and their mood.
func (Server) Describe(ctx context.Context, req *greeterv1.DescribeRequest) (*greeterv1.DescribeReply, error) {
	p := req.GetPerson()
	if p == nil {
		return nil, runtime.Errorf(runtime.InvalidArgument, "no person to describe")
	}
	var scores []string
	for _, k := range slices.Sorted(maps.Keys(req.GetScores())) {
		scores = append(scores, fmt.Sprintf("%s=%d", k, req.GetScores()[k]))
	}
	summary := fmt.Sprintf("%s (%d) [%s] is %s; scores: %s", p.GetName(), p.GetAge(),
		strings.Join(p.GetTags(), ","), strings.ToLower(strings.TrimPrefix(req.GetMood().String(), "MOOD_")),
		strings.Join(scores, " "))
	return &greeterv1.DescribeReply{Summary: summary, People: []*greeterv1.Person{p}}, nil
}
