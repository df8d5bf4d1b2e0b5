package legacypb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Archive_IntrospectXML, &Archive_ServiceDesc)
	roundtrip.Method(t, Archive_IntrospectXML, &archive_Store)
}
