// Package authtest holds the conformance suite every auth.Store must pass, so that a
// database store for several nodes is held to what the file store does.
package authtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// TestStore runs the suite on a fresh, empty store from open.
func TestStore(t *testing.T, open func(t *testing.T) auth.Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	user := func(id string) auth.User {
		return auth.User{ID: id, Name: id, Role: cases.RoleAgent, Team: "a", PasswordHash: "$argon2id$x",
			CreatedAt: now, UpdatedAt: now}
	}

	t.Run("CreateGetList", func(t *testing.T) {
		s := open(t)
		if us, err := s.List(ctx); err != nil || len(us) != 0 {
			t.Fatalf("new store lists %v %v", us, err)
		}
		for _, id := range []string{"b", "a", "c"} {
			if err := s.Create(ctx, user(id)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Create(ctx, user("a")); !errors.Is(err, auth.ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		got, err := s.Get(ctx, "b")
		if err != nil || got != user("b") {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := s.Get(ctx, "zz"); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		us, err := s.List(ctx)
		if err != nil || len(us) != 3 || us[0].ID != "a" || us[2].ID != "c" {
			t.Fatalf("list (by id): %+v %v", us, err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := open(t)
		if err := s.Create(ctx, user("a")); err != nil {
			t.Fatal(err)
		}
		u, err := s.Update(ctx, "a", func(u *auth.User) error { u.Disabled, u.Epoch = true, 7; return nil })
		if err != nil || !u.Disabled || u.Epoch != 7 {
			t.Fatalf("%+v %v", u, err)
		}
		boom := errors.New("boom")
		if _, err := s.Update(ctx, "a", func(u *auth.User) error { u.Team = "x"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("refused update: %v", err)
		}
		if u, _ := s.Get(ctx, "a"); u.Team != "a" || !u.Disabled {
			t.Fatalf("a refused update left %+v", u)
		}
		if _, err := s.Update(ctx, "zz", func(*auth.User) error { return nil }); !errors.Is(err, auth.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})

	// Sign-out everywhere on two nodes at once must not lose an epoch bump.
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s := open(t)
		if err := s.Create(ctx, user("a")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Update(ctx, "a", func(u *auth.User) error { u.Epoch++; return nil }); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if u, _ := s.Get(ctx, "a"); u.Epoch != 20 {
			t.Fatalf("epoch %d after 20 bumps", u.Epoch)
		}
	})
}
