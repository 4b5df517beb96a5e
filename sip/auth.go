package sip

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceStore remembers the nonces we issued, so that a digest answer must answer one of
// ours and cannot be replayed after it expires.
type nonceStore struct {
	mu     sync.Mutex
	issued map[string]time.Time
}

const nonceTTL = 5 * time.Minute

func newNonceStore() *nonceStore { return &nonceStore{issued: map[string]time.Time{}} }

func (n *nonceStore) issue(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.issued) > 10000 { // a flood of unanswered challenges: forget the expired ones
		for k, t := range n.issued {
			if now.Sub(t) > nonceTTL {
				delete(n.issued, k)
			}
		}
	}
	n.issued[nonce] = now
	return nonce
}

func (n *nonceStore) valid(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.issued[nonce]
	return ok && now.Sub(t) <= nonceTTL
}

const authRealm = "hotline"

// authorize checks the request's digest credentials against passwordFor (the users this
// request may come from). Without valid credentials it answers 401 with a challenge (or
// 403 for wrong ones) and reports false; else it reports the authenticated user.
func (s *Server) authorize(req *sip.Request, tx sip.ServerTransaction, passwordFor func(user string) (string, bool)) (string, bool) {
	now := time.Now()
	if h := req.GetHeader("Authorization"); h != nil {
		creds, err := digest.ParseCredentials(h.Value())
		if err == nil && s.nonces.valid(creds.Nonce, now) {
			password, known := passwordFor(creds.Username)
			chal := &digest.Challenge{Realm: authRealm, Nonce: creds.Nonce, Algorithm: creds.Algorithm, Opaque: creds.Opaque}
			if creds.QOP != "" {
				chal.QOP = []string{creds.QOP}
			}
			want, err := digest.Digest(chal, digest.Options{Method: string(req.Method), URI: creds.URI,
				Username: creds.Username, Password: password, Cnonce: creds.Cnonce, Count: creds.Nc})
			if known && err == nil && subtle.ConstantTimeCompare([]byte(want.Response), []byte(creds.Response)) == 1 {
				return creds.Username, true
			}
			s.log.Info("sip: wrong credentials refused", "method", req.Method, "user", creds.Username, "source", req.Source())
			s.reply(req, tx, 403, "Forbidden")
			return "", false
		}
	}
	chal := &digest.Challenge{Realm: authRealm, Nonce: s.nonces.issue(now), Algorithm: "MD5", QOP: []string{"auth"}}
	s.reply(req, tx, 401, "Unauthorized", sip.NewHeader("WWW-Authenticate", chal.String()))
	return "", false
}
