//go:build !race

package recordings

import (
	"time"

	"github.com/hotline-12345/hotline/media"
)

// WarmFrame reads what push will touch for a frame that arrived at at: the recorder's
// state, the staging slot the frame most likely goes to (its stream's next slot is within
// jitterSlots of its arrival slot) and the first stream. The media clock calls it for a
// batch of frames before it pushes them, so that the cache misses of different
// recordings overlap instead of following one another (see media.LoggedSink).
//
// It reads without the recorder's lock, which the writer may hold: only what stays put
// (t0, the staging and stream arrays, allocated once) or single words and bytes, which a
// racing write cannot tear, and it uses nothing it reads. The race detector would still
// report those reads, so race builds do not warm (warm_race.go).
func (s *sink) WarmFrame(at time.Time) {
	r := s.r
	x := uint32(r.q.head.Load())
	if r.closed.Load() {
		return
	}
	i := int(at.Sub(r.t0)/media.FrameDuration) % stagingSlots
	if i < 0 {
		i = 0
	}
	frame := (*[frameBytes]byte)(r.staging[i*frameBytes:])
	for j := 0; j < frameBytes; j += 64 {
		x += uint32(frame[j])
	}
	if st := r.streams[:cap(r.streams)]; len(st) > 0 {
		x += st[0].id
	}
	if r.has[i][s.side] {
		x += uint32(r.base)
	}
	s.warmed = x // a plain store, which keeps the reads: an atomic one would wait for them
}
