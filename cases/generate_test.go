package cases

import (
	"testing"
)

func TestGeneratorShape(t *testing.T) {
	g := NewGenerator(GenConfig{Year: 2026, Cases: 36500, Seed: 1}, BuiltinTaxonomy(), BuiltinCalendar())
	var n, legacy, illegal, repeatCallers, dispatched, late, phone, offered int
	callers := map[string]int{}
	numbers := map[string]bool{}
	for {
		cs, evs := g.Next(5000)
		if cs == nil {
			break
		}
		for _, e := range evs {
			if e.Type == EventCallOffered {
				offered++
			}
		}
		for _, c := range cs {
			n++
			if numbers[c.Number] {
				t.Fatalf("number %s twice", c.Number)
			}
			numbers[c.Number] = true
			if c.DialledNumber != "12345" && c.DialledNumber != "" {
				legacy++
			}
			if c.Category == "0101" {
				illegal++
			}
			if c.Channel == ChannelPhone {
				phone++
			}
			callers[c.CallerNumber]++
			if c.LeadDept != "" {
				dispatched++
				if !c.RepliedAt.IsZero() && c.RepliedAt.After(c.Deadline) {
					late++
				}
			}
		}
	}
	for _, k := range callers {
		if k > 1 {
			repeatCallers++
		}
	}
	share := func(a, b int) float64 { return float64(a) / float64(b) }
	if n < 35500 || n > 37500 {
		t.Errorf("%d cases for 36,500 asked", n)
	}
	if s := share(illegal, n); s < 0.05 || s > 0.10 {
		t.Errorf("illegal construction share %.3f", s)
	}
	if s := share(legacy, n); s < 0.12 || s > 0.25 {
		t.Errorf("legacy share %.3f", s)
	}
	if s := share(late, dispatched); s < 0.05 || s > 0.15 {
		t.Errorf("late share %.3f", s)
	}
	if repeatCallers < 1000 || offered != phone {
		t.Errorf("%d repeat callers, %d offered for %d phone cases", repeatCallers, offered, phone)
	}
}
