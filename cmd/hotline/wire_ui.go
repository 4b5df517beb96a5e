package main

// The web UI and the live wallboard: the pages at / (the agent desk or the supervisor
// console, by role) and /login, their assets under /ui/, GET /api/ui/config, and the
// wallboard's WebSocket GET /api/wallboard/ws fed by the ACD and the live calls.

import (
	"sort"
	"time"
	_ "time/tzdata" // time_zone works on hosts without a zoneinfo database

	"github.com/hotline-12345/hotline/agentdesk"
)

func init() { deskWirings = append(deskWirings, wireUI) }

func wireUI(a *app, desk *agentdesk.Server) error {
	queues := make([]string, 0, len(a.cfg.ACD.Queues))
	for _, q := range a.cfg.ACD.Queues {
		queues = append(queues, q.Name)
	}
	dests := make([]string, 0, len(a.cfg.Destinations))
	for d := range a.cfg.Destinations {
		if d != "emergency" { // 110/119/120 are the IVR's, not an agent's transfer
			dests = append(dests, d)
		}
	}
	sort.Strings(dests)
	loc, err := time.LoadLocation(a.cfg.TimeZone) // validated with the configuration
	if err != nil {
		return err
	}
	ui := &agentdesk.UI{TimeZone: a.cfg.TimeZone, Queues: queues, Destinations: dests}
	if err := ui.Register(desk); err != nil {
		return err
	}
	wb := &agentdesk.Wallboard{ACD: a.acd, Calls: a.calls, Location: loc, Logger: a.log}
	desk.MountWallboard(wb)
	a.closers = append(a.closers, wb.Close)
	return nil
}
