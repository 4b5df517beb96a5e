package acd_test

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hotline-12345/hotline/acd"
)

// The configuration as an administrator writes it.
const exampleYAML = `
max_no_answer: 2
queues:
  - name: "12345"
    skill: general
    wrap_up: 15s
    max_wait: 5m
    on_max_wait: {target: voicemail}
    max_length: 200
    on_full: {target: busy-message}
    join_empty: none-logged-in
    leave_empty: none-serving
    on_empty: {target: closed-message}
    missed_callback: true
    missed_callback_min_wait: 10s
    relax:
      - {after: 15s, min_proficiency: 2}
      - {after: 30s, fallback_skill: housing}
      - {after: 60s, overflow: english}
  - name: english
    skill: english
    min_proficiency: 3
`

func TestConfigFromYAML(t *testing.T) {
	var cfg acd.Config
	if err := yaml.Unmarshal([]byte(exampleYAML), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	q := cfg.Queues[0]
	if q.WrapUp != 15*time.Second || q.JoinEmpty != acd.EmptyNoneLoggedIn || q.LeaveEmpty != acd.EmptyNoneServing ||
		q.Relax[2].Overflow != "english" || q.OnMaxWait.Target != "voicemail" || cfg.MaxNoAnswer != 2 {
		t.Fatalf("%+v", cfg)
	}
	var bad acd.Config
	if err := yaml.Unmarshal([]byte("queues: [{name: a, skill: s, join_empty: sometimes}]"), &bad); err == nil {
		t.Fatal("unknown empty rule accepted")
	}
}
