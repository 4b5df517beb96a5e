package bridge

import (
	"testing"
	"time"

	"github.com/hotline-12345/hotline/bench/internal/harness"
)

func sighting(at time.Duration, src, dst uint16, i uint32, magic byte) harness.Sighting {
	s := harness.Sighting{At: time.Unix(1000, 0).Add(at), Src: src, Dst: dst}
	s.Tag[0], s.Tag[1] = 0x20|magic&0x0f, 0x30
	harness.TagEncode(s.Tag[2:8], i)
	return s
}

// Each probe packet's two stays in hotline come from its four sightings, whatever
// order the capture delivered them in; a packet missing a hop is counted, not timed;
// the direct probe's packets are not hotline's.
func TestResidence(t *testing.T) {
	const probe, hl, hlAgent, uas = 5000, 6000, 6002, 7000
	us := time.Microsecond
	seen := []harness.Sighting{
		// packet 0: 100 µs to the agent, 300 µs back.
		sighting(0, probe, hl, 0, viaMagic),
		sighting(100*us, hlAgent, uas, 0, viaMagic),
		sighting(150*us, uas, hlAgent, 0, viaMagic),
		sighting(450*us, hl, probe, 0, viaMagic),
		// packet 1, delivered out of order: 2 ms to the agent, 50 µs back.
		sighting(20*time.Millisecond+2*time.Millisecond+80*us, hl, probe, 1, viaMagic),
		sighting(20*time.Millisecond, probe, hl, 1, viaMagic),
		sighting(20*time.Millisecond+2*time.Millisecond+30*us, uas, hlAgent, 1, viaMagic),
		sighting(20*time.Millisecond+2*time.Millisecond, hlAgent, uas, 1, viaMagic),
		// packet 2 never came back from the agent.
		sighting(40*time.Millisecond, probe, hl, 2, viaMagic),
		sighting(40*time.Millisecond+90*us, hlAgent, uas, 2, viaMagic),
		// a direct probe packet, same index.
		sighting(0, 5001, uas, 0, 0x22),
		sighting(10*us, uas, 5001, 0, 0x22),
	}
	r := residence(seen, probe, uas)
	if r.Packets != 2 || r.Incomplete != 1 {
		t.Fatalf("packets %d incomplete %d, want 2 and 1", r.Packets, r.Incomplete)
	}
	if r.ToAgent.P50 != 100*us || r.ToAgent.Max != 2*time.Millisecond {
		t.Errorf("to agent %+v, want p50 100µs max 2ms", r.ToAgent)
	}
	if r.ToCaller.P50 != 50*us || r.ToCaller.Max != 300*us {
		t.Errorf("to caller %+v, want p50 50µs max 300µs", r.ToCaller)
	}
	if r.Both.P50 != 400*us || r.Both.P99 != 2050*us {
		t.Errorf("both %+v, want p50 400µs p99 2.05ms", r.Both)
	}
}

// A pass over a millisecond is kept with its times, to line up with a scheduler trace.
func TestResidenceKeepsSlowPasses(t *testing.T) {
	const probe, uas = 30000, 40000
	seen := []harness.Sighting{
		sighting(0, probe, 5000, 1, viaMagic), sighting(300*time.Microsecond, 5002, uas, 1, viaMagic),
		sighting(5*time.Millisecond, uas, 5002, 1, viaMagic), sighting(7*time.Millisecond, 5000, probe, 1, viaMagic),
	}
	r := residence(seen, probe, uas)
	if len(r.Slow) != 1 || r.Slow[0].ToAgent || r.Slow[0].Out.Sub(r.Slow[0].In) != 2*time.Millisecond {
		t.Fatalf("slow passes %+v; want the agent→caller pass of 2 ms only", r.Slow)
	}
}
