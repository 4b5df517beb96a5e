package agentdesk

// The glue between the server and package auth: who is asking (a session cookie or the
// admin token), as the User the rest of the server sees, and what each role may see of
// calls.

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// adminUser is who the admin bearer token acts as.
var adminUser = auth.User{ID: "admin", Name: "admin token", Role: cases.RoleAdmin}

// userOf is the auth user as the rest of the server sees it.
func userOf(u auth.User) User {
	return User{ID: u.ID, Role: u.Role, Dept: u.Dept, Team: u.Team, Outsourced: u.Outsourced}
}

// authUser is the reverse, for auth.Can.
func (u User) authUser() auth.User {
	return auth.User{ID: u.ID, Role: u.Role, Dept: u.Dept, Team: u.Team, Outsourced: u.Outsourced}
}

func (s *Server) adminToken(r *http.Request) (bearer, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false, false
	}
	tok, isBearer := strings.CutPrefix(h, "Bearer ")
	return true, isBearer && s.AdminToken != "" &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.AdminToken)) == 1
}

// authenticate lets next serve only a signed-in user or the admin token, with the user
// in the context (UserFrom). Without Auth, only the admin token opens the API.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.Auth == nil {
		return s.requireAdmin(s.limitBody(next))
	}
	inner := s.Auth.SignedIn(s.limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.UserFrom(r.Context())
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), userOf(u))))
	})))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer, ok := s.adminToken(r); bearer {
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
				WriteError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <admin token>), or sign in")
				return
			}
			r = r.WithContext(auth.WithUser(r.Context(), adminUser))
		}
		inner.ServeHTTP(w, r)
	})
}

// limitBody refuses a body larger than any API takes with 413 before a handler reads it.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody))
			return
		}
		if r.Body != nil && r.ContentLength < 0 {
			// Chunked: read at most one byte past the limit to tell.
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			if err != nil {
				WriteError(w, http.StatusBadRequest, "the body could not be read")
				return
			}
			if len(b) > maxBody {
				WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody))
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		next.ServeHTTP(w, r)
	})
}

// teamOf is the team of the agent who took a call: AgentTeam, else the agent's user.
func (s *Server) teamOf(ctx context.Context, agent string) string {
	if agent == "" {
		return ""
	}
	if s.AgentTeam != nil {
		return s.AgentTeam(ctx, agent)
	}
	if s.Auth != nil {
		if u, err := s.Auth.Store().Get(ctx, auth.NormalizeID(agent)); err == nil {
			return u.Team
		}
	}
	return ""
}

// mayView is the scope of the calls API and of recordings: an agent sees the calls they
// took, a supervisor their team's, a department handler those of work orders led by
// their department, reviewers and administrators all.
func (s *Server) mayView(ctx context.Context, u User, c CallInfo) bool {
	switch u.Role {
	case cases.RoleAdmin, cases.RoleReviewer:
		return true
	case cases.RoleAgent:
		return c.Agent != "" && auth.NormalizeID(c.Agent) == u.ID
	case cases.RoleSupervisor:
		return auth.Can(u.authUser(), auth.ViewCall(s.teamOf(ctx, c.Agent), c.Agent))
	case cases.RoleHandler:
		if s.CaseDept == nil || c.Case == "" || u.Dept == "" {
			return false
		}
		dept, err := s.CaseDept(ctx, c.Case)
		return err == nil && dept == u.Dept
	}
	return false
}

// audit writes e to the audit log; without Auth it is logged.
func (s *Server) audit(ctx context.Context, e auth.Entry) error {
	if s.Auth != nil {
		return s.Auth.Audit(ctx, e)
	}
	if e.User == "" {
		u := UserFrom(ctx)
		e.User, e.Role = u.ID, u.Role
	}
	s.logger().Info("audit", "user", e.User, "action", e.Action, "target", e.Target, "result", e.Result, "detail", e.Detail)
	return nil
}

// deny answers 403 for a call outside the user's scope, with an audit line.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, action, target string) {
	u := UserFrom(r.Context())
	_ = s.audit(r.Context(), auth.Entry{Action: action, Target: target, Result: auth.ResultDenied,
		Detail: fmt.Sprintf("%s %s is outside the scope of %s %s", r.Method, r.URL.Path, u.Role, u.ID)})
	WriteError(w, http.StatusForbidden, "not allowed: "+target+" is not one of your calls")
}

// guardCases keeps outsourced staff from dispatching or closing work orders whatever
// their role (the national rule that case handling is not outsourced); the cases package
// already refuses it to agents.
func (s *Server) guardCases(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := UserFrom(r.Context())
		if !u.Outsourced || r.Method != http.MethodPost || !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/transitions") {
			next.ServeHTTP(w, r)
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxCaseBody+1))
		if err != nil {
			WriteError(w, http.StatusBadRequest, "the body could not be read")
			return
		}
		var body struct {
			Action cases.Action `json:"action"`
		}
		// A body that does not parse is the cases API's to refuse.
		if json.Unmarshal(b, &body) == nil {
			var p auth.Permission
			switch body.Action {
			case cases.ActDispatch:
				p = auth.DispatchCase
			case cases.ActClose:
				p = auth.CloseCase
			}
			if p.Name != "" && !auth.Can(u.authUser(), p) {
				_ = s.audit(r.Context(), auth.Entry{Action: auth.ActionAccess, Target: r.Method + " " + r.URL.Path,
					Result: auth.ResultDenied, Detail: "outsourced staff do not " + string(body.Action) + " cases"})
				WriteError(w, http.StatusForbidden, "not allowed: outsourced staff do not "+string(body.Action)+" cases")
				return
			}
		}
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		next.ServeHTTP(w, r)
	})
}

var errNoCall = errors.New("no such call")

// findCall looks a call up by its id in the call directory.
func (s *Server) findCall(id string) (CallInfo, error) {
	if s.Calls != nil {
		for _, c := range s.Calls.Calls() {
			if c.ID == id {
				return c, nil
			}
		}
	}
	return CallInfo{}, errNoCall
}

// adminOnly serves h to administrators only.
func adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if UserFrom(r.Context()).Role != cases.RoleAdmin {
			WriteError(w, http.StatusForbidden, "not allowed: administrators only")
			return
		}
		h(w, r)
	})
}

// guardAgents lets an agent change only their own state, a supervisor their team's
// agents' (audited), an administrator anyone's.
func (s *Server) guardAgents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, _ := strings.CutPrefix(r.URL.Path, "/api/agents/")
		agent, action, _ := strings.Cut(rest, "/")
		u := UserFrom(r.Context())
		var ok, supervising bool
		switch u.Role {
		case cases.RoleAdmin:
			ok = true
		case cases.RoleAgent:
			ok = agent != "" && auth.NormalizeID(agent) == u.ID
		case cases.RoleSupervisor:
			ok = auth.Can(u.authUser(), auth.ForceAgentState(s.teamOf(r.Context(), agent)))
			supervising = true
		}
		target := "agent " + agent
		if !ok {
			_ = s.audit(r.Context(), auth.Entry{Action: auth.ActionAccess, Target: target, Result: auth.ResultDenied,
				Detail: r.Method + " " + r.URL.Path})
			WriteError(w, http.StatusForbidden, "not allowed: agent "+agent+" is not you or one of your team")
			return
		}
		if supervising {
			if err := s.audit(r.Context(), auth.Entry{Action: auth.ActionForceState, Target: target, Result: auth.ResultOK, Detail: action}); err != nil {
				WriteError(w, http.StatusServiceUnavailable, "the action could not be audited, so it is not done")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
