package recursivepb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Trees_IntrospectXML, &Trees_ServiceDesc)
	roundtrip.Method(t, Trees_IntrospectXML, &trees_Plant)
	roundtrip.Method(t, Trees_IntrospectXML, &trees_Grow)
	roundtrip.Method(t, Trees_IntrospectXML, &trees_Walk)
}
