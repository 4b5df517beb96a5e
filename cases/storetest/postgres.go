package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminDSN is where tests create their databases: $HOTLINE_TEST_PG, or the
// local server's socket directory (tests run where TCP may be unreachable).
func AdminDSN() string {
	if v := os.Getenv("HOTLINE_TEST_PG"); v != "" {
		return v
	}
	return "host=/var/run/postgresql user=postgres dbname=postgres sslmode=disable"
}

// WithDatabase returns dsn pointing at another database.
func WithDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return dsn + " dbname=" + name
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// NewDatabase creates an empty database on the admin server and drops it
// when the test ends. An unreachable server fails the test: a skipped store
// test is a store nobody tested.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable at %q (set HOTLINE_TEST_PG to an admin DSN, or start the server): %v", admin, err)
	}
	defer conn.Close(ctx)
	name := randomName("hotline_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return WithDatabase(admin, name)
}

// PrivatePG is a PostgreSQL server of the test's own, on a Unix socket in a
// temporary directory, that the test may stop and start. The machine's
// shared server is never touched.
type PrivatePG struct {
	t       testing.TB
	bin     string
	dir     string
	data    string
	sock    string
	port    int
	asUser  []string
	running bool
}

// PGBin is where the PostgreSQL server binaries are: $HOTLINE_PG_BIN, else
// Debian's /usr/lib/postgresql/15/bin, else the newest version installed.
func PGBin() string {
	if v := os.Getenv("HOTLINE_PG_BIN"); v != "" {
		return v
	}
	const want = "/usr/lib/postgresql/15/bin"
	if _, err := os.Stat(filepath.Join(want, "initdb")); err == nil {
		return want
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := want, 0
	for _, d := range dirs {
		if v, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil && v > bestV {
			best, bestV = d, v
		}
	}
	return best
}

// StartPrivatePG initdbs and starts a private server. initdb refuses to run
// as root, so as root the server runs as the postgres OS user.
func StartPrivatePG(t testing.TB) *PrivatePG {
	t.Helper()
	p := &PrivatePG{t: t, bin: PGBin()}
	if _, err := os.Stat(filepath.Join(p.bin, "initdb")); err != nil {
		t.Fatalf("PostgreSQL binaries not found in %s (install postgresql-15 or set HOTLINE_PG_BIN): %v", p.bin, err)
	}
	dir, err := os.MkdirTemp("", "hotline-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir, p.data, p.sock = dir, filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{p.data, p.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres OS user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{dir, p.data, p.sock} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	// The port only names the socket file; no TCP listener is opened.
	b := make([]byte, 2)
	rand.Read(b)
	p.port = 20000 + int(b[0])<<8%30000 + int(b[1])
	t.Cleanup(p.cleanup)
	p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	p.Start()
	return p
}

func (p *PrivatePG) run(name string, args ...string) {
	p.t.Helper()
	argv := append(append([]string{}, p.asUser...), append([]string{filepath.Join(p.bin, name)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		p.t.Fatalf("%s: %v\n%s\nserver log:\n%s", strings.Join(argv, " "), err, out.String(), log)
	}
}

// DSN connects to the private server's postgres database.
func (p *PrivatePG) DSN() string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", p.sock, p.port)
}

// Start starts the server and waits until it accepts connections.
func (p *PrivatePG) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-c listen_addresses='' -k %s -p %d -c fsync=off -c max_connections=50", p.sock, p.port)
	p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(p.dir, "server.log"), "-o", opts, "-w", "-t", "60", "start")
	p.running = true
}

// Stop stops the server at once, cutting every connection.
func (p *PrivatePG) Stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
	p.running = false
}

func (p *PrivatePG) cleanup() {
	if p.running {
		argv := append(append([]string{}, p.asUser...), filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", "immediate", "-w", "stop")
		exec.Command(argv[0], argv[1:]...).Run()
	}
	os.RemoveAll(p.dir)
}
