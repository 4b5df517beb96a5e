package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// Player is a Source that plays prompts in order once and then reports done.
// The media clock reads it; Stop may come from any goroutine (barge-in).
type Player struct {
	prompts []*Prompt
	pos     atomic.Int64 // frames played, across all prompts
	total   int64
	stopped atomic.Bool
	done    chan struct{}
	once    sync.Once
}

// NewPlayer returns a player for the prompts, in order. A player with no prompts is done at once.
func NewPlayer(ps ...*Prompt) *Player {
	p := &Player{prompts: ps, done: make(chan struct{})}
	for _, pr := range ps {
		p.total += int64(pr.frames)
	}
	if p.total == 0 {
		p.finish()
	}
	return p
}

func (p *Player) finish() { p.once.Do(func() { close(p.done) }) }

// ReadFrame copies the next frame. The frame after the last one reports false and closes Done.
func (p *Player) ReadFrame(c Codec, dst []byte) bool {
	if p.stopped.Load() {
		return false
	}
	i := p.pos.Load()
	if i >= p.total {
		p.finish()
		return false
	}
	p.pos.Store(i + 1)
	last := i+1 >= p.total
	for _, pr := range p.prompts {
		if i < int64(pr.frames) {
			copy(dst, pr.frame(c, int(i)))
			break
		}
		i -= int64(pr.frames)
	}
	if last {
		p.finish()
	}
	return true
}

// Done is closed when the last frame has been handed to the leg, or on Stop.
func (p *Player) Done() <-chan struct{} { return p.done }

// Stop ends playback early and reports how much was played.
func (p *Player) Stop() (played time.Duration) {
	p.stopped.Store(true)
	p.finish()
	return p.Played()
}

// Played is how much of the prompts has been handed to the leg.
func (p *Player) Played() time.Duration { return time.Duration(p.pos.Load()) * FrameDuration }

// Loop is a Source that plays one prompt forever (hold music). Its position lives in
// the loop, so swapping announcements in and out does not restart the music if the same
// Loop is set back.
type Loop struct {
	p   *Prompt
	pos atomic.Int64
}

// NewLoop returns a source that repeats p without end.
func NewLoop(p *Prompt) *Loop { return &Loop{p: p} }

func (l *Loop) ReadFrame(c Codec, dst []byte) bool {
	if l.p == nil || l.p.frames == 0 {
		return false
	}
	i := l.pos.Add(1) - 1
	copy(dst, l.p.frame(c, int(i%int64(l.p.frames))))
	return true
}

// Silence is a Source of silence frames.
type Silence struct{}

func (Silence) ReadFrame(c Codec, dst []byte) bool {
	FillSilence(c, dst)
	return true
}
