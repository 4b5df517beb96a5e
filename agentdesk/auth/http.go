package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// CookieName is the session cookie; CSRFHeader carries the session's CSRF token on
// every state-changing request.
const (
	CookieName = "hotline_session"
	CSRFHeader = "X-CSRF-Token"
	loginPath  = "/api/auth/login"
)

// Routes mounts the sign-in API:
//
//	POST  /api/auth/login       {"user","password"} → cookie + {user, role, csrf, …}
//	POST  /api/auth/logout
//	POST  /api/auth/logout-all  every session of the user, on every browser
//	POST  /api/auth/password    {"current","new"} → new session + csrf; other sessions end
//	GET   /api/auth/me
//	GET   /api/auth/users                          (ManageUsers)
//	POST  /api/auth/users       NewUser            (ManageUsers) → one-time password
//	PATCH /api/auth/users/{id}  UserPatch          (ManageUsers)
//	POST  /api/auth/users/{id}/password-reset      (ManageUsers) → one-time password
func (a *Auth) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+loginPath, a.login)
	mux.HandleFunc("POST /api/auth/logout", a.logout)
	mux.HandleFunc("POST /api/auth/logout-all", a.logoutAll)
	mux.HandleFunc("POST /api/auth/password", a.password)
	mux.HandleFunc("GET /api/auth/me", a.me)
	mux.Handle("GET /api/auth/users", a.Require(ManageUsers, http.HandlerFunc(a.listUsers)))
	mux.Handle("POST /api/auth/users", a.Require(ManageUsers, http.HandlerFunc(a.createUser)))
	mux.Handle("PATCH /api/auth/users/{id}", a.Require(ManageUsers, http.HandlerFunc(a.patchUser)))
	mux.Handle("POST /api/auth/users/{id}/password-reset", a.Require(ManageUsers, http.HandlerFunc(a.resetUser)))
}

// failure is a request refused while finding who made it.
type failure struct {
	status int
	msg    string
	csrf   bool // refused by the CSRF or origin check: audited
	clear  bool // the cookie names no live session: clear it
	user   User // who the session belongs to, for the audit line
}

// resolution is what Middleware found, kept in the context so that Require does not
// look again (a session that expired is deleted on the first look).
type resolutionKey struct{}

type resolution struct {
	id *identity
	f  *failure
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions && m != http.MethodTrace
}

// resolve finds who made r: a bearer client, a session, or nobody (nil, nil). For a
// session, state-changing requests must come from our origin and carry the CSRF token.
func (a *Auth) resolve(r *http.Request) (*identity, *failure) {
	if id, ok := r.Context().Value(ctxKey{}).(*identity); ok && id != nil {
		return id, nil
	}
	if res, ok := r.Context().Value(resolutionKey{}).(resolution); ok {
		return res.id, res.f
	}
	ip := a.o.ClientIP(r)
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || a.o.Bearer == nil {
			return nil, &failure{status: http.StatusUnauthorized, msg: "only Bearer tokens are accepted in Authorization"}
		}
		u, ok := a.o.Bearer(r.Context(), strings.TrimSpace(tok))
		if !ok {
			return nil, &failure{status: http.StatusUnauthorized, msg: "invalid bearer token"}
		}
		return &identity{user: u, ip: ip}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	s, ok := a.sessions.Get(c.Value)
	now := a.now()
	ended := &failure{status: http.StatusUnauthorized, msg: "your session has ended; sign in again", clear: true}
	if !ok {
		return nil, ended
	}
	if now.Sub(s.LastSeen) > a.o.IdleTimeout || now.Sub(s.CreatedAt) > a.o.AbsoluteTimeout {
		a.sessions.Delete(c.Value)
		return nil, &failure{status: http.StatusUnauthorized, msg: "your session has expired; sign in again", clear: true}
	}
	u, err := a.store.Get(r.Context(), s.UserID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.log.Error("user store", "err", err, "user", s.UserID)
		return nil, &failure{status: http.StatusInternalServerError, msg: "the user store is not available"}
	}
	if err != nil || u.Disabled || u.Epoch != s.Epoch {
		a.sessions.Delete(c.Value)
		return nil, ended
	}
	// A WebSocket handshake is a GET, but what it opens acts for the user: another
	// origin must not open one with our cookie (cross-site WebSocket hijacking).
	if isWebSocket(r) && !a.sameOrigin(r) {
		return nil, &failure{status: http.StatusForbidden, msg: "cross-origin WebSocket refused", csrf: true, user: u}
	}
	if unsafeMethod(r.Method) && r.URL.Path != loginPath {
		if !a.sameOrigin(r) {
			return nil, &failure{status: http.StatusForbidden, msg: "cross-origin request refused", csrf: true, user: u}
		}
		tok := r.Header.Get(CSRFHeader)
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) != 1 {
			return nil, &failure{status: http.StatusForbidden, msg: "missing or wrong " + CSRFHeader + " header", csrf: true, user: u}
		}
	}
	a.sessions.Touch(c.Value, now)
	return &identity{user: u, sessionID: c.Value, session: s, ip: ip}, nil
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// sameOrigin accepts a request whose Origin (or, lacking it, Referer) names the host it
// was sent to or a trusted origin. A request with neither (curl, a test) passes: the
// CSRF token still has to match, and browsers always send Origin on a POST.
func (a *Auth) sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
		if o == "" {
			return true
		}
	}
	if o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if a.trusted[u.Scheme+"://"+u.Host] {
		return true
	}
	return strings.EqualFold(u.Host, r.Host)
}

