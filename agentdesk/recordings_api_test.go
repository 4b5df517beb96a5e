package agentdesk

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/agentdesk/auth"
)

func TestRecordingsAPIRangeAndDownload(t *testing.T) {
	e := newAuthEnv(t)
	want := e.rec["call-a1"]
	agent := e.signIn("agent-a1")

	r := agent.want(http.StatusOK, "GET", "/api/recordings/call-a1", "")
	if !bytes.Equal(r.body, want) || r.hdr.Get("Content-Type") != "audio/wav" || r.hdr.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("whole recording: %d bytes, %q, accept-ranges %q", len(r.body), r.hdr.Get("Content-Type"), r.hdr.Get("Accept-Ranges"))
	}
	if r.hdr.Get("Content-Disposition") != "" {
		t.Errorf("played inline, yet Content-Disposition %q", r.hdr.Get("Content-Disposition"))
	}
	// A seek: the player asks for a range and gets exactly those bytes.
	r = agent.want(http.StatusPartialContent, "GET", "/api/recordings/call-a1", "", "Range", "bytes=1000-1999")
	if !bytes.Equal(r.body, want[1000:2000]) {
		t.Fatalf("range 1000-1999: %d bytes, not the file's", len(r.body))
	}
	if cr := r.hdr.Get("Content-Range"); cr != "bytes 1000-1999/32044" {
		t.Errorf("Content-Range %q", cr)
	}
	r = agent.want(http.StatusPartialContent, "GET", "/api/recordings/call-a1", "", "Range", "bytes=-44")
	if !bytes.Equal(r.body, want[len(want)-44:]) {
		t.Fatal("suffix range: wrong bytes")
	}
	agent.want(http.StatusRequestedRangeNotSatisfiable, "GET", "/api/recordings/call-a1", "", "Range", "bytes=99999-")
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionRecording, Target: "recording of call call-a1",
		Result: auth.ResultOK, Detail: "range bytes=1000-1999"})

	r = agent.want(http.StatusOK, "GET", "/api/recordings/call-a1?download=1", "")
	if cd := r.hdr.Get("Content-Disposition"); cd != `attachment; filename=20261127-000001-call-a1.wav` || !bytes.Equal(r.body, want) {
		t.Errorf("download: Content-Disposition %q, %d bytes", cd, len(r.body))
	}
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionRecording, Result: auth.ResultOK, Detail: "download"})
	agent.want(http.StatusBadRequest, "GET", "/api/recordings/call-a1?download=maybe", "")

	// A supervisor of the team, the department handling the case, an administrator.
	e.signIn("sup-a").want(http.StatusOK, "GET", "/api/recordings/call-a1", "")
	e.signIn("handler-env").want(http.StatusOK, "GET", "/api/recordings/call-a1", "")
	e.signIn("boss").want(http.StatusPartialContent, "GET", "/api/recordings/call-b1", "", "Range", "bytes=0-43")
	e.admin().want(http.StatusOK, "GET", "/api/recordings/call-b1", "")
}

func TestRecordingsAPIRefusals(t *testing.T) {
	e := newAuthEnv(t)
	sup := e.signIn("sup-a")
	r := sup.want(http.StatusForbidden, "GET", "/api/recordings/call-b1", "", "Range", "bytes=0-99")
	if bytes.Contains(r.body, e.rec["call-b1"][44:80]) {
		t.Fatal("a refused request carried audio")
	}
	e.wantAudit(auth.Entry{User: "sup-a", Action: auth.ActionRecording, Target: "recording of call call-b1", Result: auth.ResultDenied})
	e.signIn("agent-a2").want(http.StatusForbidden, "GET", "/api/recordings/call-a1?download=1", "")
	e.wantAudit(auth.Entry{User: "agent-a2", Action: auth.ActionRecording, Target: "recording of call call-a1", Result: auth.ResultDenied})
	e.signIn("handler-env").want(http.StatusForbidden, "GET", "/api/recordings/call-b1", "")
	e.browser().want(http.StatusUnauthorized, "GET", "/api/recordings/call-a1", "")

	// Nothing in the request names a file: only a known call's stored recording is served.
	admin := e.admin()
	for _, p := range []string{
		"/api/recordings/nothing",
		"/api/recordings/..%2f..%2fusers.json",
		"/api/recordings/%2e%2e",
		"/api/recordings/call-a2", // a live call, no recording yet
	} {
		r := admin.do("GET", p, "")
		if r.code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %s", p, r.code, r.body)
		}
		if strings.Contains(string(r.body), "argon2") {
			t.Fatalf("GET %s leaked the user store", p)
		}
	}
	e.wantAudit(auth.Entry{User: "admin", Action: auth.ActionRecording, Target: "recording of call nothing", Result: auth.ResultFailed})
	// A stored path outside the recordings folder is refused by the store.
	e.calls.mu.Lock()
	e.calls.calls = append(e.calls.calls, CallInfo{ID: "call-evil", State: "ended", Recording: e.dir + "/users.json"})
	e.calls.mu.Unlock()
	if r := admin.do("GET", "/api/recordings/call-evil", ""); r.code < 400 || strings.Contains(string(r.body), "argon2") {
		t.Fatalf("a path outside the recordings folder was served: %d", r.code)
	}
}

func TestRecordingsAPIOfCase(t *testing.T) {
	e := newAuthEnv(t)
	agent := e.signIn("agent-a1")
	r := agent.want(http.StatusPartialContent, "GET", "/api/cases/20261127-000001/recording", "", "Range", "bytes=100-199")
	if !bytes.Equal(r.body, e.rec["call-a1"][100:200]) {
		t.Fatal("the case's recording: wrong bytes")
	}
	r = agent.want(http.StatusOK, "GET", "/api/cases/20261127-000001/recording?download=1", "")
	if cd := r.hdr.Get("Content-Disposition"); cd != "attachment; filename=20261127-000001-call-old.wav" {
		t.Errorf("Content-Disposition %q", cd)
	}
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionRecording, Target: "recording of case 20261127-000001", Result: auth.ResultOK})
	e.signIn("sup-a").want(http.StatusOK, "GET", "/api/cases/20261127-000001/recording", "")
	e.signIn("handler-env").want(http.StatusOK, "GET", "/api/cases/20261127-000001/recording", "")
	e.signIn("sup-b").want(http.StatusForbidden, "GET", "/api/cases/20261127-000001/recording", "")
	e.wantAudit(auth.Entry{User: "sup-b", Action: auth.ActionRecording, Target: "recording of case 20261127-000001", Result: auth.ResultDenied})
	admin := e.admin()
	admin.want(http.StatusNotFound, "GET", "/api/cases/20261127-000002/recording", "")
	admin.want(http.StatusNotFound, "GET", "/api/cases/nothing/recording", "")
	admin.want(http.StatusServiceUnavailable, "GET", "/api/cases/broken/recording", "")
	// The rest of the case API is untouched.
	admin.want(http.StatusNotFound, "GET", "/api/cases/nothing", "")
}
