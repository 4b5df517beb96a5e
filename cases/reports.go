package cases

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Period is [From, To). The previous period is the same length just before.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Previous is the period of the same length that ends where p starts.
func (p Period) Previous() Period {
	return Period{From: p.From.Add(-p.To.Sub(p.From)), To: p.From}
}

func (p Period) check() error {
	if p.From.IsZero() || p.To.IsZero() || !p.To.After(p.From) {
		return invalid("period", "needs from < to")
	}
	if p.To.Sub(p.From) > 3*366*24*time.Hour {
		return invalid("period", "is longer than three years")
	}
	return nil
}

// CountRow is one line of a count report. Change is (Count-PrevCount)/PrevCount,
// absent when there was nothing in the previous period.
type CountRow struct {
	Key       string   `json:"key"`
	Name      string   `json:"name,omitempty"`
	Count     int64    `json:"count"`
	Share     float64  `json:"share"`
	PrevCount int64    `json:"prev_count"`
	Change    *float64 `json:"change,omitempty"`
}

// CountReport counts cases by a dimension, with the previous period beside.
type CountReport struct {
	Period    Period     `json:"period"`
	Prev      Period     `json:"prev"`
	Total     int64      `json:"total"`
	PrevTotal int64      `json:"prev_total"`
	Rows      []CountRow `json:"rows"`
}

// RepeatRow is a caller or a place with several cases in the period.
type RepeatRow struct {
	Key          string `json:"key"`
	Cases        int64  `json:"cases"`
	Open         int64  `json:"open"`
	Confidential bool   `json:"confidential"` // some of them are confidential: mask Key for unauthorised users
}

// DeptRow is a department's KPIs over the cases dispatched to it in the period.
// OnTimeRate = on time / (on time + late), where late counts replies after
// the deadline and unreplied cases past it; ResolutionRate = resolved /
// replied; SatisfactionRate = (satisfied + basically satisfied) / evaluated.
type DeptRow struct {
	Dept             string  `json:"dept"`
	Name             string  `json:"name,omitempty"`
	Dispatched       int64   `json:"dispatched"`
	Replied          int64   `json:"replied"`
	OnTime           int64   `json:"on_time"`
	Late             int64   `json:"late"`
	Resolved         int64   `json:"resolved"`
	Evaluated        int64   `json:"evaluated"`
	Satisfied        int64   `json:"satisfied"`
	OnTimeRate       float64 `json:"on_time_rate"`
	ResolutionRate   float64 `json:"resolution_rate"`
	SatisfactionRate float64 `json:"satisfaction_rate"`
}

