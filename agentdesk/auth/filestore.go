package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// FileStore keeps users in one JSON file, replaced atomically on every change (temp file,
// fsync, rename, fsync of the folder), mode 0600. It is for one node; several nodes share
// a database store instead.
type FileStore struct {
	path string
	mu   sync.Mutex
	// users is the file's content; every write rewrites the whole file, which is fine
	// for a few thousand users changed a few times a day.
	users map[string]User
}

// fileUser is User as the file holds it, hash and epoch included.
type fileUser struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Role         cases.Role `json:"role"`
	Team         string     `json:"team,omitempty"`
	Dept         string     `json:"dept,omitempty"`
	Outsourced   bool       `json:"outsourced,omitempty"`
	Disabled     bool       `json:"disabled,omitempty"`
	MustChange   bool       `json:"must_change_password,omitempty"`
	PasswordHash string     `json:"password_hash"`
	Epoch        int        `json:"epoch"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

type usersFile struct {
	Version int        `json:"version"`
	Users   []fileUser `json:"users"`
}

const usersFileName = "users.json"

// OpenFileStore loads dir/users.json (none yet is an empty store). Temp files left by a
// write that did not finish are ignored and removed: the rename never happened, so the
// old file is whole.
func OpenFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s := &FileStore{path: filepath.Join(dir, usersFileName), users: map[string]User{}}
	if stale, _ := filepath.Glob(s.path + ".tmp*"); len(stale) > 0 {
		for _, p := range stale {
			_ = os.Remove(p)
		}
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	var f usersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("auth: %s is damaged (restore it from a backup): %w", s.path, err)
	}
	for _, fu := range f.Users {
		s.users[fu.ID] = User{
			ID: fu.ID, Name: fu.Name, Role: fu.Role, Team: fu.Team, Dept: fu.Dept, Outsourced: fu.Outsourced,
			Disabled: fu.Disabled, MustChange: fu.MustChange, PasswordHash: fu.PasswordHash, Epoch: fu.Epoch,
			CreatedAt: fu.CreatedAt, UpdatedAt: fu.UpdatedAt,
		}
	}
	return s, nil
}

// Path is the users file.
func (s *FileStore) Path() string { return s.path }

func (s *FileStore) Get(_ context.Context, id string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	return u, nil
}

func (s *FileStore) List(context.Context) ([]User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (s *FileStore) Create(_ context.Context, u User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.ID]; ok {
		return ErrExists
	}
	s.users[u.ID] = u
	if err := s.writeLocked(); err != nil {
		delete(s.users, u.ID)
		return err
	}
	return nil
}

func (s *FileStore) Update(_ context.Context, id string, fn func(*User) error) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return User{}, ErrNotFound
	}
	u := old
	if err := fn(&u); err != nil {
		return old, err
	}
	u.ID = id
	s.users[id] = u
	if err := s.writeLocked(); err != nil {
		s.users[id] = old
		return old, err
	}
	return u, nil
}

func (s *FileStore) writeLocked() error {
	f := usersFile{Version: 1, Users: make([]fileUser, 0, len(s.users))}
	for _, u := range s.users {
		f.Users = append(f.Users, fileUser{
			ID: u.ID, Name: u.Name, Role: u.Role, Team: u.Team, Dept: u.Dept, Outsourced: u.Outsourced,
			Disabled: u.Disabled, MustChange: u.MustChange, PasswordHash: u.PasswordHash, Epoch: u.Epoch,
			CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		})
	}
	slices.SortFunc(f.Users, func(a, b fileUser) int { return strings.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("auth: users not saved: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with b so that a crash leaves either the old or the new
// file whole: write a temp file beside it, fsync, rename over, fsync the folder.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var _ Store = (*FileStore)(nil)
