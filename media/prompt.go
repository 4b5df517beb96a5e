package media

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Prompt is a recorded announcement, encoded once per codec at load so that
// playing it costs one copy per frame. Its length is padded to whole frames with silence.
type Prompt struct {
	Name   string
	frames int
	ulaw   []byte
	alaw   []byte
}

// NewPrompt encodes 8 kHz linear samples into a prompt.
func NewPrompt(name string, pcm []int16) *Prompt {
	frames := (len(pcm) + FrameSamples - 1) / FrameSamples
	padded := make([]int16, frames*FrameSamples)
	copy(padded, pcm)
	p := &Prompt{Name: name, frames: frames, ulaw: make([]byte, len(padded)), alaw: make([]byte, len(padded))}
	EncodeFrame(PCMU, p.ulaw, padded)
	EncodeFrame(PCMA, p.alaw, padded)
	return p
}

// LoadPrompt decodes a WAV file (8 kHz mono PCM16 or G.711) into a prompt; a file in
// any other format is refused with its name and what is wrong.
func LoadPrompt(name string, wav []byte) (*Prompt, error) {
	pcm, err := DecodeWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("prompt %s: no audio", name)
	}
	return NewPrompt(name, pcm), nil
}

// Duration is the prompt's length in whole frames.
func (p *Prompt) Duration() time.Duration { return time.Duration(p.frames) * FrameDuration }

// Frames is the prompt's length in 20 ms frames.
func (p *Prompt) Frames() int { return p.frames }

// frame returns frame i of the prompt in codec c; no copy.
func (p *Prompt) frame(c Codec, i int) []byte {
	b := p.ulaw
	if c == PCMA {
		b = p.alaw
	}
	return b[i*FrameSamples : (i+1)*FrameSamples]
}

// PCM decodes the prompt back to linear samples (tests and analysis; not for the hot path).
func (p *Prompt) PCM() []int16 {
	out := make([]int16, len(p.ulaw))
	DecodeFrame(PCMU, out, p.ulaw)
	return out
}

// Languages a prompt set knows; a prompt missing in one falls back to the other.
var promptLanguages = []string{"zh", "en"}

// PromptSet holds every prompt by language and name: the built-in ones, overridden file by
// file by an operator's folder with the same layout (<lang>/<name>.wav, music/<name>.wav).
type PromptSet struct {
	byKey map[string]*Prompt // "lang/name"
}

// LoadPromptSet loads every WAV under fsys (layout <dir>/<name>.wav) and then every WAV in
// the override folder (if not ""), which replaces built-in prompts by name. Any file in a
// wrong format is an error naming it; all such errors are reported together.
func LoadPromptSet(fsys fs.FS, override string) (*PromptSet, error) {
	s := &PromptSet{byKey: map[string]*Prompt{}}
	var errs []error
	load := func(fsys fs.FS, origin string) {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.EqualFold(path.Ext(p), ".wav") {
				return nil
			}
			dir := path.Base(path.Dir(p))
			name := strings.TrimSuffix(path.Base(p), path.Ext(p))
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(origin, p), err))
				return nil
			}
			pr, err := LoadPrompt(dir+"/"+name, data)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(origin, p), err))
				return nil
			}
			s.byKey[dir+"/"+name] = pr
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("prompts %s: %w", origin, err))
		}
	}
	if fsys != nil {
		load(fsys, "built-in")
	}
	if override != "" {
		if _, err := os.Stat(override); err != nil {
			errs = append(errs, fmt.Errorf("prompt folder %s: %w", override, err))
		} else {
			load(os.DirFS(override), override)
		}
	}
	return s, errors.Join(errs...)
}

// Lookup finds a prompt by language ("zh", "en", or a folder such as "music") and name,
// falling back to the other language; usedLang says which one was found.
func (s *PromptSet) Lookup(lang, name string) (p *Prompt, usedLang string, ok bool) {
	if p, ok := s.byKey[lang+"/"+name]; ok {
		return p, lang, true
	}
	for _, l := range promptLanguages {
		if p, ok := s.byKey[l+"/"+name]; ok {
			return p, l, true
		}
	}
	return nil, "", false
}

// Names lists the loaded prompts as "lang/name", sorted.
func (s *PromptSet) Names() []string {
	out := make([]string, 0, len(s.byKey))
	for k := range s.byKey {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