// AnswerRates are the 12345 service levels from call events: the share of
// offered calls answered within 15 s, and within 24 h (a callback counts,
// with its real delay).
type AnswerRates struct {
	Period        Period  `json:"period"`
	Offered       int64   `json:"offered"`
	Answered      int64   `json:"answered"`
	AnsweredIn15s int64   `json:"answered_in_15s"`
	AnsweredIn24h int64   `json:"answered_in_24h"`
	Abandoned     int64   `json:"abandoned"`
	Rate15s       float64 `json:"rate_15s"`
	Rate24h       float64 `json:"rate_24h"`
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// bucketOf is the 32-day repeat bucket of a time in microseconds, as the
// migrations compute it.
func bucketOf(us int64) int64 {
	return (us + 8*3600_000_000) / 86400_000_000 / 32
}

// chinaDay is t's day number (days since 1970-01-01 in China time) when t
// is a China midnight: such periods are answered from the daily rollups.
func chinaDay(t time.Time) (int64, bool) {
	const day = 86400_000_000
	us := t.UnixMicro() + 8*3600_000_000
	if us%day != 0 {
		return 0, false
	}
	return us / day, true
}

func (s *SQLStore) countBy(ctx context.Context, col string, p Period) (map[string]int64, error) {
	q := `SELECT ` + col + `, COUNT(*) FROM cases WHERE created_us >= $1 AND created_us < $2 GROUP BY ` + col
	args := []any{p.From.UnixMicro(), p.To.UnixMicro()}
	d0, ok0 := chinaDay(p.From)
	d1, ok1 := chinaDay(p.To)
	if ok0 && ok1 {
		rcol := map[string]string{"category": "category", "dialled_number": "dialled"}[col]
		q = `SELECT ` + rcol + `, CAST(SUM(n) AS BIGINT) FROM case_counts WHERE day >= $1 AND day < $2 GROUP BY ` + rcol
		args = []any{d0, d1}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		if n != 0 {
			m[k] += n
		}
	}
	return m, rows.Err()
}

func (s *SQLStore) countReport(ctx context.Context, col string, p Period, key func(string) string, name func(string) string) (CountReport, error) {
	if err := p.check(); err != nil {
		return CountReport{}, err
	}
	r := CountReport{Period: p, Prev: p.Previous()}
	cur, err := s.countBy(ctx, col, p)
	if err != nil {
		return r, err
	}
	prev, err := s.countBy(ctx, col, r.Prev)
	if err != nil {
		return r, err
	}
	fold := func(m map[string]int64) (map[string]int64, int64) {
		out, total := map[string]int64{}, int64(0)
		for k, n := range m {
			out[key(k)] += n
			total += n
		}
		return out, total
	}
	cm, ct := fold(cur)
	pm, pt := fold(prev)
	r.Total, r.PrevTotal = ct, pt
	keys := map[string]bool{}
	for k := range cm {
		keys[k] = true
	}
	for k := range pm {
		keys[k] = true
	}
	for k := range keys {
		row := CountRow{Key: k, Name: name(k), Count: cm[k], PrevCount: pm[k], Share: ratio(cm[k], ct)}
		if pm[k] > 0 {
			ch := float64(cm[k]-pm[k]) / float64(pm[k])
			row.Change = &ch
		}
		r.Rows = append(r.Rows, row)
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		if r.Rows[i].Count != r.Rows[j].Count {
			return r.Rows[i].Count > r.Rows[j].Count
		}
		return r.Rows[i].Key < r.Rows[j].Key
	})
	return r, nil
}

// ByCategory counts cases created in the period by category, level 1 (top)
// or 2. Uncategorised cases have the empty key.
func (s *SQLStore) ByCategory(ctx context.Context, p Period, level int) (CountReport, error) {
	if level != 1 && level != 2 {
		return CountReport{}, invalid("level", "must be 1 or 2")
	}
	key := func(k string) string {
		if level == 1 && len(k) >= 2 {
			return k[:2]
		}
		return k
	}
	name := func(k string) string {
		c, _ := s.opts.Taxonomy.Lookup(k)
		return c.Name
	}
	return s.countReport(ctx, "category", p, key, name)
}

// ByDialled counts cases by the number the citizen dialled: 12345 or a
// legacy line kept in parallel (双号并行).
func (s *SQLStore) ByDialled(ctx context.Context, p Period) (CountReport, error) {
	id := func(k string) string { return k }
	return s.countReport(ctx, "dialled_number", p, id, func(string) string { return "" })
}