// fail writes f, auditing CSRF refusals.
func (a *Auth) fail(w http.ResponseWriter, r *http.Request, f *failure) {
	if f.clear {
		a.clearCookie(w)
	}
	if f.csrf {
		a.m.csrf.Inc()
		_ = a.Audit(r.Context(), Entry{User: f.user.ID, Role: f.user.Role, IP: a.o.ClientIP(r), Action: ActionCSRF, Target: r.Method + " " + r.URL.Path,
			Result: ResultDenied, Detail: f.msg + originDetail(r)})
	}
	writeError(w, f.status, f.msg)
}

func originDetail(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" {
		return " (origin " + o + ")"
	}
	return ""
}

// Middleware finds the user of every request (a session or a bearer token) and puts it
// in the context for UserFrom and Audit; requests without valid credentials pass on
// anonymous, except state-changing requests of a session that fail the CSRF check,
// which are refused here.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, f := a.resolve(r)
		if f != nil && f.csrf {
			a.fail(w, r, f)
			return
		}
		ctx := context.WithValue(r.Context(), ipKey{}, a.o.ClientIP(r))
		ctx = context.WithValue(ctx, resolutionKey{}, resolution{id, f})
		if id != nil {
			ctx = context.WithValue(ctx, ctxKey{}, id)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Require serves next only to a signed-in user who has p: 401 when not signed in, 403
// (and an audit line) when not allowed.
func (a *Auth) Require(p Permission, next http.Handler) http.Handler {
	return a.RequireFunc(func(*http.Request) Permission { return p }, next)
}

// RequireFunc is Require with the permission taken from the request, e.g. the team in
// the path.
func (a *Auth) RequireFunc(p func(*http.Request) Permission, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := a.signedIn(w, r)
		if id == nil {
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		if !a.allowed(w, r, id, p(r)) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SignedIn serves next only to a signed-in user (any role): 401 when not signed in, 403
// while a one-time password has not been changed. The handler checks what the user may
// see or do (Can, Check).
func (a *Auth) SignedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := a.signedIn(w, r)
		if id == nil {
			return
		}
		if id.user.MustChange && id.sessionID != "" {
			writeJSON(w, http.StatusForbidden, map[string]any{
				"error": "change your one-time password first", "must_change_password": true})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

// Check is Require inside a handler, once the scope is known (the call's team, the
// recording's agent): it writes the 401 or 403 (audited) and returns false when the
// request must stop.
func (a *Auth) Check(w http.ResponseWriter, r *http.Request, p Permission) bool {
	id := a.signedIn(w, r)
	return id != nil && a.allowed(w, r, id, p)
}

func (a *Auth) signedIn(w http.ResponseWriter, r *http.Request) *identity {
	id, f := a.resolve(r)
	if f != nil {
		a.fail(w, r, f)
		return nil
	}
	if id == nil {
		writeError(w, http.StatusUnauthorized, "sign in first")
		return nil
	}
	return id
}

func (a *Auth) allowed(w http.ResponseWriter, r *http.Request, id *identity, p Permission) bool {
	if id.user.MustChange && id.sessionID != "" {
		writeJSON(w, http.StatusForbidden, map[string]any{
			"error": "change your one-time password first", "must_change_password": true})
		return false
	}
	if Can(id.user, p) {
		return true
	}
	a.m.denied.Inc()
	_ = a.Audit(r.Context(), Entry{User: id.user.ID, Role: id.user.Role, IP: id.ip, Action: ActionAccess,
		Target: r.Method + " " + r.URL.Path, Result: ResultDenied, Detail: "lacks " + p.String()})
	writeError(w, http.StatusForbidden, "not allowed: "+p.String())
	return false
}

// meResponse is the signed-in user as the page needs it.
type meResponse struct {
	User        string     `json:"user"`
	Name        string     `json:"name"`
	Role        cases.Role `json:"role"`
	Team        string     `json:"team,omitempty"`
	Dept        string     `json:"dept,omitempty"`
	Outsourced  bool       `json:"outsourced"`
	MustChange  bool       `json:"must_change_password"`
	CSRF        string     `json:"csrf,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at,omitzero"` // the absolute end of the session
	Permissions []string   `json:"permissions"`         // unscoped names the user has for some scope
}

func (a *Auth) meOf(u User, s Session) meResponse {
	m := meResponse{User: u.ID, Name: u.Name, Role: u.Role, Team: u.Team, Dept: u.Dept, Outsourced: u.Outsourced,
		MustChange: u.MustChange, CSRF: s.CSRF, Permissions: []string{}}
	if !s.CreatedAt.IsZero() {
		m.ExpiresAt = s.CreatedAt.Add(a.o.AbsoluteTimeout).UTC()
	}
	for _, p := range []Permission{TakeCalls, EditCase, DispatchCase, CloseCase, ManageUsers, MonitorTeam(AnyScope),
		ForceAgentState(AnyScope), ListenRecording(AnyScope), ViewTeam(AnyScope), ViewCall(AnyScope, u.ID), HandleDeptCases(AnyScope)} {
		if Can(u, p) {
			m.Permissions = append(m.Permissions, p.Name)
		}
	}
	return m
}

func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// readBody decodes a bounded JSON body with dec; it writes the error and returns false.
func readBody[T any](w http.ResponseWriter, r *http.Request, dec func(io.Reader) (T, error)) (T, bool) {
	var zero T
	if !jsonBody(r) {
		writeError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return zero, false
	}
	v, err := dec(http.MaxBytesReader(w, r.Body, MaxBody))
	var mb *http.MaxBytesError
	var br *badRequest
	switch {
	case err == nil:
		return v, true
	case errors.As(err, &mb):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBody))
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.msg)
	default:
		writeError(w, http.StatusBadRequest, "the body could not be read")
	}
	return zero, false
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(d.Seconds())))))
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	ip := a.o.ClientIP(r)
	if !a.sameOrigin(r) {
		a.fail(w, r, &failure{status: http.StatusForbidden, msg: "cross-origin sign-in refused", csrf: true})
		return
	}
	q, ok := readBody(w, r, decodeLogin)
	if !ok {
		return
	}
	now := a.now()
	entry := Entry{User: q.User, IP: ip, Action: ActionLogin}
	if validID(q.User) != nil {
		// Not a possible id: often a password typed in the wrong field, which has no
		// place in a log.
		entry.User = "(not a valid id)"
	}
	wait, limited := a.byUser.blocked(q.User, now)
	if w2, l2 := a.byIP.blocked(ip, now); l2 {
		wait, limited = max(wait, w2), true
	}
	if limited {
		a.m.logins.WithLabelValues(ResultLimited).Inc()
		entry.Result, entry.Detail = ResultLimited, "too many failed sign-ins"
		_ = a.Audit(r.Context(), entry)
		retryAfter(w, wait)
		writeError(w, http.StatusTooManyRequests, "too many failed sign-ins; try again later")
		return
	}
	u, err := a.store.Get(r.Context(), q.User)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.log.Error("user store", "err", err, "user", q.User)
		writeError(w, http.StatusInternalServerError, "the user store is not available")
		return
	}
	// An unknown user is checked against the dummy hash: the same work, so the answer's
	// timing does not tell whether the name exists.
	hash := a.hash.dummy
	if err == nil {
		hash = u.PasswordHash
	}
	good, rehash, verr := a.hash.verify(r.Context(), hash, q.Password)
	if verr != nil {
		writeError(w, http.StatusServiceUnavailable, "sign-in cancelled")
		return
	}
	why := ""
	switch {
	case err != nil:
		why = "unknown user"
	case !good:
		why = "wrong password"
	case u.Disabled:
		why = "account disabled"
	}
	if why != "" {
		a.byUser.fail(q.User, now)
		a.byIP.fail(ip, now)
		a.m.logins.WithLabelValues(ResultFailed).Inc()
		if err == nil {
			entry.Role = u.Role
		}
		entry.Result, entry.Detail = ResultFailed, why
		_ = a.Audit(r.Context(), entry)
		writeError(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	a.byUser.reset(q.User)
	if rehash {
		if h, err := a.hash.hash(r.Context(), q.Password); err == nil {
			if _, err := a.store.Update(r.Context(), u.ID, func(x *User) error { x.PasswordHash = h; return nil }); err != nil {
				a.log.Warn("password not rehashed with the current costs", "user", u.ID, "err", err)
			}
		}
	}
	// A new session id on every sign-in: an id planted before sign-in is worth nothing.
	if c, err := r.Cookie(CookieName); err == nil {
		a.sessions.Delete(c.Value)
	}
	s, err := a.newSession(w, r, u)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "no session could be made")
		return
	}
	a.m.logins.WithLabelValues(ResultOK).Inc()
	entry.Role, entry.Result = u.Role, ResultOK
	_ = a.Audit(r.Context(), entry)
	writeJSON(w, http.StatusOK, a.meOf(u, s))
}

