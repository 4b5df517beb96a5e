package auth

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h, err := newHasher(fastHash)
	if err != nil {
		t.Fatal(err)
	}
	pw := "市民热线一二三四五六七八九十" + strings.Repeat("长", 30) // 132 bytes: past bcrypt's 72
	enc, err := h.hash(ctx, pw)
	if err != nil || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("%q %v", enc, err)
	}
	if ok, rehash, _ := h.verify(ctx, enc, pw); !ok || rehash {
		t.Fatalf("verify: %v %v", ok, rehash)
	}
	if ok, _, _ := h.verify(ctx, enc, pw[:len(pw)-3]); ok {
		t.Fatal("a prefix matched")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=64,t=1,p=1$$", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", h.dummy + "x"} {
		if ok, _, err := h.verify(ctx, bad, ""); ok || err != nil {
			t.Errorf("malformed hash %q matched: %v", bad, err)
		}
	}
	// Stronger costs later: the old hash still verifies and asks to be redone.
	h2, _ := newHasher(HashParams{Memory: 128, Time: 2, Threads: 1})
	if ok, rehash, _ := h2.verify(ctx, enc, pw); !ok || !rehash {
		t.Fatalf("after raising the costs: %v %v", ok, rehash)
	}
}

// A sign-in rehashes a password stored with older costs.
func TestLoginRehashes(t *testing.T) {
	e := newEnv(t)
	e.a.hash, _ = newHasher(HashParams{Memory: 128, Time: 1, Threads: 1})
	e.signIn("agent1")
	u, _ := e.a.store.Get(context.Background(), "agent1")
	if !strings.Contains(u.PasswordHash, "m=128,") {
		t.Fatalf("not rehashed: %s", u.PasswordHash)
	}
}

// The production costs, and an unknown user's check costs what a known one's does.
func TestDefaultCostsAndNoEnumerationByTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with the production costs")
	}
	ctx := context.Background()
	h, err := newHasher(DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := h.hash(ctx, "a known password")
	timeOf := func(hash string) time.Duration {
		best := time.Hour
		for range 3 {
			t0 := time.Now()
			h.verify(ctx, hash, "a guess at it")
			best = min(best, time.Since(t0))
		}
		return best
	}
	known, unknown := timeOf(enc), timeOf(h.dummy)
	// Timing on a shared machine is too noisy to assert on; what makes the two equal is
	// that the dummy is a hash of the same shape with the same costs, checked exactly.
	t.Logf("verify with the default costs: known user %v, unknown user %v", known, unknown)
	pk, err1 := parseHash(enc)
	pd, err2 := parseHash(h.dummy)
	if err1 != nil || err2 != nil || pk.p != pd.p || pk.p != DefaultHashParams || len(pk.key) != len(pd.key) || len(pk.salt) != len(pd.salt) {
		t.Fatalf("the dummy hash differs from a real one: %+v %+v", pk, pd)
	}
}

func TestOneTimePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := OneTimePassword()
		if len(p) != 16 || strings.ContainsAny(p, "0O1lI") || seen[p] {
			t.Fatalf("%q", p)
		}
		seen[p] = true
		if err := checkNewPassword("admin", p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewPasswordRule(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                        false,
		"agent1":                       false,
		"  Agent1-longer":              true,
		"十个汉字的密码一二三":                   true,
		"九个汉字的密码一二":                    false,
		strings.Repeat("x", 1025):      false,
		"abcdefghij\xff":               false,
		"correct horse battery staple": true,
	} {
		if err := checkNewPassword("agent1", pw); (err == nil) != ok {
			t.Errorf("%.20q: %v", pw, err)
		}
	}
}
