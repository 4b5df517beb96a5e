// Package auth owns who may use hotline's HTTP side: users and their roles, passwords
// (argon2id), server-side sessions behind an HttpOnly cookie, CSRF protection, login rate
// limiting, the permission policy (Can: an agent sees only their own calls, a supervisor
// only their team's, outsourced staff never dispatch or close cases) and the audit log of
// sign-ins, refusals and supervisor actions.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure New. Store and Audit are required; the rest has defaults.
type Options struct {
	Store    Store
	Audit    *AuditLog
	Sessions SessionStore // default: NewMemorySessions()

	Logger     *slog.Logger
	Now        func() time.Time
	Registerer prometheus.Registerer // nil: metrics kept, not exported

	// IdleTimeout ends a session not used for this long (default 8 h, a work day);
	// AbsoluteTimeout ends any session this long after sign-in (default 12 h).
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration

	// InsecureCookie drops the Secure attribute, for development over plain
	// http://127.0.0.1 only: a browser would not send a Secure cookie there.
	InsecureCookie bool

	// UserFailures failed sign-ins per user id and IPFailures per client IP within
	// FailureWindow block further attempts (defaults 5, 20, 15 min; negative disables).
	// A call centre behind one NAT address shares the IP budget: raise IPFailures there.
	UserFailures  int
	IPFailures    int
	FailureWindow time.Duration

	Hash HashParams // default DefaultHashParams

	// ClientIP finds the client's address; default: the host of RemoteAddr. Set it to
	// trust X-Forwarded-For only behind a proxy you run.
	ClientIP func(*http.Request) string

	// Bearer, if set, authenticates API clients (Authorization: Bearer …); they carry no
	// cookie and so skip CSRF. Return false for an unknown token.
	Bearer func(ctx context.Context, token string) (User, bool)

	// TrustedOrigins are extra origins (scheme://host[:port]) allowed to make
	// state-changing requests besides the request's own host.
	TrustedOrigins []string
}

// Auth is the authentication and authorisation layer. Build it with New or Open.
type Auth struct {
	o        Options
	store    Store
	sessions SessionStore
	audit    *AuditLog
	log      *slog.Logger
	now      func() time.Time
	hash     *hasher
	byUser   *limiter
	byIP     *limiter
	trusted  map[string]bool
	m        metrics
	ownAudit bool

	sweepMu   sync.Mutex
	lastSweep time.Time
}

type metrics struct {
	logins      *prometheus.CounterVec
	denied      prometheus.Counter
	csrf        prometheus.Counter
	auditErrors prometheus.Counter
}

// New checks o and returns the layer.
func New(o Options) (*Auth, error) {
	if o.Store == nil || o.Audit == nil {
		return nil, errors.New("auth: Store and Audit are required")
	}
	if o.Sessions == nil {
		o.Sessions = NewMemorySessions()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 8 * time.Hour
	}
	if o.AbsoluteTimeout == 0 {
		o.AbsoluteTimeout = 12 * time.Hour
	}
	if o.IdleTimeout < 0 || o.AbsoluteTimeout < 0 {
		return nil, errors.New("auth: session timeouts must be positive")
	}
	if o.UserFailures == 0 {
		o.UserFailures = 5
	}
	if o.IPFailures == 0 {
		o.IPFailures = 20
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = 15 * time.Minute
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteIP
	}
	h, err := newHasher(o.Hash)
	if err != nil {
		return nil, err
	}
	a := &Auth{
		o: o, store: o.Store, sessions: o.Sessions, audit: o.Audit, log: o.Logger, now: o.Now, hash: h,
		byUser: newLimiter(o.UserFailures, o.FailureWindow), byIP: newLimiter(o.IPFailures, o.FailureWindow),
		trusted: map[string]bool{},
	}
	for _, t := range o.TrustedOrigins {
		a.trusted[t] = true
	}
	a.m = metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_auth_logins_total",
			Help: "Sign-in attempts by result (ok, failed, rate_limited)."}, []string{"result"}),
		denied: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_auth_denied_total",
			Help: "Requests refused for lack of a permission (403)."}),
		csrf: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_auth_csrf_refused_total",
			Help: "State-changing requests refused for a missing or wrong CSRF token or a foreign origin."}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_auth_audit_errors_total",
			Help: "Audit entries that could not be written."}),
	}
	if o.Registerer != nil {
		sessions := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hotline_auth_sessions",
			Help: "Sessions held by this node (expired ones until the next sweep)."},
			func() float64 { return float64(a.sessions.Len()) })
		for _, c := range []prometheus.Collector{a.m.logins, a.m.denied, a.m.csrf, a.m.auditErrors, sessions} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("auth: metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Open is New with the embedded stores under dataDir: users in dataDir/users.json and
// the audit log in dataDir/audit/. Close closes the audit log.
func Open(dataDir string, o Options) (*Auth, error) {
	st, err := OpenFileStore(dataDir)
	if err != nil {
		return nil, err
	}
	al, err := OpenAuditLog(filepath.Join(dataDir, "audit"), AuditOptions{Now: o.Now, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	o.Store, o.Audit = st, al
	a, err := New(o)
	if err != nil {
		al.Close()
		return nil, err
	}
	a.ownAudit = true
	return a, nil
}

// Close releases what Open opened.
func (a *Auth) Close() error {
	if a.ownAudit {
		return a.audit.Close()
	}
	return nil
}

// Store is the user store.
func (a *Auth) Store() Store { return a.store }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// identity is who made a request, as the middleware found it.
type identity struct {
	user      User
	sessionID string // empty for bearer clients
	session   Session
	ip        string
}

type ctxKey struct{}

// UserFrom returns the signed-in user of a request that passed Middleware or Require.
func UserFrom(ctx context.Context) (User, bool) {
	id, ok := ctx.Value(ctxKey{}).(*identity)
	if !ok || id == nil {
		return User{}, false
	}
	return id.user, true
}

// WithUser returns ctx acting as u (for the server's own calls and for tests).
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, ctxKey{}, &identity{user: u})
}

type ipKey struct{}

// Audit writes e, filling User, Role and IP from ctx when they are empty. It is what the
// rest of the server calls for supervisor actions and recording access. An error means
// the line is not on disk: callers that must not act unaudited should refuse.
func (a *Auth) Audit(ctx context.Context, e Entry) error {
	if id, ok := ctx.Value(ctxKey{}).(*identity); ok && id != nil {
		if e.User == "" {
			e.User, e.Role = id.user.ID, id.user.Role
		}
		if e.IP == "" {
			e.IP = id.ip
		}
	}
	if ip, ok := ctx.Value(ipKey{}).(string); ok && e.IP == "" {
		e.IP = ip
	}
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	if err := a.audit.Append(e); err != nil {
		a.m.auditErrors.Inc()
		a.log.Error("audit entry lost", "err", err, "action", e.Action, "user", e.User, "target", e.Target)
		return err
	}
	return nil
}

// sweep drops expired sessions at most once a minute, from the request path: no
// goroutine to start or stop.
func (a *Auth) sweep(now time.Time) {
	a.sweepMu.Lock()
	if now.Sub(a.lastSweep) < time.Minute {
		a.sweepMu.Unlock()
		return
	}
	a.lastSweep = now
	a.sweepMu.Unlock()
	a.sessions.DeleteExpired(now.Add(-a.o.IdleTimeout), now.Add(-a.o.AbsoluteTimeout))
}
