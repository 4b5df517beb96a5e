package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestPromptSetOverrideAndErrors(t *testing.T) {
	tone := EncodeWAV(tonePrompt(500, 200e6).PCM())
	other := EncodeWAV(tonePrompt(900, 400e6).PCM())
	builtin := fstest.MapFS{
		"zh/hello.wav":   {Data: tone},
		"en/hello.wav":   {Data: tone},
		"zh/only.wav":    {Data: tone},
		"music/hold.wav": {Data: tone},
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "zh"), 0o755)
	os.WriteFile(filepath.Join(dir, "zh", "hello.wav"), other, 0o644)
	set, err := LoadPromptSet(builtin, dir)
	if err != nil {
		t.Fatal(err)
	}
	p, lang, ok := set.Lookup("zh", "hello")
	if !ok || lang != "zh" || p.Duration() != 400e6 {
		t.Errorf("operator override not used: %v %s %v", ok, lang, p.Duration())
	}
	if p, _, _ := set.Lookup("en", "hello"); p.Duration() != 200e6 {
		t.Error("the override of zh/hello replaced en/hello too")
	}
	if _, lang, ok := set.Lookup("en", "only"); !ok || lang != "zh" {
		t.Errorf("fallback to the other language: %v %s", ok, lang)
	}
	if _, _, ok := set.Lookup("zh", "missing"); ok {
		t.Error("found a prompt that does not exist")
	}

	// A file in a wrong format is refused, naming it.
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "en"), 0o755)
	os.WriteFile(filepath.Join(bad, "en", "loud.wav"), []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\x00\x00\x00\x00"), 0o644)
	os.WriteFile(filepath.Join(bad, "en", "notes.txt"), []byte("ignored"), 0o644)
	_, err = LoadPromptSet(builtin, bad)
	if err == nil || !strings.Contains(err.Error(), "loud.wav") {
		t.Errorf("a 44.1 kHz stereo prompt: err %v, want one naming loud.wav", err)
	}
	if _, err := LoadPromptSet(builtin, filepath.Join(bad, "nope")); err == nil {
		t.Error("a missing override folder was accepted")
	}
}
