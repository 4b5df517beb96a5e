package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// User is one person who signs in to the agent desk or the back office.
type User struct {
	ID   string     `json:"id"` // the sign-in name; lower case, also the agent id in the ACD
	Name string     `json:"name"`
	Role cases.Role `json:"role"`
	// Team scopes supervisors (whose team they watch) and agents (whose supervisor watches them).
	Team string `json:"team,omitempty"`
	// Dept is a department handler's department.
	Dept string `json:"dept,omitempty"`
	// Outsourced staff may take calls but never dispatch or close cases, whatever their role.
	Outsourced bool `json:"outsourced"`
	Disabled   bool `json:"disabled"`
	// MustChange is set on one-time passwords: until changed, the user may only change it.
	MustChange bool `json:"must_change_password"`
	// PasswordHash is the argon2id hash in PHC form; never sent over the API.
	PasswordHash string `json:"-"`
	// Epoch is bumped by a password change, a reset, a disable or "sign out everywhere":
	// a session made under an older epoch is dead, on every node that shares the store.
	Epoch     int       `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps users. It is small on purpose: a PostgreSQL implementation for several
// nodes needs four statements.
type Store interface {
	// Get returns ErrNotFound for an unknown id.
	Get(ctx context.Context, id string) (User, error)
	List(ctx context.Context) ([]User, error)
	// Create returns ErrExists if the id is taken.
	Create(ctx context.Context, u User) error
	// Update applies fn to the stored user atomically and stores the result; an error
	// from fn leaves the user unchanged and is returned.
	Update(ctx context.Context, id string, fn func(*User) error) (User, error)
}

var (
	ErrNotFound = errors.New("auth: no such user")
	ErrExists   = errors.New("auth: user already exists")
)

// InvalidError is a user or password that breaks a rule; its message is for the user.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// NormalizeID is how sign-in names compare: trimmed and lower case.
func NormalizeID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

const maxIDLen = 64

func validID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return invalidf("the user id must have 1 to %d characters", maxIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return invalidf("the user id may hold only a-z, 0-9 and . _ - @")
		}
	}
	return nil
}

func validRole(r cases.Role) bool {
	switch r {
	case cases.RoleAgent, cases.RoleHandler, cases.RoleReviewer, cases.RoleSupervisor, cases.RoleAdmin:
		return true
	}
	return false
}

// Validate checks the fields an administrator sets.
func (u *User) Validate() error {
	if err := validID(u.ID); err != nil {
		return err
	}
	if len(u.Name) > 200 || len(u.Team) > 64 || len(u.Dept) > 64 {
		return invalidf("name (200), team and dept (64) are too long")
	}
	if !validRole(u.Role) {
		return invalidf("role must be one of agent, supervisor, reviewer, handler, admin")
	}
	if u.Role == cases.RoleSupervisor && u.Team == "" {
		return invalidf("a supervisor needs a team")
	}
	if u.Role == cases.RoleHandler && u.Dept == "" {
		return invalidf("a department handler needs a department")
	}
	return nil
}
