package greeterv1

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Greeter_IntrospectXML, &Greeter_ServiceDesc)
	roundtrip.Method(t, Greeter_IntrospectXML, &greeter_SayHello)
	roundtrip.Method(t, Greeter_IntrospectXML, &greeter_Notify)
	roundtrip.Method(t, Greeter_IntrospectXML, &greeter_Ping)
	roundtrip.Method(t, Greeter_IntrospectXML, &greeter_SayHelloOld)
	roundtrip.Method(t, Greeter_IntrospectXML, &greeter_Undocumented)
	roundtrip.Stream(t, Greeter_IntrospectXML, &greeter_Chat)
	roundtrip.Stream(t, Greeter_IntrospectXML, &greeter_Watch)
	roundtrip.Stream(t, Greeter_IntrospectXML, &greeter_Collect)
	roundtrip.Stream(t, Greeter_IntrospectXML, &greeter_Ticks)
}
