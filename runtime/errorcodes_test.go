package runtime

import (
	"context"
	"errors"
	"testing"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// TestDeclaredErrorCodes: once a client uses a descriptor whose service declares a code for one
// of its errors, the error it receives by that D-Bus name carries that code, whatever code the
// server had for it (only the name travels).
func TestDeclaredErrorCodes(t *testing.T) {
	const name = "org.kdbusgo.Test.Error.Declared"
	if c := CodeForErrorName(name); c != Unknown {
		t.Fatalf("before any descriptor declares it, %s maps to %v, want Unknown", name, c)
	}
	declared := testDesc
	declared.Errors = []*Error{{Code: FailedPrecondition, Name: name}}
	bustest.Each(t, dbustest.Config{}, func(t *testing.T, d *bustest.Bus) {
		serve(t, d, &impl{fail: func(context.Context, *echoMsg) (*echoMsg, error) {
			return nil, &Error{Code: Unknown, Name: name, Message: "declared"}
		}})
		obj := NewObject(dial(t, d), &declared)
		_, err := failMethod.Invoke(ctx5s(t), obj, &echoMsg{})
		var re *Error
		if !errors.As(err, &re) || re.Name != name || re.Code != FailedPrecondition || re.Message != "declared" {
			t.Fatalf("got %#v, want %s with code FailedPrecondition", err, name)
		}
	})
	if c := NewError(name, "x").Code; c != FailedPrecondition {
		t.Errorf("NewError(%s) has code %v, want the declared FailedPrecondition", name, c)
	}
}
