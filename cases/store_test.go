package cases_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/cases/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sqliteBackend(t *testing.T) func(o cases.Options) (cases.Store, error) {
	path := filepath.Join(t.TempDir(), "hotline.db")
	return func(o cases.Options) (cases.Store, error) {
		return cases.OpenSQLite(context.Background(), path, o)
	}
}

func postgresBackend(t *testing.T) func(o cases.Options) (cases.Store, error) {
	dsn := storetest.NewDatabase(t)
	return func(o cases.Options) (cases.Store, error) {
		return cases.OpenPostgres(context.Background(), dsn, o)
	}
}

func TestSQLiteStore(t *testing.T)   { storetest.Run(t, sqliteBackend) }
func TestPostgresStore(t *testing.T) { storetest.Run(t, postgresBackend) }
