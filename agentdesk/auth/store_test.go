package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

func TestFileStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	want := User{ID: "agent1", Name: "李雷", Role: cases.RoleAgent, Team: "a", Outsourced: true, MustChange: true,
		PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", Epoch: 3, CreatedAt: now, UpdatedAt: now}
	if err := s.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, want); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Update(ctx, "agent1", func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "agent1", func(u *User) error { u.Team = "zzz"; return errors.New("no") }); err == nil {
		t.Fatal("a refused update was applied")
	}
	want.Disabled = true
	st, err := os.Stat(s.Path())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode %v %v", st.Mode(), err)
	}

	s2, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Get(ctx, "agent1")
	if err != nil || got != want {
		t.Fatalf("after restart:\n got %+v\nwant %+v (%v)", got, want, err)
	}
	if _, err := s2.Get(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := s2.Update(ctx, "nobody", func(*User) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
}

// A crash between writing the temp file and the rename leaves a temp file, maybe torn:
// the store loads the last whole file and removes the leftover.
func TestFileStoreIgnoresTornWrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := OpenFileStore(dir)
	if err := s.Create(ctx, User{ID: "admin", Role: cases.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, usersFileName+".tmp123456")
	if err := os.WriteFile(torn, []byte(`{"version":1,"users":[{"id":"admin","role":"agent"`), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s2.Get(ctx, "admin"); err != nil || u.Role != cases.RoleAdmin {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file kept: %v", err)
	}
	// A damaged main file is an error, never an empty store (which would re-run first start).
	if err := os.WriteFile(s.Path(), []byte(`{"users":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileStore(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
}

func TestAuthSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Options{Hash: fastHash})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := a.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a2, err := Open(dir, Options{Hash: fastHash})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if c, err := a2.Bootstrap(context.Background()); c != nil || err != nil {
		t.Fatalf("bootstrap ran again: %v %v", c, err)
	}
	u, _ := a2.store.Get(context.Background(), "admin")
	if ok, _, _ := a2.hash.verify(context.Background(), u.PasswordHash, cred.Password); !ok {
		t.Fatal("the one-time password does not survive a restart")
	}
	es := readAuditFile(t, filepath.Join(dir, "audit", auditFileName))
	if len(es) != 1 || es[0].Action != ActionUserCreate || es[0].Detail != "first start" {
		t.Fatalf("audit %+v", es)
	}
}

func TestAuditRotatesAndEscapes(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	al, err := OpenAuditLog(dir, AuditOptions{MaxBytes: 1000, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		clock.Advance(time.Millisecond)
		e := Entry{User: fmt.Sprintf("u%d", i), Action: ActionLogin, Result: ResultFailed, Target: "x\n{\"forged\":1}"}
		if err := al.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := al.Append(Entry{User: strings.Repeat("x", 100_000), Action: ActionLogin, Result: ResultFailed}); err != nil {
		t.Fatal(err)
	}
	al.Close()
	if err := al.Append(Entry{Action: "late"}); err == nil {
		t.Fatal("append after close")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(files) < 3 {
		t.Fatalf("rotated files: %v", files)
	}
	for _, f := range append(files, filepath.Join(dir, auditFileName)) {
		st, _ := os.Stat(f)
		if st.Mode().Perm() != 0o600 || st.Size() > 1000+400 {
			t.Fatalf("%s: mode %v size %d", f, st.Mode(), st.Size())
		}
	}
	es := readAuditDir(t, dir)
	if len(es) != 51 {
		t.Fatalf("%d entries, want 51", len(es))
	}
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.User] = true
	}
	if !seen["u0"] || !seen["u49"] {
		t.Fatal("entries lost in rotation")
	}
	if len(es[len(es)-1].User) > 200 {
		t.Fatal("an outside field was not clipped")
	}
}

func TestAuditFailureIsReported(t *testing.T) {
	e := newEnv(t)
	e.a.audit.Close()
	if err := e.a.Audit(context.Background(), Entry{Action: ActionBarge, Result: ResultOK}); err == nil {
		t.Fatal("a lost audit line was not reported")
	}
}
