package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// How the server wires it: open under the data folder, print the first administrator's
// one-time password once, mount the sign-in routes, guard the rest, audit supervisor
// actions.
func Example() {
	dir, _ := os.MkdirTemp("", "hotline-data")
	defer os.RemoveAll(dir)
	a, err := auth.Open(dir, auth.Options{
		Logger:         slog.New(slog.DiscardHandler),
		Registerer:     prometheus.NewRegistry(),
		InsecureCookie: true, // plain http://127.0.0.1 in development only
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	if cred, _ := a.Bootstrap(context.Background()); cred != nil {
		fmt.Printf("first start: administrator %q, one-time password of %d characters\n", cred.User.ID, len(cred.Password))
	}

	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("POST /api/cases/{ref}/dispatch", a.Require(auth.DispatchCase, http.NotFoundHandler()))
	mux.HandleFunc("POST /api/calls/{id}/listen", func(w http.ResponseWriter, r *http.Request) {
		team := "a" // the team of the agent on the call, looked up by the handler
		if !a.Check(w, r, auth.MonitorTeam(team)) {
			return // 401, or 403 with an audit line
		}
		if err := a.Audit(r.Context(), auth.Entry{Action: auth.ActionListen, Target: "call " + r.PathValue("id"), Result: auth.ResultOK}); err != nil {
			http.Error(w, "not audited, not done", http.StatusServiceUnavailable)
			return
		}
		// … start listening
	})
	var _ http.Handler = a.Middleware(mux)
	// Output: first start: administrator "admin", one-time password of 16 characters
}
