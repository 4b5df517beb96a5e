package cases_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/cases/storetest"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// Data written under schema version 1 must come out of the rollups added by
// later migrations exactly as from the raw rows: the backfills are right.
func TestMigrationBackfills(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dialect, driver string
		gd              goose.Dialect
		dsn             func(t *testing.T) string
		open            func(dsn string) (cases.Store, error)
	}{
		{"sqlite", "sqlite", goose.DialectSQLite3,
			func(t *testing.T) string { return filepath.Join(t.TempDir(), "old.db") },
			func(dsn string) (cases.Store, error) { return cases.OpenSQLite(ctx, dsn, cases.Options{}) }},
		{"postgres", "pgx", goose.DialectPostgres,
			func(t *testing.T) string { return storetest.NewDatabase(t) },
			func(dsn string) (cases.Store, error) { return cases.OpenPostgres(ctx, dsn, cases.Options{}) }},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			dsn := tc.dsn(t)
			db, err := sql.Open(tc.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			mfs, _ := cases.Migrations(tc.dialect)
			prov, err := goose.NewProvider(tc.gd, db, mfs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := prov.UpTo(ctx, 1); err != nil {
				t.Fatal(err)
			}
			g := cases.NewGenerator(cases.GenConfig{Year: 2026, Cases: 3000, Seed: 3}, cases.BuiltinTaxonomy(), cases.BuiltinCalendar())
			tx, _ := db.Begin()
			for {
				cs, evs := g.Next(1000)
				if cs == nil {
					break
				}
				for _, c := range cs {
					var disp, dl, rep any
					if !c.DispatchedAt.IsZero() {
						disp, dl = c.DispatchedAt.UnixMicro(), c.Deadline.UnixMicro()
					}
					if !c.RepliedAt.IsZero() {
						rep = c.RepliedAt.UnixMicro()
					}
					_, err := tx.Exec(`INSERT INTO cases (id, number, channel, caller_number, dialled_number, category, location,
						state, lead_dept, dispatched_us, deadline_us, replied_us, resolved, evaluation, created_us, updated_us)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)`,
						c.ID, c.Number, string(c.Channel), c.CallerNumber, c.DialledNumber, c.Category, c.Location,
						string(c.State), c.LeadDept, disp, dl, rep, c.Resolved, int(c.Evaluation), c.CreatedAt.UnixMicro())
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, e := range evs {
					if _, err := tx.Exec(`INSERT INTO events (id, case_id, type, at_us, value) VALUES ($1, $2, $3, $4, $5)`,
						e.ID, e.CaseID, string(e.Type), e.At.UnixMicro(), e.Value); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s, err := tc.open(dsn) // runs the later migrations
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			year := cases.Period{From: time.Date(2026, 1, 1, 0, 0, 0, 0, cases.ChinaTime), To: time.Date(2027, 1, 1, 0, 0, 0, 0, cases.ChinaTime)}
			checkTop(t, s, year, "year")
			for _, month := range []time.Month{3, 10} {
				aligned := cases.Period{From: time.Date(2026, month, 1, 0, 0, 0, 0, cases.ChinaTime), To: time.Date(2026, month+1, 1, 0, 0, 0, 0, cases.ChinaTime)}
				raw := cases.Period{From: aligned.From.Add(time.Microsecond), To: aligned.To.Add(time.Microsecond)}
				same := func(name string, f func(cases.Period) (any, error)) {
					a, err := f(aligned)
					if err != nil {
						t.Fatal(err)
					}
					r, _ := f(raw)
					if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", r) {
						t.Errorf("%s, %s: rollup\n%+v\nraw\n%+v", name, month, a, r)
					}
				}
				same("by category", func(p cases.Period) (any, error) {
					r, err := s.ByCategory(ctx, p, 2)
					return fmt.Sprint(r.Total, r.PrevTotal, len(r.Rows), r.Rows[0].Key, r.Rows[0].Count), err
				})
				same("by dialled", func(p cases.Period) (any, error) {
					r, err := s.ByDialled(ctx, p)
					return fmt.Sprint(r.Total, r.PrevTotal, len(r.Rows), r.Rows[0].Key, r.Rows[0].Count), err
				})
				same("departments", func(p cases.Period) (any, error) { return s.DepartmentKPIs(ctx, p) })
				same("answer rates", func(p cases.Period) (any, error) {
					r, err := s.AnswerRates(ctx, p)
					r.Period = cases.Period{}
					return r, err
				})
				checkTop(t, s, aligned, month.String())
			}
		})
	}
}

// checkTop compares the top callers and locations with a brute-force count.
func checkTop(t *testing.T, s cases.Store, p cases.Period, label string) {
	t.Helper()
	ctx := context.Background()
	for _, col := range []string{"caller_number", "location"} {
		rows, err := s.(*cases.SQLStore).DB().QueryContext(ctx, `SELECT `+col+`, COUNT(*) FROM cases
			WHERE created_us >= $1 AND created_us < $2 AND `+col+` <> '' GROUP BY `+col+`
			HAVING COUNT(*) > 1 ORDER BY 2 DESC, 1 LIMIT 5`, p.From.UnixMicro(), p.To.UnixMicro())
		if err != nil {
			t.Fatal(err)
		}
		var want string
		for rows.Next() {
			var k string
			var n int64
			rows.Scan(&k, &n)
			want += fmt.Sprintf("%s:%d ", k, n)
		}
		rows.Close()
		var top []cases.RepeatRow
		if col == "location" {
			top, err = s.TopLocations(ctx, p, 5)
		} else {
			top, err = s.TopCallers(ctx, p, 5)
		}
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, r := range top {
			got += fmt.Sprintf("%s:%d ", r.Key, r.Cases)
		}
		if got != want || (got == "" && col == "caller_number") {
			t.Errorf("top by %s, %s:\n got %s\nwant %s", col, label, got, want)
		}
	}
}
