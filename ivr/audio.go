package ivr

import (
	"github.com/hotline-12345/hotline/media"
)

// PromptAudio plays prompts from a media.PromptSet (the embedded prompts overlaid with an
// operator folder).
type PromptAudio struct {
	set *media.PromptSet
}

// NewPromptAudio returns the Audio for a loaded prompt set.
func NewPromptAudio(set *media.PromptSet) *PromptAudio { return &PromptAudio{set: set} }

var _ Audio = (*PromptAudio)(nil)

// Has implements Audio.
func (a *PromptAudio) Has(lang, name string) (string, bool) {
	_, used, ok := a.set.Lookup(lang, name)
	return used, ok
}

// Play implements Audio: one Player for the whole sequence, so that the fragments of a
// spoken number follow each other without a gap.
func (a *PromptAudio) Play(leg media.Leg, lang string, names []string) Playback {
	ps := make([]*media.Prompt, 0, len(names))
	for _, n := range names {
		if p, _, ok := a.set.Lookup(lang, n); ok {
			ps = append(ps, p)
		}
	}
	p := media.NewPlayer(ps...)
	leg.SetOutbound(p)
	return p
}

// HoldMusic returns a source looping the hold music (prompts/music/hold.wav), for the
// call layer to play while a call waits in the queue.
func (a *PromptAudio) HoldMusic() (media.Source, bool) {
	p, _, ok := a.set.Lookup("music", "hold")
	if !ok {
		return nil, false
	}
	return media.NewLoop(p), true
}

// Announce plays prompts around a spoken number, such as queue_position_before, 3,
// queue_position_after, in lang.
func (a *PromptAudio) Announce(leg media.Leg, lang, before string, n int64, after string) Playback {
	names := append([]string{before}, SayNumber(lang, n)...)
	return a.Play(leg, lang, append(names, after))
}
