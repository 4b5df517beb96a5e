package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// Sign-in: users, sessions and the audit log under the data folder. The first start
// creates the administrator "admin", a demo supervisor and demo agents, and a user for
// every configured agent, each with a one-time password printed once in the log.
func init() { deskWirings = append(deskWirings, wireAuth) }

// demoTeam is the team of the demo supervisor and of the agents created for the
// configuration; an administrator moves agents to other teams (PATCH /api/auth/users/{id}).
const demoTeam = "demo"

func wireAuth(a *app, desk *agentdesk.Server) error {
	au, err := auth.Open(a.cfg.DataDir, auth.Options{
		Logger: a.log, Registerer: a.reg,
		// A browser sends a Secure cookie only over HTTPS (or to localhost): plain HTTP on
		// a loopback address is development; anywhere else TLS ends in front of us.
		InsecureCookie: loopback(a.cfg.HTTP.Listen),
		// The admin token manages users too (/api/auth/users), for scripts.
		Bearer: func(_ context.Context, tok string) (auth.User, bool) {
			ok := a.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.token)) == 1
			return auth.User{ID: "admin", Name: "admin token", Role: cases.RoleAdmin}, ok
		},
	})
	if err != nil {
		return err
	}
	if !loopback(a.cfg.HTTP.Listen) {
		a.log.Info("auth: session cookies are Secure: browsers send them only over HTTPS, so serve the desk behind TLS",
			"http", a.cfg.HTTP.Listen)
	}
	a.closers = append(a.closers, func() {
		if err := au.Close(); err != nil {
			a.log.Warn("auth: close", "error", err)
		}
	})
	ctx := context.Background()
	admin, err := au.Bootstrap(ctx)
	if err != nil {
		return err
	}
	var created []auth.Credential
	if admin != nil {
		created = append(created, *admin)
		demo, err := au.SeedDemo(ctx)
		if err != nil {
			return err
		}
		created = append(created, demo...)
	}
	// Agents added to the configuration later get a user at the next start.
	for _, ag := range a.cfg.Agents {
		u, pw, err := au.CreateUser(ctx, auth.NewUser{ID: ag.ID, Name: ag.Name, Role: cases.RoleAgent, Team: demoTeam})
		if errors.Is(err, auth.ErrExists) {
			continue
		}
		if err != nil {
			a.log.Warn("auth: no user for the configured agent", "agent_id", ag.ID, "error", err)
			continue
		}
		_ = au.Audit(ctx, auth.Entry{User: "system", Role: cases.RoleSystem, Action: auth.ActionUserCreate, Target: u.ID,
			Result: auth.ResultOK, Detail: "configured agent"})
		created = append(created, auth.Credential{User: u, Password: pw})
	}
	for _, c := range created {
		// Printed once: only the hash is kept, and the password must be changed at the
		// first sign-in.
		a.log.Warn("auth: new user; sign in with this one-time password and change it",
			"user", c.User.ID, "role", string(c.User.Role), "team", c.User.Team, "outsourced", c.User.Outsourced,
			"one_time_password", c.Password)
	}
	desk.Auth = au
	desk.Recordings = a.recs
	desk.CaseDept = func(ctx context.Context, number string) (string, error) {
		c, err := a.cases.Get(ctx, number)
		return c.LeadDept, err
	}
	desk.CaseCall = func(ctx context.Context, ref string) (agentdesk.CallInfo, error) {
		return caseCall(ctx, a.cases, ref)
	}
	return nil
}

// caseCall is the call that opened a work order, as its timeline tells: the agent who
// answered and the call's recording (not a voice message's, not a callback's).
func caseCall(ctx context.Context, store cases.Store, ref string) (agentdesk.CallInfo, error) {
	c, err := store.Get(ctx, ref)
	if err != nil {
		return agentdesk.CallInfo{}, err
	}
	ci := agentdesk.CallInfo{ID: c.CallID, Case: c.Number, State: "ended"}
	if c.CallID == "" {
		return ci, nil
	}
	evs, err := store.Timeline(ctx, c.ID)
	if err != nil {
		return agentdesk.CallInfo{}, err
	}
	for _, e := range evs {
		var p struct {
			Agent string `json:"agent"`
			Path  string `json:"path"`
		}
		if json.Unmarshal(e.Payload, &p) != nil {
			continue
		}
		switch {
		case e.Type == cases.EventCallAnswered && p.Agent != "":
			ci.Agent = p.Agent
		case e.Type == cases.EventRecording && filepath.Base(p.Path) == c.CallID+".wav":
			ci.Recording = p.Path
		}
	}
	return ci, nil
}

func loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
