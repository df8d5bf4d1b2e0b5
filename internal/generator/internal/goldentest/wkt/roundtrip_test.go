package wktpb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Known_IntrospectXML, &Known_ServiceDesc)
	roundtrip.Method(t, Known_IntrospectXML, &known_All)
	roundtrip.Method(t, Known_IntrospectXML, &known_Now)
	roundtrip.Method(t, Known_IntrospectXML, &known_Wait)
	roundtrip.Method(t, Known_IntrospectXML, &known_Echo)
	roundtrip.Method(t, Known_IntrospectXML, &known_EchoStruct)
	roundtrip.Method(t, Known_IntrospectXML, &known_Lookup)
	roundtrip.Method(t, Known_IntrospectXML, &known_Wrap)
	roundtrip.Method(t, Known_IntrospectXML, &known_Mask)
	roundtrip.Method(t, Known_IntrospectXML, &known_Numbers)
	roundtrip.Method(t, Known_IntrospectXML, &known_Unsigned)
	roundtrip.Method(t, Known_IntrospectXML, &known_Signed)
	roundtrip.Method(t, Known_IntrospectXML, &known_Deep)
	roundtrip.Stream(t, Known_IntrospectXML, &known_Clock)
	roundtrip.Stream(t, Known_IntrospectXML, &known_Tally)
	roundtrip.Stream(t, Known_IntrospectXML, &known_Pass)
}
