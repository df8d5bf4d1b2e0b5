package broker

import (
	"reflect"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker/config"
)

// TestLimitsFromConfig sets every configuration limit to a value of its own and checks that
// each of the bus's limits takes the one of the same name: a limit added to Limits and
// forgotten in the conversion fails here.
func TestLimitsFromConfig(t *testing.T) {
	var c config.Limits
	cv := reflect.ValueOf(&c).Elem()
	for i := range cv.NumField() {
		f := cv.Field(i)
		switch f.Kind() {
		case reflect.Int:
			f.SetInt(int64(100 + i))
		case reflect.Int64: // time.Duration
			f.SetInt(int64(time.Duration(100+i) * time.Millisecond))
		}
	}
	l := LimitsFromConfig(c)
	lv := reflect.ValueOf(l)
	for i := range lv.NumField() {
		name := lv.Type().Field(i).Name
		want := cv.FieldByName(name)
		if !want.IsValid() {
			t.Errorf("Limits.%s has no counterpart in config.Limits", name)
			continue
		}
		if got := lv.Field(i).Int(); got != want.Int() {
			t.Errorf("Limits.%s = %d, want the configuration's %d", name, got, want.Int())
		}
	}
}

// TestLimitsDefaults checks that dbus-daemon's default of no reply timeout stays the bus's,
// and that the configuration's values survive the defaults.
func TestLimitsDefaults(t *testing.T) {
	c := config.DefaultLimits()
	if c.ReplyTimeout != config.NoTimeout {
		t.Fatalf("config.DefaultLimits().ReplyTimeout = %v, want NoTimeout", c.ReplyTimeout)
	}
	l := LimitsFromConfig(c).withDefaults()
	if l.ReplyTimeout != NoReplyTimeout || DefaultLimits.ReplyTimeout != NoReplyTimeout {
		t.Errorf("ReplyTimeout = %v (default %v), want none", l.ReplyTimeout, DefaultLimits.ReplyTimeout)
	}
	if l.MaxRepliesPerConnection != c.MaxRepliesPerConnection || l.AuthTimeout != c.AuthTimeout {
		t.Errorf("limits %+v lost the configuration's %+v", l, c)
	}
	if l.MaxMatchRulesPerUser != DefaultLimits.MaxMatchRulesPerUser {
		t.Errorf("MaxMatchRulesPerUser = %d, want the default %d for a configuration that sets none", l.MaxMatchRulesPerUser, DefaultLimits.MaxMatchRulesPerUser)
	}
	if got := (Limits{}).withDefaults(); got != DefaultLimits {
		t.Errorf("Limits{}.withDefaults() = %+v, want DefaultLimits", got)
	}
}
