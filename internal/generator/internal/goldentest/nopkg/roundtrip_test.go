package nopkg

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Bare_IntrospectXML, &Bare_ServiceDesc)
	roundtrip.Method(t, Bare_IntrospectXML, &bare_Touch)
	roundtrip.Method(t, Bare_IntrospectXML, &bare_Relabel)
}
