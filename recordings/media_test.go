package recordings

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-12345/hotline/media"
)

// TestOnTheMediaClock records two real RTP legs paced by the shared media clock,
// tapped on what each party hears (so no RTP needs to come in): each channel must
// hold its own party's tone and nothing of the other's.
func TestOnTheMediaClock(t *testing.T) {
	e, err := media.NewEngine(media.EngineConfig{PortMin: 45600, PortMax: 45699, Pacers: 2, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := &Store{Dir: t.TempDir()}
	r, err := s.Start("c-media-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var removes []func()
	for i, c := range []struct {
		codec media.Codec
		freq  float64
		sink  media.Sink
	}{{media.PCMU, 1000, r.Left()}, {media.PCMA, 1700, r.Right()}} {
		leg, err := e.NewRTPLeg(media.RTPLegOptions{ID: "rec"})
		if err != nil {
			t.Fatal(err)
		}
		defer leg.Close()
		leg.Configure(media.Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: c.codec, Send: true})
		leg.SetOutbound(media.NewToneSource(0.5, c.freq))
		removes = append(removes, leg.Tap(media.ToParty, c.sink))
		if err := leg.Start(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			time.Sleep(7 * time.Millisecond) // another phase for the other leg
		}
	}
	time.Sleep(1200 * time.Millisecond)
	for _, rm := range removes {
		rm()
	}
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Duration < time.Second {
		t.Fatalf("recorded %v of a 1.2 s call", info.Duration)
	}
	l, rr := readChannels(t, info.Path)
	// The middle half second: away from the legs' starts and ends.
	from, to := 300*media.SampleRate/1000, 800*media.SampleRate/1000
	for _, c := range []struct {
		name      string
		pcm       []int16
		own, leak float64
	}{{"left", l[from:to], 1000, 1700}, {"right", rr[from:to], 1700, 1000}} {
		if lvl := media.ToneLevel(c.pcm, c.own); lvl < -9 {
			t.Errorf("%s channel: own tone %v Hz at %.1f dBFS", c.name, c.own, lvl)
		}
		if lvl := media.ToneLevel(c.pcm, c.leak); lvl > -50 {
			t.Errorf("%s channel: other tone %v Hz at %.1f dBFS", c.name, c.leak, lvl)
		}
	}
}
