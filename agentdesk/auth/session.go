package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Session is one sign-in. Its id (256 random bits) lives only in the browser's cookie;
// stores key sessions by the id's SHA-256, so a dump of the store opens nothing.
type Session struct {
	UserID    string
	CSRF      string // bound to this session: sent back in X-CSRF-Token
	Epoch     int    // the user's epoch at sign-in
	CreatedAt time.Time
	LastSeen  time.Time
	IP        string
	UserAgent string
}

// SessionStore keeps sessions server-side. Expiry is decided by Auth; the store only
// drops what it is told to.
type SessionStore interface {
	Create(id string, s Session) error
	Get(id string) (Session, bool)
	Touch(id string, at time.Time)
	Delete(id string)
	// DeleteUser drops every session of userID and returns how many there were.
	DeleteUser(userID string) int
	// DeleteExpired drops sessions last seen before idle or created before absolute.
	DeleteExpired(idle, absolute time.Time) int
	Len() int
}

// MemorySessions is the in-memory SessionStore of a single node: a restart signs
// everyone out, which is acceptable for one node; several nodes share a database store.
type MemorySessions struct {
	mu sync.Mutex
	m  map[[32]byte]Session
}

// NewMemorySessions returns an empty store.
func NewMemorySessions() *MemorySessions { return &MemorySessions{m: map[[32]byte]Session{}} }

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

func (m *MemorySessions) Create(id string, s Session) error {
	m.mu.Lock()
	m.m[sessionKey(id)] = s
	m.mu.Unlock()
	return nil
}

func (m *MemorySessions) Get(id string) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[sessionKey(id)]
	return s, ok
}

func (m *MemorySessions) Touch(id string, at time.Time) {
	k := sessionKey(id)
	m.mu.Lock()
	if s, ok := m.m[k]; ok && at.After(s.LastSeen) {
		s.LastSeen = at
		m.m[k] = s
	}
	m.mu.Unlock()
}

func (m *MemorySessions) Delete(id string) {
	m.mu.Lock()
	delete(m.m, sessionKey(id))
	m.mu.Unlock()
}

func (m *MemorySessions) DeleteUser(userID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, s := range m.m {
		if s.UserID == userID {
			delete(m.m, k)
			n++
		}
	}
	return n
}

func (m *MemorySessions) DeleteExpired(idle, absolute time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, s := range m.m {
		if s.LastSeen.Before(idle) || s.CreatedAt.Before(absolute) {
			delete(m.m, k)
			n++
		}
	}
	return n
}

func (m *MemorySessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

var _ SessionStore = (*MemorySessions)(nil)