func (a *Auth) newSession(w http.ResponseWriter, r *http.Request, u User) (Session, error) {
	now := a.now()
	a.sweep(now)
	id := randomToken(32)
	s := Session{UserID: u.ID, CSRF: randomToken(32), Epoch: u.Epoch, CreatedAt: now, LastSeen: now,
		IP: a.o.ClientIP(r), UserAgent: clip(r.UserAgent(), 256)}
	if err := a.sessions.Create(id, s); err != nil {
		a.log.Error("session store", "err", err)
		return Session{}, err
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true,
		Secure: !a.o.InsecureCookie, SameSite: http.SameSiteStrictMode})
	return s, nil
}

func (a *Auth) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: !a.o.InsecureCookie, SameSite: http.SameSiteStrictMode})
}

// sessionOf is the session user of r, or a written 401/403.
func (a *Auth) sessionOf(w http.ResponseWriter, r *http.Request) *identity {
	id := a.signedIn(w, r)
	if id != nil && id.sessionID == "" {
		writeError(w, http.StatusBadRequest, "a bearer client has no session")
		return nil
	}
	return id
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	id := a.sessionOf(w, r)
	if id == nil {
		return
	}
	a.sessions.Delete(id.sessionID)
	a.clearCookie(w)
	_ = a.Audit(r.Context(), Entry{User: id.user.ID, Role: id.user.Role, IP: id.ip, Action: ActionLogout, Result: ResultOK})
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
}

