package scalarspb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Kitchen_IntrospectXML, &Kitchen_ServiceDesc)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Sink)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Choose)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Collect)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Order)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Upload)
	roundtrip.Method(t, Kitchen_IntrospectXML, &kitchen_Pack)
}
