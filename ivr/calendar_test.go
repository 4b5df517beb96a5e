package ivr

import (
	"testing"
	"time"
)

// The hours branch of testdata/all.yaml on China's real 2026 calendar: holidays and rest
// days are closed, working days (including 调休 weekend days) open 08:00–20:00.
func TestBranchOnThe2026Calendar(t *testing.T) {
	tests := []struct {
		day  string
		at   string
		open bool
		why  string
	}{
		{"2026-01-01", "10:00", false, "元旦 (Thu)"},
		{"2026-01-03", "10:00", false, "元旦 (Sat)"},
		{"2026-01-04", "10:00", true, "调休: Sunday worked for 元旦"},
		{"2026-01-05", "10:00", true, "ordinary Monday"},
		{"2026-02-14", "10:00", true, "调休: Saturday worked for 春节"},
		{"2026-02-15", "10:00", false, "春节 starts (Sun)"},
		{"2026-02-18", "10:00", false, "春节 (Wed)"},
		{"2026-02-23", "10:00", false, "春节 ends (Mon)"},
		{"2026-02-24", "10:00", true, "first day back"},
		{"2026-02-28", "10:00", true, "调休: Saturday worked for 春节"},
		{"2026-03-01", "10:00", false, "ordinary Sunday"},
		{"2026-04-06", "10:00", false, "清明 (Mon)"},
		{"2026-05-01", "10:00", false, "劳动节 (Fri)"},
		{"2026-05-05", "10:00", false, "劳动节 (Tue)"},
		{"2026-05-09", "10:00", true, "调休: Saturday worked for 劳动节"},
		{"2026-05-10", "10:00", false, "ordinary Sunday"},
		{"2026-06-19", "10:00", false, "端午 (Fri)"},
		{"2026-09-20", "10:00", true, "调休: Sunday worked for 中秋"},
		{"2026-09-25", "10:00", false, "中秋 (Fri)"},
		{"2026-10-01", "10:00", false, "国庆 (Thu)"},
		{"2026-10-07", "10:00", false, "国庆 ends (Wed)"},
		{"2026-10-08", "10:00", true, "first day back"},
		{"2026-10-10", "10:00", true, "调休: Saturday worked for 国庆"},
		{"2026-10-11", "10:00", false, "ordinary Sunday"},
		{"2026-11-27", "07:59", false, "working day, before hours"},
		{"2026-11-27", "08:00", true, "working day, opening"},
		{"2026-11-27", "19:59", true, "working day, last minute"},
		{"2026-11-27", "20:00", false, "working day, closed"},
	}
	for _, tc := range tests {
		t.Run(tc.day+" "+tc.at, func(t *testing.T) {
			at, err := time.ParseInLocation("2006-01-02 15:04", tc.day+" "+tc.at, chinaStandardTime)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t)
			h.clk.now = at
			f := loadTestFlow(t, h)
			o := h.opts()
			o.Calendar = calendar2026{}
			out := h.run(f, "hours", o)
			open := out.Action == ActionQueue
			if open != tc.open {
				t.Errorf("%s (%s): open = %v, want %v\n%s", tc.day, tc.why, open, tc.open, pathString(out.Path))
			}
		})
	}
}

// A branch evaluates in China Standard Time whatever the clock's zone: 01:00 UTC is 09:00 in Hangzhou.
func TestBranchUsesChinaTime(t *testing.T) {
	h := newHarness(t)
	h.clk.now = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	f := loadTestFlow(t, h)
	o := h.opts()
	o.Calendar = calendar2026{}
	if out := h.run(f, "hours", o); out.Action != ActionQueue {
		t.Errorf("01:00 UTC on a Friday is closed:\n%s", pathString(out.Path))
	}
}

func TestBranchConditions(t *testing.T) {
	src := `
nodes:
  b:
    branch:
      - {dialled: ["12369", "12358"], next: q1}
      - {caller: '^1(39|38)', attribute: open_case, next: q2}
      - {weekday: [sat, sun], next: q3}
      - {time: "22:00-06:00", next: q4}
      - {vars: {vip: "yes"}, next: q5}
    default: q6
  q1: {queue: {skill: environment}}
  q2: {queue: {skill: general, priority: 9}}
  q3: {queue: {}}
  q4: {queue: {}}
  q5: {queue: {}}
  q6: {queue: {}}
`
	tests := []struct {
		name    string
		dialled string
		caller  string
		at      time.Time
		vars    map[string]string
		want    string
	}{
		{"dialled 12358", "12358", "13900000000", t0, nil, "q1"},
		{"open case", "12345", "13900000000", t0, nil, "q2"},
		{"open case but another prefix", "12345", "18900000000", t0, nil, "q6"},
		{"no open case", "12345", "13800000001", t0, nil, "q6"},
		{"saturday", "12345", "", time.Date(2026, 11, 28, 12, 0, 0, 0, chinaStandardTime), nil, "q3"},
		{"night spans midnight", "12345", "", time.Date(2026, 11, 27, 23, 0, 0, 0, chinaStandardTime), nil, "q4"},
		{"early morning", "12345", "", time.Date(2026, 11, 27, 5, 59, 0, 0, chinaStandardTime), nil, "q4"},
		{"variable", "12345", "", t0, map[string]string{"vip": "yes"}, "q5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.clk.now = tc.at
			f, err := Load("b.yaml", []byte(src), LoadOptions{Audio: h.audio})
			if err != nil {
				t.Fatal(err)
			}
			o := h.opts()
			o.Dialled, o.Caller, o.Vars = tc.dialled, tc.caller, tc.vars
			o.Callers = openCases{"13900000000": true, "18900000000": true}
			out := h.run(f, "", o)
			if out.Node != tc.want {
				t.Errorf("went to %s, want %s\n%s", out.Node, tc.want, pathString(out.Path))
			}
		})
	}
}
