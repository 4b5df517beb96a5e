package auth

import (
	"errors"
	"strings"
	"testing"
)

// The decoders see raw outside input: they must never panic, and what they refuse must
// be a 400 (badRequest), never anything else.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var br *badRequest
	if !errors.As(err, &br) {
		t.Fatalf("decoder error of the wrong kind: %T %v", err, err)
	}
}

func FuzzDecodeLogin(f *testing.F) {
	for _, s := range []string{
		`{"user":"agent1","password":"correct horse"}`, `{"user":" ADMIN ","password":"x"}`,
		`{"user":"a","password":"b","x":1}`, `{"user":1}`, `{`, `[]`, `null`, ``, `{"user":"\ud800","password":"p"}`,
		`{"user":"a","password":"b"}{}`, "\xff", `{"user":"a","password":"b"} `, `{"User":"a","Password":"b"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := decodeLogin(strings.NewReader(s))
		checkDecodeErr(t, err)
		if err == nil && (q.User == "" || q.Password == "" || q.User != NormalizeID(q.User)) {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func FuzzDecodePassword(f *testing.F) {
	for _, s := range []string{
		`{"current":"old one here","new":"a new one here"}`, `{"current":"","new":"x"}`, `{"new":"x"}`,
		`{"current":"a","new":"b","again":"b"}`, `{"current":["a"],"new":"b"}`, `{}`, `{"current":"a","new":"b"} x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := decodePassword(strings.NewReader(s))
		checkDecodeErr(t, err)
		if err == nil && (q.Current == "" || q.New == "") {
			t.Fatalf("accepted %+v", q)
		}
	})
}

func FuzzDecodeNewUser(f *testing.F) {
	for _, s := range []string{
		`{"id":"agent3","name":"王芳","role":"agent","team":"b","outsourced":true}`,
		`{"id":"s","role":"supervisor"}`, `{"id":"h","role":"handler","dept":"cgj"}`, `{"id":"x y","role":"agent"}`,
		`{"id":"a","role":"system"}`, `{"id":"a","role":"admin","password":"short"}`, `{"id":"a","role":"admin","hash":"x"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := decodeNewUser(strings.NewReader(s))
		checkDecodeErr(t, err)
		if err == nil {
			u := User{ID: n.ID, Name: n.Name, Role: n.Role, Team: n.Team, Dept: n.Dept}
			if u.Validate() != nil {
				t.Fatalf("accepted %+v", n)
			}
		}
	})
}

func FuzzDecodeUserPatch(f *testing.F) {
	for _, s := range []string{
		`{"disabled":true}`, `{"role":"supervisor","team":"a"}`, `{"role":"root"}`, `{}`, `{"name":null}`,
		`{"outsourced":"yes"}`, `{"epoch":5}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodeUserPatch(strings.NewReader(s))
		checkDecodeErr(t, err)
		if err == nil && (p == (UserPatch{}) || p.Role != nil && !validRole(*p.Role)) {
			t.Fatalf("accepted %+v", p)
		}
	})
}
