package call

import (
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/sip"
)

func TestSatisfactionScale(t *testing.T) {
	tests := []struct {
		score, scale int
		want         cases.Satisfaction
	}{
		{1, 3, cases.Satisfied}, {2, 3, cases.BasicallySatisfed}, {3, 3, cases.Unsatisfied},
		{1, 5, cases.Satisfied}, {3, 5, cases.BasicallySatisfed}, {5, 5, cases.Unsatisfied},
		{0, 3, cases.Unscored}, {4, 3, cases.Unscored}, {1, 1, cases.Unscored},
	}
	for _, tt := range tests {
		if got := satisfaction(tt.score, tt.scale); got != tt.want {
			t.Errorf("satisfaction(%d of %d) = %d, want %d", tt.score, tt.scale, got, tt.want)
		}
	}
}

// A caller id that is not a number is withheld in the work order, kept as the name.
func TestCaseCallInfo(t *testing.T) {
	n := &Number{Number: "12369"}
	for _, tt := range []struct{ caller, name, wantCaller, wantName string }{
		{"13900001111", "", "13900001111", ""},
		{"+8613900001111", "王芳", "+8613900001111", "王芳"},
		{"anonymous", "", "", "anonymous"},
		{"sipp", "SIPp", "", "SIPp"},
	} {
		ci := caseCallInfo(&sip.InboundCall{ID: "x", Caller: tt.caller, CallerName: tt.name}, n)
		if ci.Caller != tt.wantCaller || ci.CallerName != tt.wantName || ci.Dialled != "12369" {
			t.Errorf("%q/%q → %+v", tt.caller, tt.name, ci)
		}
	}
}

// The registry keeps the newest recent calls, newest first, and forgets the oldest.
func TestRegistryKeepsRecentNewestFirst(t *testing.T) {
	r := newRegistry(3)
	base := time.Unix(1_800_000_000, 0)
	for i := 0; i < 5; i++ {
		r.finish(&record{}, agentdesk.CallInfo{ID: string(rune('a' + i)), Received: base.Add(time.Duration(i) * time.Second)})
	}
	got := r.Calls()
	if len(got) != 3 || got[0].ID != "e" || got[1].ID != "d" || got[2].ID != "c" {
		ids := []string{}
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		t.Errorf("recent calls %v, want [e d c]", ids)
	}
}