// top finds the values of col (caller or location) with most cases in the
// period. Candidates come from the repeat index (a caller with k cases in
// the period has k-1 cases whose predecessor is in it); their counts are then
// taken exactly from the cases themselves.
func (s *SQLStore) top(ctx context.Context, col, prevCol string, p Period, n int) ([]RepeatRow, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if n <= 0 || n > 1000 {
		return nil, invalid("n", "must be 1 to 1000")
	}
	from, to := p.From.UnixMicro(), p.To.UnixMicro()
	q := `SELECT ` + col + `, COUNT(*) FROM cases
		WHERE ` + prevCol + ` IS NOT NULL AND created_us >= $1 AND created_us < $2 AND ` + prevCol + ` >= $1
		GROUP BY ` + col + ` ORDER BY 2 DESC, 1 LIMIT $3`
	args := []any{from, to, 2*n + 10}
	if p.To.Sub(p.From) > 45*24*time.Hour {
		// Long periods: candidates from the 32-day repeat buckets that
		// overlap the period, a few hundred thousand rows at most a year.
		kind := 0
		if col == "location" {
			kind = 1
		}
		q = `SELECT key, CAST(SUM(n) AS BIGINT) FROM repeat_counts WHERE kind = $1 AND bucket >= $2 AND bucket <= $3
			GROUP BY key HAVING SUM(n) > 0 ORDER BY 2 DESC, 1 LIMIT $4`
		args = []any{kind, bucketOf(from), bucketOf(to - 1), 2*n + 10}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	var keys []string
	for rows.Next() {
		var k string
		var c int64
		if err := rows.Scan(&k, &c); err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	args = []any{from, to}
	ph := make([]string, len(keys))
	for i, k := range keys {
		args = append(args, k)
		ph[i] = "$" + strconv.Itoa(i+3)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT `+col+`, COUNT(*),
		SUM(CASE WHEN state IN `+openStatesSQL+` THEN 1 ELSE 0 END),
		SUM(CASE WHEN confidential THEN 1 ELSE 0 END)
		FROM cases WHERE `+col+` IN (`+strings.Join(ph, ", ")+`) AND created_us >= $1 AND created_us < $2
		GROUP BY `+col, args...)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []RepeatRow
	for rows.Next() {
		var r RepeatRow
		var conf int64
		if err := rows.Scan(&r.Key, &r.Cases, &r.Open, &conf); err != nil {
			return nil, err
		}
		r.Confidential = conf > 0
		if r.Cases > 1 {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cases != out[j].Cases {
			return out[i].Cases > out[j].Cases
		}
		return out[i].Key < out[j].Key
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// TopCallers lists the callers with most cases in the period (two or more).
func (s *SQLStore) TopCallers(ctx context.Context, p Period, n int) ([]RepeatRow, error) {
	return s.top(ctx, "caller_number", "caller_prev_us", p, n)
}

// TopLocations lists the places with most cases in the period (two or more).
func (s *SQLStore) TopLocations(ctx context.Context, p Period, n int) ([]RepeatRow, error) {
	return s.top(ctx, "location", "loc_prev_us", p, n)
}

func (s *SQLStore) DepartmentKPIs(ctx context.Context, p Period) ([]DeptRow, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	now := s.now().UnixMicro()
	d0, ok0 := chinaDay(p.From)
	d1, ok1 := chinaDay(p.To)
	if ok0 && ok1 {
		return s.deptFromRollup(ctx, d0, d1, p, now)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT lead_dept, COUNT(*),
		SUM(CASE WHEN replied_us IS NOT NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN replied_us IS NOT NULL AND replied_us <= deadline_us THEN 1 ELSE 0 END),
		SUM(CASE WHEN (replied_us IS NOT NULL AND replied_us > deadline_us) OR (replied_us IS NULL AND deadline_us < $3) THEN 1 ELSE 0 END),
		SUM(CASE WHEN replied_us IS NOT NULL AND resolved THEN 1 ELSE 0 END),
		SUM(CASE WHEN evaluation > 0 THEN 1 ELSE 0 END),
		SUM(CASE WHEN evaluation >= 2 THEN 1 ELSE 0 END)
		FROM cases WHERE lead_dept <> '' AND dispatched_us >= $1 AND dispatched_us < $2
		GROUP BY lead_dept ORDER BY lead_dept`, p.From.UnixMicro(), p.To.UnixMicro(), now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeptRow
	for rows.Next() {
		var r DeptRow
		if err := rows.Scan(&r.Dept, &r.Dispatched, &r.Replied, &r.OnTime, &r.Late, &r.Resolved, &r.Evaluated, &r.Satisfied); err != nil {
			return nil, err
		}
		d, _ := s.opts.Depts.Lookup(r.Dept)
		r.Name = d.Name
		r.OnTimeRate = ratio(r.OnTime, r.OnTime+r.Late)
		r.ResolutionRate = ratio(r.Resolved, r.Replied)
		r.SatisfactionRate = ratio(r.Satisfied, r.Evaluated)
		out = append(out, r)
	}
	return out, rows.Err()
}

// deptFromRollup adds to the daily rollup the one figure that depends on
// "now": unreplied cases already past their deadline.
func (s *SQLStore) deptFromRollup(ctx context.Context, d0, d1 int64, p Period, now int64) ([]DeptRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT dept, CAST(SUM(dispatched) AS BIGINT), CAST(SUM(replied) AS BIGINT),
		CAST(SUM(on_time) AS BIGINT), CAST(SUM(late) AS BIGINT), CAST(SUM(resolved) AS BIGINT),
		CAST(SUM(evaluated) AS BIGINT), CAST(SUM(satisfied) AS BIGINT)
		FROM dept_counts WHERE day >= $1 AND day < $2 GROUP BY dept ORDER BY dept`, d0, d1)
	if err != nil {
		return nil, s.wrap(err)
	}
	var out []DeptRow
	idx := map[string]int{}
	for rows.Next() {
		var r DeptRow
		if err := rows.Scan(&r.Dept, &r.Dispatched, &r.Replied, &r.OnTime, &r.Late, &r.Resolved, &r.Evaluated, &r.Satisfied); err != nil {
			rows.Close()
			return nil, err
		}
		if r.Dispatched == 0 {
			continue
		}
		idx[r.Dept] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT lead_dept, COUNT(*) FROM cases
		WHERE replied_us IS NULL AND lead_dept <> '' AND dispatched_us >= $1 AND dispatched_us < $2 AND deadline_us < $3
		GROUP BY lead_dept`, p.From.UnixMicro(), p.To.UnixMicro(), now)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var dept string
		var late int64
		if err := rows.Scan(&dept, &late); err != nil {
			return nil, err
		}
		if i, ok := idx[dept]; ok {
			out[i].Late += late
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		r := &out[i]
		d, _ := s.opts.Depts.Lookup(r.Dept)
		r.Name = d.Name
		r.OnTimeRate = ratio(r.OnTime, r.OnTime+r.Late)
		r.ResolutionRate = ratio(r.Resolved, r.Replied)
		r.SatisfactionRate = ratio(r.Satisfied, r.Evaluated)
	}
	return out, nil
}

func (s *SQLStore) AnswerRates(ctx context.Context, p Period) (AnswerRates, error) {
	r := AnswerRates{Period: p}
	if err := p.check(); err != nil {
		return r, err
	}
	d0, ok0 := chinaDay(p.From)
	d1, ok1 := chinaDay(p.To)
	if ok0 && ok1 {
		err := s.db.QueryRowContext(ctx, `SELECT CAST(COALESCE(SUM(offered), 0) AS BIGINT), CAST(COALESCE(SUM(answered), 0) AS BIGINT),
			CAST(COALESCE(SUM(in15), 0) AS BIGINT), CAST(COALESCE(SUM(in24), 0) AS BIGINT), CAST(COALESCE(SUM(abandoned), 0) AS BIGINT)
			FROM call_counts WHERE day >= $1 AND day < $2`, d0, d1).Scan(&r.Offered, &r.Answered, &r.AnsweredIn15s, &r.AnsweredIn24h, &r.Abandoned)
		r.Rate15s, r.Rate24h = ratio(r.AnsweredIn15s, r.Offered), ratio(r.AnsweredIn24h, r.Offered)
		return r, s.wrap(err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT type, COUNT(*),
		SUM(CASE WHEN value <= 15000 THEN 1 ELSE 0 END),
		SUM(CASE WHEN value <= 86400000 THEN 1 ELSE 0 END)
		FROM events WHERE type IN ('call.offered','call.answered','call.abandoned') AND at_us >= $1 AND at_us < $2
		GROUP BY type`, p.From.UnixMicro(), p.To.UnixMicro())
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var n int64
		var in15, in24 sql.NullInt64
		if err := rows.Scan(&typ, &n, &in15, &in24); err != nil {
			return r, err
		}
		switch EventType(typ) {
		case EventCallOffered:
			r.Offered = n
		case EventCallAnswered:
			r.Answered, r.AnsweredIn15s, r.AnsweredIn24h = n, in15.Int64, in24.Int64
		case EventCallAbandoned:
			r.Abandoned = n
		}
	}
	r.Rate15s, r.Rate24h = ratio(r.AnsweredIn15s, r.Offered), ratio(r.AnsweredIn24h, r.Offered)
	return r, rows.Err()
}

// ---- CSV ----

func f4(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
func i64(v int64) string  { return strconv.FormatInt(v, 10) }

func writeCSV(w io.Writer, rows [][]string) error {
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("cases: csv: %w", err)
	}
	return nil
}

// WriteCountCSV writes a count report: key,name,count,share,prev_count,change.
func WriteCountCSV(w io.Writer, r CountReport) error {
	out := [][]string{{"key", "name", "count", "share", "prev_count", "change"}}
	for _, x := range r.Rows {
		ch := ""
		if x.Change != nil {
			ch = f4(*x.Change)
		}
		out = append(out, []string{csvSafe(x.Key), csvSafe(x.Name), i64(x.Count), f4(x.Share), i64(x.PrevCount), ch})
	}
	out = append(out, []string{"total", "", i64(r.Total), "1.0000", i64(r.PrevTotal), ""})
	return writeCSV(w, out)
}

// WriteRepeatCSV writes top callers or locations: key,cases,open,confidential.
func WriteRepeatCSV(w io.Writer, rows []RepeatRow) error {
	out := [][]string{{"key", "cases", "open", "confidential"}}
	for _, x := range rows {
		out = append(out, []string{csvSafe(x.Key), i64(x.Cases), i64(x.Open), strconv.FormatBool(x.Confidential)})
	}
	return writeCSV(w, out)
}

// WriteDeptCSV writes department KPIs.
func WriteDeptCSV(w io.Writer, rows []DeptRow) error {
	out := [][]string{{"dept", "name", "dispatched", "replied", "on_time", "late", "resolved", "evaluated", "satisfied",
		"on_time_rate", "resolution_rate", "satisfaction_rate"}}
	for _, x := range rows {
		out = append(out, []string{x.Dept, csvSafe(x.Name), i64(x.Dispatched), i64(x.Replied), i64(x.OnTime), i64(x.Late),
			i64(x.Resolved), i64(x.Evaluated), i64(x.Satisfied), f4(x.OnTimeRate), f4(x.ResolutionRate), f4(x.SatisfactionRate)})
	}
	return writeCSV(w, out)
}

// WriteAnswerCSV writes the answer rates as one row.
func WriteAnswerCSV(w io.Writer, r AnswerRates) error {
	return writeCSV(w, [][]string{
		{"from", "to", "offered", "answered", "answered_in_15s", "answered_in_24h", "abandoned", "rate_15s", "rate_24h"},
		{r.Period.From.Format(time.RFC3339), r.Period.To.Format(time.RFC3339), i64(r.Offered), i64(r.Answered),
			i64(r.AnsweredIn15s), i64(r.AnsweredIn24h), i64(r.Abandoned), f4(r.Rate15s), f4(r.Rate24h)},
	})
}

// csvSafe defuses spreadsheet formulas: locations are typed by citizens, and
// a cell starting with = + - @ would run in the reviewer's spreadsheet.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
