// Command cases measures the case store: the insert rate through the Store
// API on SQLite and PostgreSQL, the open-case lookup by caller (p50/p99), and
// every report over a generated year of cases (≥ 2 million) on PostgreSQL.
// It prints a Markdown section for bench/RESULTS-cases.md.
//
//	go run ./bench/cases -cases 2000000
//
// PostgreSQL: -pg is an admin DSN (default: the local socket); the program
// creates a database of its own and drops it at the end unless -keep.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/cases"
	"github.com/jackc/pgx/v5"
)

func main() {
	var (
		pgAdmin  = flag.String("pg", "host=/var/run/postgresql user=postgres dbname=postgres sslmode=disable", "PostgreSQL admin DSN")
		nCases   = flag.Int("cases", 2_000_000, "generated cases on PostgreSQL")
		nSQLite  = flag.Int("sqlite-cases", 200_000, "generated cases on SQLite")
		nInsert  = flag.Int("inserts", 3000, "cases created through the Store API per store and concurrency")
		nLookups = flag.Int("lookups", 5000, "open-case lookups")
		runs     = flag.Int("runs", 3, "runs per report (the median is kept)")
		keep     = flag.Bool("keep", false, "keep the benchmark database")
		year     = flag.Int("year", 2026, "year of the generated cases")
		reuse    = flag.String("reuse", "", "skip inserts and the load: measure lookups and reports on this existing PostgreSQL database")
	)
	flag.Parse()
	ctx := context.Background()
	log.SetFlags(0)
	fmt.Printf("## Case store (bench/cases), %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Printf("Machine: %d vCPU, %s, Go %s; load average at start %s\n\n", runtime.NumCPU(), memTotal(), runtime.Version(), loadavg())

	if *reuse != "" {
		pg, err := cases.OpenPostgres(ctx, *pgAdmin+" dbname="+*reuse, cases.Options{Node: 1})
		if err != nil {
			log.Fatal(err)
		}
		defer pg.Close()
		var n int
		pg.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM cases").Scan(&n)
		fmt.Printf("Reusing database %s (%d cases), loaded by an earlier run.\n\n", *reuse, n)
		if _, err := pg.DB().ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
			log.Fatal(err)
		}
		lookupsAndReports(ctx, nil, pg, 0, n, *nLookups, *runs, *year)
		return
	}

	// ---- SQLite ----
	dir, err := os.MkdirTemp("", "hotline-bench-cases-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lite, err := cases.OpenSQLite(ctx, filepath.Join(dir, "cases.db"), cases.Options{StateDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("### Insert rate through Store.Create (one transaction per case, durable commit)")
	fmt.Println()
	fmt.Println("| store | writers | cases | cases/s |")
	fmt.Println("| --- | ---: | ---: | ---: |")
	for _, w := range []int{1, 8} {
		fmt.Printf("| SQLite (WAL, synchronous=FULL) | %d | %d | %.0f |\n", w, *nInsert, insertRate(ctx, lite, *nInsert, w))
	}

	// ---- PostgreSQL ----
	name := fmt.Sprintf("hotline_bench_cases_%d", time.Now().Unix())
	admin, err := pgx.Connect(ctx, *pgAdmin)
	if err != nil {
		log.Fatalf("PostgreSQL at %q: %v", *pgAdmin, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		log.Fatal(err)
	}
	if *keep {
		log.Printf("keeping database %s", name)
	} else {
		defer func() {
			if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				log.Print(err)
			}
			admin.Close(context.Background())
		}()
	}
	pg, err := cases.OpenPostgres(ctx, *pgAdmin+" dbname="+name, cases.Options{StateDir: dir, Node: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	for _, w := range []int{1, 8} {
		fmt.Printf("| PostgreSQL 15 (pgx pool) | %d | %d | %.0f |\n", w, *nInsert, insertRate(ctx, pg, *nInsert, w))
	}
	fmt.Println()

	// ---- bulk load ----
	fmt.Println("### Generated year (COPY on PostgreSQL, batched transactions on SQLite)")
	fmt.Println()
	fmt.Println("| store | cases | events | load time | cases/s |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	liteN, ne, d := load(ctx, lite, *nSQLite, *year)
	fmt.Printf("| SQLite | %d | %d | %s | %.0f |\n", liteN, ne, d.Round(time.Second), float64(liteN)/d.Seconds())
	pgN, ne, d := load(ctx, pg, *nCases, *year)
	fmt.Printf("| PostgreSQL | %d | %d | %s | %.0f |\n", pgN, ne, d.Round(time.Second), float64(pgN)/d.Seconds())
	t0 := time.Now()
	if _, err := pg.DB().ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nVACUUM ANALYZE after the load: %s.\n\n", time.Since(t0).Round(time.Second))

	lookupsAndReports(ctx, lite, pg, liteN, pgN, *nLookups, *runs, *year)
}

func lookupsAndReports(ctx context.Context, lite, pg *cases.SQLStore, liteN, pgN, nLookups, runs, year int) {
	// ---- lookups ----
	fmt.Println("### Open cases of a caller (OpenCasesByCaller)")
	fmt.Println()
	fmt.Println("| store | cases in store | lookups | p50 | p99 | max |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, s := range []struct {
		name string
		st   *cases.SQLStore
		n    int
	}{{"SQLite", lite, liteN}, {"PostgreSQL", pg, pgN}} {
		if s.st == nil {
			continue
		}
		p50, p99, mx := lookups(ctx, s.st, nLookups)
		fmt.Printf("| %s | %d | %d | %s | %s | %s |\n", s.name, s.n, nLookups, p50, p99, mx)
	}
	fmt.Println()

	// ---- reports ----
	yearP := cases.Period{From: time.Date(year, 1, 1, 0, 0, 0, 0, cases.ChinaTime), To: time.Date(year+1, 1, 1, 0, 0, 0, 0, cases.ChinaTime)}
	monthP := cases.Period{From: time.Date(year, 6, 1, 0, 0, 0, 0, cases.ChinaTime), To: time.Date(year, 7, 1, 0, 0, 0, 0, cases.ChinaTime)}
	fmt.Printf("### Reports on PostgreSQL over %d cases (median of %d runs, warm cache)\n\n", pgN, runs)
	fmt.Println("| report | year | June | target |")
	fmt.Println("| --- | ---: | ---: | --- |")
	type rep struct {
		name string
		fn   func(cases.Period) error
	}
	reps := []rep{
		{"by category (level 2), with the previous period", func(p cases.Period) error { _, err := pg.ByCategory(ctx, p, 2); return err }},
		{"by dialled number, with the previous period", func(p cases.Period) error { _, err := pg.ByDialled(ctx, p); return err }},
		{"top 20 repeat callers", func(p cases.Period) error { _, err := pg.TopCallers(ctx, p, 20); return err }},
		{"top 20 locations", func(p cases.Period) error { _, err := pg.TopLocations(ctx, p, 20); return err }},
		{"department KPIs", func(p cases.Period) error { _, err := pg.DepartmentKPIs(ctx, p); return err }},
		{"15 s / 24 h answer rates", func(p cases.Period) error { _, err := pg.AnswerRates(ctx, p); return err }},
	}
	for _, r := range reps {
		y := median(runs, func() error { return r.fn(yearP) })
		m := median(runs, func() error { return r.fn(monthP) })
		ok := "≤ 1 s: met"
		if y > time.Second {
			ok = "≤ 1 s: **missed**"
		}
		fmt.Printf("| %s | %s | %s | %s |\n", r.name, y.Round(time.Millisecond), m.Round(time.Millisecond), ok)
	}
	fmt.Println()
	var size string
	pg.DB().QueryRowContext(ctx, "SELECT pg_size_pretty(pg_database_size(current_database()))").Scan(&size)
	fmt.Printf("PostgreSQL database size after the load: %s.\n", size)
}

func insertRate(ctx context.Context, s cases.Store, n, writers int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	per := n / writers
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				_, err := s.Create(ctx, cases.NewCase{Channel: cases.ChannelPhone, CallerNumber: fmt.Sprintf("1580000%04d", (w*per+i)%10000),
					DialledNumber: "12345", Category: "0201", Location: "文三路 1 号", Description: "夜间施工噪音扰民"}, cases.SystemActor)
				if err != nil {
					log.Fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(per*writers) / time.Since(t0).Seconds()
}

func load(ctx context.Context, s *cases.SQLStore, n, year int) (int, int, time.Duration) {
	g := cases.NewGenerator(cases.GenConfig{Year: year, Cases: n, Seed: 12345, Node: 9}, s.Taxonomy(), s.Policy().Calendar)
	t0 := time.Now()
	var nc, ne int
	for {
		cs, evs := g.Next(20000)
		if cs == nil {
			break
		}
		if err := s.BulkLoad(ctx, cs, evs); err != nil {
			log.Fatal(err)
		}
		nc, ne = nc+len(cs), ne+len(evs)
	}
	return nc, ne, time.Since(t0)
}

func lookups(ctx context.Context, s *cases.SQLStore, n int) (p50, p99, mx time.Duration) {
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, n)
	for i := range n {
		var num string
		if i%2 == 0 { // a frequent caller, as the generator makes them
			num = fmt.Sprintf("139%08d", r.IntN(20000)*4999%100000000)
		} else {
			num = fmt.Sprintf("1%d%09d", 3+r.IntN(6), r.IntN(1000000000))
		}
		t0 := time.Now()
		if _, err := s.OpenCasesByCaller(ctx, num); err != nil {
			log.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
	return q(0.5), q(0.99), lat[len(lat)-1].Round(time.Microsecond)
}

func median(runs int, fn func() error) time.Duration {
	var ds []time.Duration
	for range runs {
		t0 := time.Now()
		if err := fn(); err != nil {
			log.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
			var kb int
			fmt.Sscan(f[1], &kb)
			return fmt.Sprintf("%.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return "? RAM"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
