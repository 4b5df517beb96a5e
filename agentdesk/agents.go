package agentdesk

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/hotline-12345/hotline/acd"
)

// AgentControl is what the agent API drives: the ACD's agent states.
type AgentControl interface {
	Login(agentID string, skills map[string]int) error
	Ready(agentID string) error
	Break(agentID, reason string) error
	Logout(agentID string) error
	EndWrapUp(agentID string) error
	Snapshot() acd.Snapshot
}

// agentRoutes serves agent state changes and the queue snapshot:
//
//	GET  /api/queues                     queues and agents, as on the wallboard
//	POST /api/agents/{id}/login          (skills from the configuration)
//	POST /api/agents/{id}/ready
//	POST /api/agents/{id}/break          {"reason": "lunch"}
//	POST /api/agents/{id}/wrapup-done
//	POST /api/agents/{id}/logout
func (s *Server) agentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/queues", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, s.ACD.Snapshot())
	})
	mux.HandleFunc("POST /api/agents/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		id, action := r.PathValue("id"), r.PathValue("action")
		skills, known := s.AgentSkills[id]
		if !known {
			WriteError(w, http.StatusNotFound, "no agent with id "+id)
			return
		}
		var err error
		switch action {
		case "login":
			err = s.ACD.Login(id, skills)
		case "ready":
			err = s.ACD.Ready(id)
		case "break":
			var body struct {
				Reason string `json:"reason"`
			}
			if derr := decodeBody(r, &body); derr != nil {
				WriteError(w, http.StatusBadRequest, derr.Error())
				return
			}
			if body.Reason == "" || len(body.Reason) > 64 {
				WriteError(w, http.StatusBadRequest, "a break needs a reason of 1 to 64 characters")
				return
			}
			err = s.ACD.Break(id, body.Reason)
		case "wrapup-done":
			err = s.ACD.EndWrapUp(id)
		case "logout":
			err = s.ACD.Logout(id)
		default:
			WriteError(w, http.StatusNotFound, "no agent action "+action+" (login, ready, break, wrapup-done, logout)")
			return
		}
		if err != nil {
			WriteError(w, http.StatusConflict, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, map[string]string{"agent": id, "done": action})
	})
}

// maxBody bounds every API request body.
const maxBody = 64 << 10

// decodeBody reads a JSON body strictly: unknown fields, trailing data and oversize
// bodies are errors with a message.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the request body is empty; JSON expected")
		}
		return errors.New("the request body is not valid JSON: " + err.Error())
	}
	if dec.More() {
		return errors.New("the request body has data after the JSON value")
	}
	return nil
}
