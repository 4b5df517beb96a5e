package cases

import (
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, ChinaTime)
	if err != nil {
		panic(err)
	}
	return t
}

func TestChina2026Arrangement(t *testing.T) {
	c := BuiltinCalendar()
	// The moved working days are all weekend days, the holidays include the
	// festivals themselves; a typo in the table breaks one of these.
	for _, s := range China2026().Workdays {
		wd := day(s).Weekday()
		if wd != time.Saturday && wd != time.Sunday {
			t.Errorf("%s is a %s, not a weekend day worked", s, wd)
		}
		if !c.IsWorkday(day(s)) {
			t.Errorf("%s should be a working day", s)
		}
	}
	cases := map[string]bool{
		"2026-01-01": false, "2026-01-02": false, "2026-01-04": true, "2026-01-05": true,
		"2026-02-13": true, "2026-02-14": true, "2026-02-15": false, "2026-02-23": false,
		"2026-02-24": true, "2026-02-28": true, "2026-03-01": false,
		"2026-04-03": true, "2026-04-06": false, "2026-04-07": true,
		"2026-05-05": false, "2026-05-06": true, "2026-05-09": true, "2026-05-10": false,
		"2026-06-19": false, "2026-06-22": true,
		"2026-09-20": true, "2026-09-25": false, "2026-09-28": true,
		"2026-10-07": false, "2026-10-08": true, "2026-10-10": true, "2026-10-11": false,
		"2026-11-27": true, "2026-11-28": false,
	}
	for s, want := range cases {
		if got := c.IsWorkday(day(s)); got != want {
			t.Errorf("IsWorkday(%s) = %v, want %v", s, got, want)
		}
	}
	if !c.Covered(day("2026-07-01")) || c.Covered(day("2027-07-01")) {
		t.Error("Covered is wrong")
	}
}

func TestAddWorkingDays(t *testing.T) {
	c := BuiltinCalendar()
	tests := []struct {
		from string
		n    int
		want string // the deadline is the end of this day
	}{
		{"2026-11-27T18:00", 1, "2026-11-30"},  // Friday evening → Monday
		{"2026-11-27T09:00", 7, "2026-12-08"},  // skips one weekend
		{"2026-09-30T10:00", 1, "2026-10-08"},  // across National Day
		{"2026-09-18T10:00", 1, "2026-09-20"},  // Sunday Sep 20 is worked
		{"2026-02-12T10:00", 2, "2026-02-14"},  // Feb 13, then the worked Saturday
		{"2026-02-13T10:00", 2, "2026-02-24"},  // Sat 14, then past Spring Festival
		{"2026-12-31T23:30", 1, "2027-01-01"},  // uncovered year: weekdays
		{"2026-11-28T10:00", 15, "2026-12-18"}, // from a Saturday
	}
	for _, tc := range tests {
		from, _ := time.ParseInLocation("2006-01-02T15:04", tc.from, ChinaTime)
		got := c.AddWorkingDays(from, tc.n)
		want := day(tc.want).AddDate(0, 0, 1).UTC()
		if !got.Equal(want) {
			t.Errorf("AddWorkingDays(%s, %d) = %s, want end of %s", tc.from, tc.n, got.In(ChinaTime), tc.want)
		}
	}
}

func TestCalendarConfig(t *testing.T) {
	c, err := LoadCalendar(strings.NewReader(`[{"year":2027,"holidays":["2027-01-01"],"workdays":["2027-01-02"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	if c.IsWorkday(day("2027-01-01")) || !c.IsWorkday(day("2027-01-02")) {
		t.Error("configured year not applied")
	}
	for _, bad := range []string{
		`[{"year":2027,"holidays":["2026-01-01"]}]`,
		`[{"year":2027,"holidays":["2027-13-01"]}]`,
		`[{"year":2027,"holidays":["2027-01-01"],"workdays":["2027-01-01"]}]`,
		`[{"year":2027},{"year":2027}]`,
		`{`,
	} {
		if _, err := LoadCalendar(strings.NewReader(bad)); err == nil {
			t.Errorf("LoadCalendar(%s) accepted", bad)
		}
	}
}

func TestPolicyDeadline(t *testing.T) {
	p := &Policy{Calendar: BuiltinCalendar(), Taxonomy: BuiltinTaxonomy()}
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, ChinaTime)
	if got := p.Deadline(start, "0201", UrgencyEmergency); !got.Equal(start.Add(2 * time.Hour)) {
		t.Errorf("emergency: %s", got)
	}
	if got := p.Deadline(start, "0201", UrgencyUrgent); !got.Equal(start.Add(24 * time.Hour)) {
		t.Errorf("urgent: %s", got)
	}
	if got := p.Deadline(start, "0201", UrgencyNormal); !got.Equal(day("2026-12-09").UTC()) { // 7 wd: end of Dec 8
		t.Errorf("noise, 7 wd: %s", got.In(ChinaTime))
	}
	if got := p.Deadline(start, "0101", UrgencyNormal); !got.Equal(day("2026-12-19").UTC()) { // 15 wd: end of Dec 18
		t.Errorf("illegal construction, 15 wd: %s", got.In(ChinaTime))
	}
}
