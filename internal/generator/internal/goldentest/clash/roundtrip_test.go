package clashpb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Clash_IntrospectXML, &Clash_ServiceDesc_)
	roundtrip.Service(t, Other_IntrospectXML, &Other_ServiceDesc)
	roundtrip.Method(t, Clash_IntrospectXML, &clash_Get)
	roundtrip.Method(t, Clash_IntrospectXML, &clash_Interface)
	roundtrip.Method(t, Other_IntrospectXML, &other_Get)
}
