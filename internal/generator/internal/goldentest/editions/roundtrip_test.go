package editionspb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Settings_IntrospectXML, &Settings_ServiceDesc)
	roundtrip.Method(t, Settings_IntrospectXML, &settings_Put)
}