func (a *Auth) logoutAll(w http.ResponseWriter, r *http.Request) {
	id := a.sessionOf(w, r)
	if id == nil {
		return
	}
	// The epoch ends sessions held by other nodes too, once they share the store.
	if _, err := a.store.Update(r.Context(), id.user.ID, func(u *User) error { u.Epoch++; return nil }); err != nil {
		a.log.Error("user store", "err", err, "user", id.user.ID)
		writeError(w, http.StatusInternalServerError, "not signed out everywhere: the user store failed")
		return
	}
	n := a.sessions.DeleteUser(id.user.ID)
	a.clearCookie(w)
	_ = a.Audit(r.Context(), Entry{User: id.user.ID, Role: id.user.Role, IP: id.ip, Action: ActionLogoutAll,
		Result: ResultOK, Detail: fmt.Sprintf("%d sessions ended", n)})
	writeJSON(w, http.StatusOK, map[string]any{"status": "signed out everywhere", "sessions": n})
}

func (a *Auth) me(w http.ResponseWriter, r *http.Request) {
	id := a.signedIn(w, r)
	if id == nil {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, a.meOf(id.user, id.session))
}

func (a *Auth) password(w http.ResponseWriter, r *http.Request) {
	id := a.sessionOf(w, r)
	if id == nil {
		return
	}
	q, ok := readBody(w, r, decodePassword)
	if !ok {
		return
	}
	now := a.now()
	entry := Entry{User: id.user.ID, Role: id.user.Role, IP: id.ip, Action: ActionPasswordChange}
	if wait, limited := a.byUser.blocked(id.user.ID, now); limited {
		entry.Result = ResultLimited
		_ = a.Audit(r.Context(), entry)
		retryAfter(w, wait)
		writeError(w, http.StatusTooManyRequests, "too many wrong passwords; try again later")
		return
	}
	u, err := a.changePassword(r.Context(), id.user.ID, q.Current, q.New)
	var inv *InvalidError
	switch {
	case errors.Is(err, errWrongPassword):
		a.byUser.fail(id.user.ID, now)
		entry.Result, entry.Detail = ResultFailed, "wrong current password"
		_ = a.Audit(r.Context(), entry)
		writeError(w, http.StatusForbidden, err.Error())
		return
	case errors.As(err, &inv):
		entry.Result, entry.Detail = ResultFailed, inv.Msg
		_ = a.Audit(r.Context(), entry)
		writeError(w, http.StatusBadRequest, inv.Msg)
		return
	case err != nil:
		a.log.Error("password not changed", "err", err, "user", id.user.ID)
		writeError(w, http.StatusInternalServerError, "the password was not changed")
		return
	}
	s, err := a.newSession(w, r, u)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "password changed, but no new session: sign in again")
		return
	}
	entry.Result = ResultOK
	_ = a.Audit(r.Context(), entry)
	writeJSON(w, http.StatusOK, a.meOf(u, s))
}

