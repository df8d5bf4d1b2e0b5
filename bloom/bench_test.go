package bloom

import (
	"strconv"
	"testing"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

var sinkBool bool

func BenchmarkContains(b *testing.B) {
	m := typicalSignal(b)
	for _, p := range []Params{Default, {MaxSize, 32}} {
		f := ForMessage(p, m)
		hit, _ := match.Parse("type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='/org/freedesktop/systemd1/unit/dbus_2eservice'")
		miss, _ := match.Parse("type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='/org/freedesktop/systemd1/unit/other_2eservice'")
		for _, c := range []struct {
			name string
			mask Filter
		}{{"match", ForRule(p, hit)}, {"nomatch", ForRule(p, miss)}} {
			b.Run(c.name+"/"+strconv.Itoa(p.Size), func(b *testing.B) {
				for b.Loop() {
					sinkBool = f.Contains(c.mask)
				}
			})
		}
	}
}

func BenchmarkForMessage(b *testing.B) {
	for _, c := range []struct {
		name string
		m    *wire.Message
	}{
		{"PropertiesChanged", typicalSignal(b)},
		{"NameOwnerChanged", vectorSignals["name-owner-changed"].message(b, wire.LittleEndian)},
		{"NoArgs", vectorSignals["root-no-args"].message(b, wire.LittleEndian)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ForMessage(Default, c.m)
			}
		})
		b.Run(c.name+"/reuse", func(b *testing.B) {
			b.ReportAllocs()
			f := New(Default)
			for b.Loop() {
				f.Reset()
				f.AddMessage(c.m)
			}
		})
	}
}

func BenchmarkForRule(b *testing.B) {
	r, _ := match.Parse("type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.example.Service'")
	b.ReportAllocs()
	for b.Loop() {
		ForRule(Default, r)
	}
}

func BenchmarkAdd(b *testing.B) {
	f := New(Default)
	b.ReportAllocs()
	for b.Loop() {
		f.Add("interface:org.freedesktop.DBus.Properties")
	}
}
