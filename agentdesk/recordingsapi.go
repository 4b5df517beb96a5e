package agentdesk

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strconv"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// RecordingOpener opens a recording by the path the call directory gave
// (recordings.Store.Open), refusing anything outside its folder.
type RecordingOpener interface {
	Open(path string) (*os.File, error)
}

// serveRecording: GET /api/recordings/{callID}[?download=1] streams the call's stereo
// WAV (caller left, agent right) with range requests, so the browser's player seeks. The
// file is the one the call directory recorded for the call: nothing in the request names
// a path. Every access, allowed or not, is written to the audit log; one that cannot be
// audited is not served.
func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("callID")
	c, err := s.findCall(id)
	s.sendRecording(w, r, "recording of call "+id, c, err)
}

// serveCaseRecording: GET /api/cases/{ref}/recording[?download=1] is the recording of
// the call that opened a work order, also once the call has left the list of recent
// calls (a restart, an older case). Access and audit as for /api/recordings.
func (s *Server) serveCaseRecording(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	c, err := s.CaseCall(r.Context(), ref)
	if err == nil && c.ID != "" {
		// The live or recent call knows more (the agent while still on it).
		if live, lerr := s.findCall(c.ID); lerr == nil {
			c = live
		}
	}
	s.sendRecording(w, r, "recording of case "+ref, c, err)
}

// sendRecording serves c's recording to a user allowed to see c; found is the error of
// looking c up.
func (s *Server) sendRecording(w http.ResponseWriter, r *http.Request, target string, c CallInfo, found error) {
	entry := auth.Entry{Action: auth.ActionRecording, Target: target}
	if rg := r.Header.Get("Range"); rg != "" {
		entry.Detail = "range " + rg
	}
	refuse := func(status int, result, msg string) {
		entry.Result = result
		if entry.Detail != "" {
			entry.Detail += "; "
		}
		entry.Detail += msg
		_ = s.audit(r.Context(), entry)
		WriteError(w, status, msg)
	}
	if s.Recordings == nil {
		refuse(http.StatusNotFound, auth.ResultFailed, "recordings are not served by this node")
		return
	}
	if found != nil {
		if errors.Is(found, errNoCall) || errors.Is(found, cases.ErrNotFound) {
			refuse(http.StatusNotFound, auth.ResultFailed, "no such call or work order")
			return
		}
		s.logger().Error("recordings: look-up", "target", target, "error", found)
		refuse(http.StatusServiceUnavailable, auth.ResultFailed, "the work orders are not available")
		return
	}
	u := UserFrom(r.Context())
	if !s.mayView(r.Context(), u, c) {
		refuse(http.StatusForbidden, auth.ResultDenied, "not allowed: the call is not one of yours or your team's")
		return
	}
	if c.Recording == "" {
		refuse(http.StatusNotFound, auth.ResultFailed, "the call has no recording")
		return
	}
	f, err := s.Recordings.Open(c.Recording)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			refuse(http.StatusNotFound, auth.ResultFailed, "the recording is gone (retention)")
			return
		}
		s.logger().Error("recordings: open", "call_id", c.ID, "error", err)
		refuse(http.StatusInternalServerError, auth.ResultFailed, "the recording could not be opened")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		refuse(http.StatusInternalServerError, auth.ResultFailed, "the recording could not be read")
		return
	}
	download := r.URL.Query().Get("download")
	if download != "" {
		if ok, err := strconv.ParseBool(download); err != nil {
			refuse(http.StatusBadRequest, auth.ResultFailed, "download must be 1 or 0")
			return
		} else if !ok {
			download = ""
		} else {
			entry.Detail = "download " + entry.Detail
		}
	}
	entry.Result = auth.ResultOK
	if err := s.audit(r.Context(), entry); err != nil {
		WriteError(w, http.StatusServiceUnavailable, "the access could not be audited, so the recording is not served")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if download != "" {
		name := c.ID + ".wav"
		if c.Case != "" {
			name = c.Case + "-" + name
		}
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	http.ServeContent(&jsonErrors{ResponseWriter: w}, r, "", st.ModTime(), f)
}

// jsonErrors turns ServeContent's plain-text refusals (a range past the end: 416) into
// the API's {"error": …}.
type jsonErrors struct {
	http.ResponseWriter
	failed bool
}

func (w *jsonErrors) WriteHeader(code int) {
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.failed = true
	msg := http.StatusText(code)
	if code == http.StatusRequestedRangeNotSatisfiable {
		msg = "the requested range is not within the recording"
	}
	w.Header().Del("Content-Disposition")
	WriteError(w.ResponseWriter, code, msg)
}

func (w *jsonErrors) Write(p []byte) (int, error) {
	if w.failed {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}
