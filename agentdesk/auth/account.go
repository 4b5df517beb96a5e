package auth

import (
	"context"
	"errors"

	"github.com/hotline-12345/hotline/cases"
)

// NewUser is what an administrator gives to create a user. An empty Password means a
// random one-time password, returned by CreateUser and to be changed at first sign-in.
type NewUser struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       cases.Role `json:"role"`
	Team       string     `json:"team,omitempty"`
	Dept       string     `json:"dept,omitempty"`
	Outsourced bool       `json:"outsourced,omitempty"`
	Password   string     `json:"password,omitempty"`
}

// CreateUser stores a new user and returns it with its password when it was generated.
func (a *Auth) CreateUser(ctx context.Context, n NewUser) (User, string, error) {
	now := a.now().UTC()
	u := User{ID: NormalizeID(n.ID), Name: n.Name, Role: n.Role, Team: n.Team, Dept: n.Dept,
		Outsourced: n.Outsourced, CreatedAt: now, UpdatedAt: now}
	if u.Name == "" {
		u.Name = u.ID
	}
	if err := u.Validate(); err != nil {
		return User{}, "", err
	}
	pw := n.Password
	if pw == "" {
		pw, u.MustChange = OneTimePassword(), true
	} else if err := checkNewPassword(u.ID, pw); err != nil {
		return User{}, "", err
	}
	h, err := a.hash.hash(ctx, pw)
	if err != nil {
		return User{}, "", err
	}
	u.PasswordHash = h
	if err := a.store.Create(ctx, u); err != nil {
		return User{}, "", err
	}
	if n.Password != "" {
		pw = ""
	}
	return u, pw, nil
}

// UserPatch changes some fields of a user; nil fields stay.
type UserPatch struct {
	Name       *string     `json:"name,omitempty"`
	Role       *cases.Role `json:"role,omitempty"`
	Team       *string     `json:"team,omitempty"`
	Dept       *string     `json:"dept,omitempty"`
	Outsourced *bool       `json:"outsourced,omitempty"`
	Disabled   *bool       `json:"disabled,omitempty"`
}

// UpdateUser applies p. Disabling a user ends their sessions at once.
func (a *Auth) UpdateUser(ctx context.Context, id string, p UserPatch) (User, error) {
	u, err := a.store.Update(ctx, id, func(u *User) error {
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = *src
			}
		}
		set(&u.Name, p.Name)
		set(&u.Team, p.Team)
		set(&u.Dept, p.Dept)
		if p.Role != nil {
			u.Role = *p.Role
		}
		if p.Outsourced != nil {
			u.Outsourced = *p.Outsourced
		}
		if p.Disabled != nil {
			if *p.Disabled && !u.Disabled {
				u.Epoch++
			}
			u.Disabled = *p.Disabled
		}
		u.UpdatedAt = a.now().UTC()
		return u.Validate()
	})
	if err == nil && u.Disabled {
		a.sessions.DeleteUser(id)
	}
	return u, err
}

// ResetPassword gives id a new one-time password (returned) and ends their sessions.
func (a *Auth) ResetPassword(ctx context.Context, id string) (string, error) {
	pw := OneTimePassword()
	h, err := a.hash.hash(ctx, pw)
	if err != nil {
		return "", err
	}
	if _, err := a.store.Update(ctx, id, func(u *User) error {
		u.PasswordHash, u.MustChange = h, true
		u.Epoch++
		u.UpdatedAt = a.now().UTC()
		return nil
	}); err != nil {
		return "", err
	}
	a.sessions.DeleteUser(id)
	return pw, nil
}

// errWrongPassword is a wrong current password on a change.
var errWrongPassword = errors.New("the current password is wrong")

// changePassword sets a new password after checking the current one, and ends every
// session of the user (the caller starts a fresh one for the browser that asked).
func (a *Auth) changePassword(ctx context.Context, id, current, next string) (User, error) {
	u, err := a.store.Get(ctx, id)
	if err != nil {
		return User{}, err
	}
	ok, _, err := a.hash.verify(ctx, u.PasswordHash, current)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, errWrongPassword
	}
	if err := checkNewPassword(id, next); err != nil {
		return User{}, err
	}
	if current == next {
		return User{}, invalidf("the new password must differ from the current one")
	}
	h, err := a.hash.hash(ctx, next)
	if err != nil {
		return User{}, err
	}
	u, err = a.store.Update(ctx, id, func(u *User) error {
		u.PasswordHash, u.MustChange = h, false
		u.Epoch++
		u.UpdatedAt = a.now().UTC()
		return nil
	})
	if err != nil {
		return User{}, err
	}
	a.sessions.DeleteUser(id)
	return u, nil
}

// Credential is a user created with a one-time password, to be shown once.
type Credential struct {
	User     User
	Password string
}

// Bootstrap creates the administrator "admin" with a one-time password when the store
// has no user at all (a first start). It returns nil when users already exist. The
// caller prints the password once; it is stored only as a hash.
func (a *Auth) Bootstrap(ctx context.Context) (*Credential, error) {
	us, err := a.store.List(ctx)
	if err != nil || len(us) > 0 {
		return nil, err
	}
	u, pw, err := a.CreateUser(ctx, NewUser{ID: "admin", Name: "Administrator", Role: cases.RoleAdmin})
	if err != nil {
		return nil, err
	}
	_ = a.Audit(ctx, Entry{User: "system", Role: cases.RoleSystem, Action: ActionUserCreate, Target: u.ID, Result: ResultOK, Detail: "first start"})
	return &Credential{User: u, Password: pw}, nil
}

// SeedDemo creates a demo team: supervisor "sup1" (team "demo"), agent "agent1" and
// outsourced agent "agent2" in it, each with a one-time password. Users that exist are
// left alone and not returned.
func (a *Auth) SeedDemo(ctx context.Context) ([]Credential, error) {
	var out []Credential
	for _, n := range []NewUser{
		{ID: "sup1", Name: "Demo supervisor", Role: cases.RoleSupervisor, Team: "demo"},
		{ID: "agent1", Name: "Demo agent", Role: cases.RoleAgent, Team: "demo"},
		{ID: "agent2", Name: "Demo agent (outsourced)", Role: cases.RoleAgent, Team: "demo", Outsourced: true},
	} {
		u, pw, err := a.CreateUser(ctx, n)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return out, err
		}
		_ = a.Audit(ctx, Entry{User: "system", Role: cases.RoleSystem, Action: ActionUserCreate, Target: u.ID, Result: ResultOK, Detail: "demo seed"})
		out = append(out, Credential{User: u, Password: pw})
	}
	return out, nil
}
