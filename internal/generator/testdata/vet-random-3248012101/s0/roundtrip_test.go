package rnd

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, S_IntrospectXML, &S_ServiceDesc)
	roundtrip.Method(t, S_IntrospectXML, &s_R0)
	roundtrip.Method(t, S_IntrospectXML, &s_R1)
}