func (a *Auth) storeError(w http.ResponseWriter, err error) {
	var inv *InvalidError
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "no such user")
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, "a user with this id exists")
	case errors.As(err, &inv):
		writeError(w, http.StatusBadRequest, inv.Msg)
	default:
		a.log.Error("user store", "err", err)
		writeError(w, http.StatusInternalServerError, "the user store failed")
	}
}

func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.store.List(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (a *Auth) createUser(w http.ResponseWriter, r *http.Request) {
	n, ok := readBody(w, r, decodeNewUser)
	if !ok {
		return
	}
	u, pw, err := a.CreateUser(r.Context(), n)
	entry := Entry{Action: ActionUserCreate, Target: n.ID, Result: ResultOK, Detail: string(n.Role)}
	if err != nil {
		entry.Result, entry.Detail = ResultFailed, err.Error()
		_ = a.Audit(r.Context(), entry)
		a.storeError(w, err)
		return
	}
	_ = a.Audit(r.Context(), entry)
	out := map[string]any{"user": u}
	if pw != "" {
		out["password"] = pw
	}
	writeJSON(w, http.StatusCreated, out)
}

func (a *Auth) patchUser(w http.ResponseWriter, r *http.Request) {
	p, ok := readBody(w, r, decodeUserPatch)
	if !ok {
		return
	}
	target := NormalizeID(r.PathValue("id"))
	me, _ := UserFrom(r.Context())
	if target == me.ID && (p.Disabled != nil && *p.Disabled || p.Role != nil && *p.Role != me.Role) {
		writeError(w, http.StatusBadRequest, "you cannot disable yourself or change your own role")
		return
	}
	b, _ := json.Marshal(p)
	u, err := a.UpdateUser(r.Context(), target, p)
	entry := Entry{Action: ActionUserUpdate, Target: target, Result: ResultOK, Detail: string(b)}
	if err != nil {
		entry.Result = ResultFailed
		_ = a.Audit(r.Context(), entry)
		a.storeError(w, err)
		return
	}
	_ = a.Audit(r.Context(), entry)
	writeJSON(w, http.StatusOK, map[string]any{"user": u})
}

func (a *Auth) resetUser(w http.ResponseWriter, r *http.Request) {
	target := NormalizeID(r.PathValue("id"))
	pw, err := a.ResetPassword(r.Context(), target)
	entry := Entry{Action: ActionPasswordReset, Target: target, Result: ResultOK}
	if err != nil {
		entry.Result = ResultFailed
		_ = a.Audit(r.Context(), entry)
		a.storeError(w, err)
		return
	}
	_ = a.Audit(r.Context(), entry)
	writeJSON(w, http.StatusOK, map[string]any{"user": target, "password": pw, "must_change_password": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
