package main

// Supervisors listen, whisper and barge on live calls: agentdesk.MonitorAPI serves
// POST/DELETE /api/calls/{id}/monitor and the call service (call.Service implements
// agentdesk.Monitors) rings the supervisor's phone and mixes their audio in.

import (
	"context"
	"log/slog"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/agentdesk/auth"
)

func init() { deskWirings = append(deskWirings, wireMonitor) }

func wireMonitor(a *app, desk *agentdesk.Server) error {
	log := a.log.With("component", "monitor")
	api := &agentdesk.MonitorAPI{
		Monitors: a.calls,
		Logger:   log,
		// Teams and the audit log come from sign-in (wire_auth.go), looked up per request
		// so that the order of the wirings does not matter.
		TeamOf: func(ctx context.Context, id string) string {
			if desk.AgentTeam != nil {
				return desk.AgentTeam(ctx, id)
			}
			if desk.Auth != nil {
				if u, err := desk.Auth.Store().Get(ctx, auth.NormalizeID(id)); err == nil {
					return u.Team
				}
			}
			return ""
		},
		Audit: func(ctx context.Context, e auth.Entry) error {
			if desk.Auth != nil {
				return desk.Auth.Audit(ctx, e)
			}
			log.Info("supervisor action", "audit", true, slog.Any("entry", e))
			return nil
		},
	}
	desk.Mount(agentdesk.MonitorPattern, api.Handler())
	return nil
}
