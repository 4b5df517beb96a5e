package cases

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// ChinaTime is UTC+8. China has no daylight saving, so a fixed zone is exact
// and does not depend on the host's tzdata.
var ChinaTime = time.FixedZone("CST", 8*3600)

// HolidayYear is one year's official arrangement: the days off (holidays
// and the weekdays moved into them) and the weekend days that become working
// days (调休). The State Council publishes it each autumn for the next year.
type HolidayYear struct {
	Year     int      `json:"year"`
	Holidays []string `json:"holidays"` // YYYY-MM-DD, days off
	Workdays []string `json:"workdays"` // YYYY-MM-DD, Saturdays/Sundays worked
}

// Calendar answers "is this a working day?" in China time. Years without an
// arrangement fall back to Monday-Friday, which Covered lets callers detect.
type Calendar struct {
	off   map[civil]bool
	on    map[civil]bool
	years map[int]bool
}

type civil struct {
	y int
	m time.Month
	d int
}

func civilOf(t time.Time) civil {
	y, m, d := t.In(ChinaTime).Date()
	return civil{y, m, d}
}

// NewCalendar builds a calendar from yearly arrangements.
func NewCalendar(years ...HolidayYear) (*Calendar, error) {
	c := &Calendar{off: map[civil]bool{}, on: map[civil]bool{}, years: map[int]bool{}}
	for _, y := range years {
		if c.years[y.Year] {
			return nil, fmt.Errorf("calendar: year %d given twice", y.Year)
		}
		c.years[y.Year] = true
		for _, s := range y.Holidays {
			d, err := parseDay(s, y.Year)
			if err != nil {
				return nil, err
			}
			c.off[d] = true
		}
		for _, s := range y.Workdays {
			d, err := parseDay(s, y.Year)
			if err != nil {
				return nil, err
			}
			if c.off[d] {
				return nil, fmt.Errorf("calendar: %s is both a holiday and a working day", s)
			}
			c.on[d] = true
		}
	}
	return c, nil
}

// LoadCalendar reads a JSON array of HolidayYear.
func LoadCalendar(r io.Reader) (*Calendar, error) {
	var ys []HolidayYear
	if err := json.NewDecoder(r).Decode(&ys); err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	return NewCalendar(ys...)
}

func parseDay(s string, year int) (civil, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, ChinaTime)
	if err != nil {
		return civil{}, fmt.Errorf("calendar: %q: %w", s, err)
	}
	if t.Year() != year {
		return civil{}, fmt.Errorf("calendar: %s is not in year %d", s, year)
	}
	return civilOf(t), nil
}

// Covered reports whether the calendar has the official arrangement for t's year.
func (c *Calendar) Covered(t time.Time) bool { return c.years[civilOf(t).y] }

// IsWorkday reports whether t falls on a working day in China.
func (c *Calendar) IsWorkday(t time.Time) bool {
	d := civilOf(t)
	if c.on[d] {
		return true
	}
	if c.off[d] {
		return false
	}
	wd := t.In(ChinaTime).Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkingDays returns the end (24:00 China time) of the n-th working day
// after the day of t: "within 7 working days" of a request received on a
// Friday evening ends with the 7th working day after that Friday.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	lt := t.In(ChinaTime)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, ChinaTime)
	for n > 0 {
		day = day.AddDate(0, 0, 1)
		if c.IsWorkday(day) {
			n--
		}
	}
	return day.AddDate(0, 0, 1).UTC()
}

// China2026 is the State Council's arrangement for 2026 (国务院办公厅关于2026年
// 部分节假日安排的通知, published by Xinhua on 2025-11-04; checked against
// that text): New Year Jan 1-3 (Sun Jan 4 worked); Spring Festival
// Feb 15-23 (Sat Feb 14 and Sat Feb 28 worked); Qingming Apr 4-6; Labour Day
// May 1-5 (Sat May 9 worked); Dragon Boat Jun 19-21; Mid-Autumn Sep 25-27;
// National Day Oct 1-7 (Sun Sep 20 and Sat Oct 10 worked).
func China2026() HolidayYear {
	return HolidayYear{
		Year: 2026,
		Holidays: []string{
			"2026-01-01", "2026-01-02", "2026-01-03",
			"2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
			"2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
			"2026-04-04", "2026-04-05", "2026-04-06",
			"2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
			"2026-06-19", "2026-06-20", "2026-06-21",
			"2026-09-25", "2026-09-26", "2026-09-27",
			"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
			"2026-10-05", "2026-10-06", "2026-10-07",
		},
		Workdays: []string{"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"},
	}
}

// BuiltinCalendar returns a calendar with the built-in years.
func BuiltinCalendar() *Calendar {
	c, err := NewCalendar(China2026())
	if err != nil {
		panic(err)
	}
	return c
}

// Policy computes deadlines from the category's limit and the urgency.
type Policy struct {
	Calendar *Calendar
	Taxonomy *Taxonomy
	// MaxExtensions is how many times a deadline may be extended (default 2).
	MaxExtensions int
}

// Limit describes a time limit for display: either hours or working days.
type Limit struct {
	Hours       int `json:"hours,omitempty"`
	WorkingDays int `json:"working_days,omitempty"`
}

// LimitFor returns the time limit for a category and urgency.
func (p *Policy) LimitFor(category string, u Urgency) Limit {
	switch u {
	case UrgencyEmergency:
		return Limit{Hours: 2}
	case UrgencyUrgent:
		return Limit{Hours: 24}
	}
	if c, ok := p.Taxonomy.Lookup(category); ok && c.WorkingDays > 0 {
		return Limit{WorkingDays: c.WorkingDays}
	}
	return Limit{WorkingDays: 15}
}

// Deadline returns when a case dispatched at start must be replied to.
// Hour limits run on the clock, as urgent matters do not wait for Monday.
func (p *Policy) Deadline(start time.Time, category string, u Urgency) time.Time {
	l := p.LimitFor(category, u)
	if l.Hours > 0 {
		return start.Add(time.Duration(l.Hours) * time.Hour).UTC()
	}
	return p.Calendar.AddWorkingDays(start, l.WorkingDays)
}
