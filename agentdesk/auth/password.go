package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's costs. Argon2id rather than bcrypt: it is memory-hard (a GPU
// farm pays for memory, not just cores), it has no 72-byte limit (a Chinese passphrase of
// 25 characters is 75 bytes, which bcrypt would silently cut), and the costs travel in
// the hash so they can be raised later: a sign-in with old costs rehashes.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultHashParams is OWASP's first argon2id setting (19 MiB, 2 passes, 1 lane):
// about 30 ms on one core. Concurrent hashes are bounded (see hasher) so a burst of
// sign-ins at a shift change cannot take more than a few times 19 MiB.
var DefaultHashParams = HashParams{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen and MaxPasswordLen bound a new password (in bytes for the upper bound).
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

// hasher hashes and verifies with a bound on concurrent work.
type hasher struct {
	p     HashParams
	sem   chan struct{}
	dummy string // a hash of nothing anyone knows: verified against for unknown users
}

func newHasher(p HashParams) (*hasher, error) {
	if p.Memory < 8*uint32(max(p.Threads, 1)) || p.Time < 1 || p.Threads < 1 {
		return nil, fmt.Errorf("auth: argon2id parameters out of range: %+v", p)
	}
	h := &hasher{p: p, sem: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	d, err := h.hash(context.Background(), randomToken(18))
	if err != nil {
		return nil, err
	}
	h.dummy = d
	return h, nil
}

func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	<-h.sem
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.Memory, h.p.Time, h.p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("auth: malformed password hash")

type parsedHash struct {
	p         HashParams
	salt, key []byte
}

func parseHash(s string) (parsedHash, error) {
	var ph parsedHash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return ph, errBadHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &ph.p.Memory, &ph.p.Time, &threads); n != 3 || err != nil {
		return ph, errBadHash
	}
	// A tampered users file must not make a sign-in allocate gigabytes or spin for minutes.
	if ph.p.Memory < 8 || ph.p.Memory > 1<<20 || ph.p.Time < 1 || ph.p.Time > 16 || threads < 1 || threads > 16 {
		return ph, errBadHash
	}
	ph.p.Threads = uint8(threads)
	var err1, err2 error
	ph.salt, err1 = base64.RawStdEncoding.DecodeString(f[4])
	ph.key, err2 = base64.RawStdEncoding.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(ph.salt) < 8 || len(ph.key) < 16 || len(ph.key) > 64 {
		return ph, errBadHash
	}
	return ph, nil
}

// verify reports whether password matches encoded, and whether the hash should be
// redone with the current costs. An empty or malformed hash is checked against the
// dummy so that it costs the same and never matches.
func (h *hasher) verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	ph, perr := parseHash(encoded)
	if perr != nil {
		ph, _ = parseHash(h.dummy)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(password), ph.salt, ph.p.Time, ph.p.Memory, ph.p.Threads, uint32(len(ph.key)))
	<-h.sem
	ok = subtle.ConstantTimeCompare(key, ph.key) == 1 && perr == nil
	return ok, ok && ph.p != h.p, nil
}

// checkNewPassword is the password rule: long enough, not absurd, valid text, not the
// user id.
func checkNewPassword(userID, pw string) error {
	if len(pw) > MaxPasswordLen {
		return invalidf("the password is longer than %d bytes", MaxPasswordLen)
	}
	if !utf8.ValidString(pw) {
		return invalidf("the password is not valid UTF-8")
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return invalidf("the password needs at least %d characters", MinPasswordLen)
	}
	if strings.EqualFold(strings.TrimSpace(pw), userID) {
		return invalidf("the password must not be the user id")
	}
	return nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// OneTimePassword is a random password that can be read out or typed: 16 characters from
// an alphabet without 0/O, 1/l/I (about 90 bits).
func OneTimePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	rand.Read(b)
	out := make([]byte, len(b))
	for i, c := range b {
		// 256 mod 56 is small enough a bias (8 of 256) to not matter at 16 characters;
		// reject anyway, it is cheap.
		for int(c) >= 256-256%len(alphabet) {
			var one [1]byte
			rand.Read(one[:])
			c = one[0]
		}
		out[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(out)
}
