package cases

import "time"

// IsHoliday reports whether the day is a public holiday (a day off by the State
// Council's arrangement), whatever its weekday; an ordinary weekend is not a holiday.
func (c *Calendar) IsHoliday(t time.Time) bool { return c.off[civilOf(t)] }

// IsWorkingDay is IsWorkday under the name IVR branches use.
func (c *Calendar) IsWorkingDay(t time.Time) bool { return c.IsWorkday(t) }
