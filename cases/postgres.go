package cases

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// OpenPostgres opens the shared store over a pgx pool. dsn is a pgx
// connection string (postgres://… or key=value). Several nodes may share one
// database; give each its own Options.Node.
func OpenPostgres(ctx context.Context, dsn string, o Options) (*SQLStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("cases: postgres dsn: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		// A dead server must send call-flow writes to the spool quickly.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cases: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cases: postgres %s unreachable: %w", cfg.ConnConfig.Host, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return openSQL(ctx, db, &pgDialect{pool: pool}, o)
}

type pgDialect struct{ pool *pgxpool.Pool }

func (*pgDialect) name() string       { return "postgres" }
func (d *pgDialect) close()           { d.pool.Close() }
func (*pgDialect) singleWriter() bool { return false }

func (*pgDialect) migrations() (fs.FS, goose.Dialect) {
	sub, _ := fs.Sub(migrationsFS, "migrations/postgres")
	return sub, goose.DialectPostgres
}

// unavailable separates "the server is away" (spool and retry) from "the
// server refused this write" (an error for the caller).
func (*pgDialect) unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-03: shutdown, crash, cannot connect
		// now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" ||
			pe.Code == "57P03" || pe.Code == "53300"
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrTransition) {
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "failed to connect") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection reset")
}

var caseColList = func() []string {
	f := strings.Split(caseCols, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}()

func (d *pgDialect) bulkLoad(ctx context.Context, _ *sql.DB, cs []Case, evs []Event) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"cases"}, caseColList, pgx.CopyFromSlice(len(cs), func(i int) ([]any, error) {
		return caseArgs(&cs[i]), nil
	}))
	if err != nil {
		return err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"id", "case_id", "type", "at_us", "actor", "reason", "value", "payload"},
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) {
			e := &evs[i]
			return []any{e.ID, e.CaseID, string(e.Type), e.At.UnixMicro(), e.Actor, e.Reason, e.Value, string(e.Payload)}, nil
		}))
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}
