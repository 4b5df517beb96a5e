package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxBody bounds every request body of this package.
const MaxBody = 16 << 10

// badRequest is a body that cannot be used; its message is for the client.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

// decodeStrict decodes exactly one JSON object into v: unknown fields, trailing data and
// invalid UTF-8 are errors.
func decodeStrict(r io.Reader, v any) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err // *http.MaxBytesError or a transport error: the caller maps it
	}
	if !utf8.Valid(b) {
		return &badRequest{"the body is not valid UTF-8"}
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return &badRequest{"the body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "json: ")
		return &badRequest{"malformed JSON body: " + msg}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &badRequest{"unexpected data after the JSON object"}
	}
	return nil
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func decodeLogin(r io.Reader) (loginRequest, error) {
	var q loginRequest
	if err := decodeStrict(r, &q); err != nil {
		return q, err
	}
	q.User = NormalizeID(q.User)
	if q.User == "" || q.Password == "" {
		return q, &badRequest{`"user" and "password" are required`}
	}
	if len(q.User) > 256 || len(q.Password) > MaxPasswordLen {
		return q, &badRequest{"user or password too long"}
	}
	return q, nil
}

type passwordRequest struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

func decodePassword(r io.Reader) (passwordRequest, error) {
	var q passwordRequest
	if err := decodeStrict(r, &q); err != nil {
		return q, err
	}
	if q.Current == "" || q.New == "" {
		return q, &badRequest{`"current" and "new" are required`}
	}
	if len(q.Current) > MaxPasswordLen || len(q.New) > MaxPasswordLen {
		return q, &badRequest{fmt.Sprintf("a password is longer than %d bytes", MaxPasswordLen)}
	}
	return q, nil
}

func decodeNewUser(r io.Reader) (NewUser, error) {
	var n NewUser
	if err := decodeStrict(r, &n); err != nil {
		return n, err
	}
	n.ID = NormalizeID(n.ID)
	u := User{ID: n.ID, Name: n.Name, Role: n.Role, Team: n.Team, Dept: n.Dept}
	if err := u.Validate(); err != nil {
		return n, &badRequest{err.Error()}
	}
	if n.Password != "" {
		if err := checkNewPassword(n.ID, n.Password); err != nil {
			return n, &badRequest{err.Error()}
		}
	}
	return n, nil
}

func decodeUserPatch(r io.Reader) (UserPatch, error) {
	var p UserPatch
	if err := decodeStrict(r, &p); err != nil {
		return p, err
	}
	if p == (UserPatch{}) {
		return p, &badRequest{"nothing to change"}
	}
	for _, s := range []*string{p.Name, p.Team, p.Dept} {
		if s != nil && len(*s) > 200 {
			return p, &badRequest{"a field is too long"}
		}
	}
	if p.Role != nil && !validRole(*p.Role) {
		return p, &badRequest{"role must be one of agent, supervisor, reviewer, handler, admin"}
	}
	return p, nil
}
