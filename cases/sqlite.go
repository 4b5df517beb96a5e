package cases

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrationsFS embed.FS

// OpenSQLite opens (creating it if needed) the embedded store: one database
// file, in WAL mode so readers never wait for the writer, with full fsync so
// an acknowledged case survives a power cut, and a busy timeout so that
// concurrent writers queue instead of failing.
func OpenSQLite(ctx context.Context, path string, o Options) (*SQLStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	// Immediate transactions take the write lock at BEGIN: a read-then-write
	// transaction cannot fail halfway with SQLITE_BUSY on lock upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cases: open %s: %w", path, err)
	}
	return openSQL(ctx, db, sqliteDialect{}, o)
}

type sqliteDialect struct{}

func (sqliteDialect) name() string       { return "sqlite" }
func (sqliteDialect) close()             {}
func (sqliteDialect) singleWriter() bool { return true }

func (sqliteDialect) migrations() (fs.FS, goose.Dialect) {
	sub, _ := fs.Sub(migrationsFS, "migrations/sqlite")
	return sub, goose.DialectSQLite3
}

// unavailable: the file is locked for too long, the disk failed or is full.
// The spool lives on a different path, so it may still take the write.
func (sqliteDialect) unavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

func (sqliteDialect) bulkLoad(ctx context.Context, db *sql.DB, cs []Case, evs []Event) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, insertCaseSQL)
	if err != nil {
		return err
	}
	for i := range cs {
		if _, err := st.ExecContext(ctx, caseArgs(&cs[i])...); err != nil {
			return err
		}
	}
	est, err := tx.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return err
	}
	for i := range evs {
		if _, err := est.ExecContext(ctx, eventArgs(&evs[i])...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Migrations returns the embedded migrations of a dialect ("sqlite" or
// "postgres"), for tools that manage the schema themselves.
func Migrations(dialect string) (fs.FS, error) {
	switch dialect {
	case "sqlite", "postgres":
		return fs.Sub(migrationsFS, "migrations/"+dialect)
	}
	return nil, fmt.Errorf("cases: no migrations for dialect %q", dialect)
}
