package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/acd"
)

// The printed example is the built-in configuration, field for field.
func TestExampleIsDefaults(t *testing.T) {
	var cfg Config
	if err := ParseConfig("example.yaml", exampleConfig, &cfg); err != nil {
		t.Fatal(err)
	}
	if def := Defaults(); !reflect.DeepEqual(normalise(cfg), normalise(def)) {
		t.Errorf("example differs from defaults:\n%+v\n%+v", cfg, def)
	}
}

func normalise(c Config) Config {
	if len(c.Agents) == 0 {
		c.Agents = nil
	}
	c.ACD.Queues = append([]acd.QueueConfig(nil), c.ACD.Queues...)
	for i := range c.ACD.Queues {
		if len(c.ACD.Queues[i].Relax) == 0 {
			c.ACD.Queues[i].Relax = nil
		}
	}
	for i := range c.Numbers {
		if len(c.Numbers[i].Aliases) == 0 {
			c.Numbers[i].Aliases = nil
		}
	}
	return c
}

func TestBadConfigNamesFileAndField(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"sip:\n  max_calls: -1\n", "sip.max_calls: must be 0"},
		{"sip:\n  listen: nowhere\n", "sip.listen"},
		{"sip:\n  codecs: [G729]\n", `sip.codecs: "G729" is not a supported codec`},
		{"sip:\n  trunks:\n    - name: a\n      sources: [10.0.0.0/33]\n", "sip.trunks[0].sources[0]"},
		{"sip:\n  trunks:\n    - name: a\n      sources: [10.0.0.1]\n      dtmf: smoke\n", "sip.trunks[0].dtmf"},
		{"sip:\n  rtp_timeout: soon\n", `"soon" is not a duration`},
		{"media:\n  rtp_ports: 10-20\n", "media.rtp_ports"},
		{"log_level: loud\n", "log_level"},
		{"db: mysql://x\n", "db: must be a postgres"},
		{"numbers:\n  - number: abc\n    flow: intake\n    skill: s\n", "numbers[0].number"},
		{"colour: blue\n", "field colour not found"},
		{"sip: [1, 2]\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		cfg := Defaults()
		err := ParseConfig("site.yaml", []byte(tt.yaml), &cfg)
		if err == nil || !strings.Contains(err.Error(), "site.yaml") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want one naming site.yaml and %q", tt.yaml, err, tt.want)
		}
	}
}

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, exampleConfig, 0o600)
	os.WriteFile(bad, []byte("sip:\n  max_calls: -5\n  codecs: [opus]\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"config", "check", good}, &out, &errOut); code != 0 {
		t.Errorf("good file: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"config", "check", bad}, &out, &errOut); code != 2 {
		t.Errorf("bad file: exit %d, want 2", code)
	}
	// Every error at once.
	for _, want := range []string{"bad.yaml: sip.max_calls", "bad.yaml: sip.codecs"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut.String())
		}
	}
	errOut.Reset()
	if code := run([]string{"--config", bad}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "bad.yaml") {
		t.Errorf("serve with a bad config: exit %d, %s", code, errOut.String())
	}
	if code := run([]string{"--config", filepath.Join(dir, "missing.yaml")}, &out, &errOut); code != 2 {
		t.Errorf("missing config: exit %d", code)
	}
	if code := run([]string{"--bogus"}, &out, &errOut); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestHelpVersionExample(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 || !strings.Contains(out.String(), "hotline config check FILE") {
			t.Errorf("%v: exit %d, output %q", args, code, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "hotline ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"config", "example"}, &out, &errOut); code != 0 || !bytes.Equal(out.Bytes(), exampleConfig) {
		t.Errorf("config example: %d", code)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(string(exampleConfig))
	f.Add("sip:\n  max_calls: 5\n")
	f.Add("numbers: []\n")
	f.Add("media: {rtp_ports: 30000-30010, jitter_buffer: 60ms}\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg := Defaults()
		if err := ParseConfig("f.yaml", []byte(s), &cfg); err != nil {
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// An accepted configuration must be usable: its ranges and codecs parse.
		if _, _, err := ParsePortRange(cfg.Media.RTPPorts); err != nil {
			t.Fatalf("accepted bad ports: %v", err)
		}
		if _, err := ParseCodecs(cfg.SIP.Codecs); err != nil {
			t.Fatalf("accepted bad codecs: %v", err)
		}
	})
}

// The example configurations under deploy/ stay valid.
func TestDeployConfigsValid(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/*.yaml")
	if len(files) == 0 {
		t.Fatal("no deploy/*.yaml found")
	}
	for _, f := range files {
		if f == "../../deploy/prometheus.yml" {
			continue
		}
		cfg := Defaults()
		if err := LoadConfigFile(f, &cfg); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// A time zone that is not an IANA name is refused, naming the field.
func TestConfigTimeZone(t *testing.T) {
	c := Defaults()
	c.TimeZone = "China/Beijing"
	err := c.Validate("x.yaml")
	if err == nil || !strings.Contains(err.Error(), "time_zone") || !strings.Contains(err.Error(), "x.yaml") {
		t.Fatalf("bad time zone: %v", err)
	}
	c.TimeZone = "Asia/Urumqi"
	if err := c.Validate("x.yaml"); err != nil {
		t.Fatalf("a real zone refused: %v", err)
	}
}
