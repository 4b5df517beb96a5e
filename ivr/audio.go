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
