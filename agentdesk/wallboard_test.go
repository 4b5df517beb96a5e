package agentdesk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/cases"
)

// wbRig is a wallboard over a real dispatcher, served by a real HTTP server; the user
// of every request is given by the "as" query parameter (role:id).
type wbRig struct {
	d   *acd.Dispatcher
	wb  *Wallboard
	srv *httptest.Server
}

type fakeCalls struct{ calls atomic.Pointer[[]CallInfo] }

func (f *fakeCalls) Calls() []CallInfo {
	if p := f.calls.Load(); p != nil {
		return append([]CallInfo(nil), *p...)
	}
	return nil
}

func newWBRig(t *testing.T, wb *Wallboard) *wbRig {
	t.Helper()
	d, err := acd.New(acd.Config{Queues: []acd.QueueConfig{
		{Name: "general", Skill: "general", WrapUp: time.Hour},
		{Name: "housing", Skill: "housing", WrapUp: time.Hour},
	}}, acd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wb.ACD = d
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if as := r.URL.Query().Get("as"); as != "" {
			role, rest, _ := strings.Cut(as, ":")
			id, team, _ := strings.Cut(rest, ":")
			r = r.WithContext(WithUser(r.Context(), User{ID: id, Role: cases.Role(role), Team: team}))
		}
		wb.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		wb.Close()
		_ = d.Close()
	})
	return &wbRig{d: d, wb: wb, srv: srv}
}

func (r *wbRig) dial(t *testing.T, as string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.srv.URL, "http")+"/api/wallboard/ws?as="+as, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// waitFor reads snapshots until ok holds (20 s at most) and returns that one.
func waitFor(t *testing.T, c *websocket.Conn, what string, ok func(*wbSnapshot) bool) *wbSnapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last []byte
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v (last message %.600s)", what, err, last)
		}
		last = b
		var s wbSnapshot
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("not a snapshot: %v: %.300s", err, b)
		}
		if s.Type != "snapshot" {
			t.Fatalf("message type %q", s.Type)
		}
		if ok(&s) {
			return &s
		}
	}
}

func agentState(s *wbSnapshot, id string) string {
	for _, a := range s.Agents {
		if a.ID == id {
			return a.State
		}
	}
	return ""
}

func queueOf(s *wbSnapshot, name string) wbQueue {
	for _, q := range s.Queues {
		if q.Name == name {
			return q
		}
	}
	return wbQueue{}
}

// A supervisor's socket gets the state at connect, then each change: an agent logging
// in and going ready, a caller waiting, the answer (service level today), an abandon.
func TestWallboardLive(t *testing.T) {
	calls := &fakeCalls{}
	r := newWBRig(t, &Wallboard{Calls: calls, Interval: 50 * time.Millisecond})
	c := r.dial(t, "supervisor:sup1")
	first := waitFor(t, c, "the first snapshot", func(*wbSnapshot) bool { return true })
	if len(first.Queues) != 2 || len(first.Agents) != 0 || first.Total.AbandonRate != -1 || first.Total.SL[0] != -1 {
		t.Fatalf("first snapshot: %+v", first)
	}
	if want := []int{15, 20}; fmt.Sprint(first.SLSecs) != fmt.Sprint(want) {
		t.Errorf("service levels %v, want %v", first.SLSecs, want)
	}

	if err := r.d.Login("li", map[string]int{"general": 3}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "li on break (login)", func(s *wbSnapshot) bool { return agentState(s, "li") == "break" })

	tk, err := r.d.Join(context.Background(), acd.Request{CallID: "c1", Queue: "general"})
	if err != nil {
		t.Fatal(err)
	}
	recv := time.Now()
	calls.calls.Store(&[]CallInfo{{ID: "c1", Caller: "13800138000", Dialled: "12345", State: "ringing", Received: recv}})
	s := waitFor(t, c, "a caller waiting", func(s *wbSnapshot) bool { return queueOf(s, "general").Waiting == 1 && len(s.Calls) == 1 })
	if q := queueOf(s, "general"); q.OldestSince == nil || time.Since(*q.OldestSince) > time.Minute {
		t.Errorf("oldest_since %v", q.OldestSince)
	}
	if s.Calls[0].Caller != "138****8000" {
		t.Errorf("caller %q: the wallboard masks the middle of the number", s.Calls[0].Caller)
	}

	if err := r.d.Ready("li"); err != nil {
		t.Fatal(err)
	}
	a, err := tk.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Answered(); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, c, "li on call, answered within 15 s", func(s *wbSnapshot) bool {
		return agentState(s, "li") == "on-call" && queueOf(s, "general").Today.Answered == 1
	})
	q := queueOf(s, "general")
	if q.Waiting != 0 || q.Today.Within[0] != 1 || q.Today.SL[0] != 1 || q.Today.SL[1] != 1 || q.Today.AbandonRate != 0 {
		t.Errorf("general today: %+v", q)
	}

	// A second caller gives up: the abandon rate is 1 of 2 entered.
	tk2, err := r.d.Join(context.Background(), acd.Request{CallID: "c2", Queue: "general"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tk2.Abandon(); err != nil {
		t.Fatal(err)
	}
	s = waitFor(t, c, "one abandon", func(s *wbSnapshot) bool { return s.Total.Abandoned == 1 })
	if s.Total.AbandonRate != 0.5 || s.Total.SL[0] != 0.5 {
		t.Errorf("total today: %+v", s.Total)
	}
}

// An agent's socket shows the queues but only the agent's own row and calls; a
// supervisor's, their team's agents and calls and the calls not yet with an agent.
func TestWallboardScopes(t *testing.T) {
	calls := &fakeCalls{}
	calls.calls.Store(&[]CallInfo{{ID: "x", Agent: "wang", State: "answered"}, {ID: "y", Agent: "li", State: "answered"}, {ID: "z", State: "ringing"}})
	teams := map[string]string{"li": "a", "wang": "b"}
	r := newWBRig(t, &Wallboard{Calls: calls, Interval: 50 * time.Millisecond,
		Team: func(_ context.Context, id string) string { return teams[id] }})
	for _, id := range []string{"li", "wang"} {
		if err := r.d.Login(id, map[string]int{"general": 3}); err != nil {
			t.Fatal(err)
		}
	}
	c := r.dial(t, "agent:li")
	s := waitFor(t, c, "the first snapshot", func(*wbSnapshot) bool { return true })
	if len(s.Agents) != 1 || s.Agents[0].ID != "li" || len(s.Calls) != 1 || s.Calls[0].ID != "y" || len(s.Queues) != 2 {
		t.Errorf("agent li sees agents %+v calls %+v", s.Agents, s.Calls)
	}
	adm := r.dial(t, "admin:root")
	s = waitFor(t, adm, "the first snapshot", func(*wbSnapshot) bool { return true })
	if len(s.Agents) != 2 || len(s.Calls) != 3 {
		t.Errorf("admin sees agents %+v calls %+v", s.Agents, s.Calls)
	}
	sup := r.dial(t, "supervisor:boss-b:b")
	s = waitFor(t, sup, "the first snapshot", func(*wbSnapshot) bool { return true })
	if len(s.Agents) != 1 || s.Agents[0].ID != "wang" || len(s.Calls) != 2 || s.Calls[0].ID != "x" && s.Calls[1].ID != "x" || len(s.Queues) != 2 {
		t.Errorf("the supervisor of team b sees agents %+v calls %+v", s.Agents, s.Calls)
	}
}

// A client that stops reading is dropped; the others go on getting every change.
func TestWallboardDropsSlowClient(t *testing.T) {
	r := newWBRig(t, &Wallboard{Interval: 50 * time.Millisecond, SendTimeout: 2 * time.Second, QueueLen: 8})
	// Big messages fill the slow socket's buffers quickly.
	for i := 0; i < 500; i++ {
		if err := r.d.Login(fmt.Sprintf("agent-with-a-rather-long-id-%04d", i), map[string]int{"general": 1}); err != nil {
			t.Fatal(err)
		}
	}
	slow := r.dial(t, "supervisor:slow")
	_ = slow // never read
	fast := r.dial(t, "supervisor:fast")
	waitFor(t, fast, "the first snapshot", func(*wbSnapshot) bool { return true })
	if n := r.wb.Clients(); n != 2 {
		t.Fatalf("%d clients, want 2", n)
	}

	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			id := fmt.Sprintf("agent-with-a-rather-long-id-%04d", i%500)
			if i%1000 < 500 {
				_ = r.d.Ready(id)
			} else {
				_ = r.d.Break(id, "rest")
			}
		}
	}()
	// The fast reader keeps reading while the slow one is dropped.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for r.wb.Clients() != 1 {
		if _, _, err := fast.Read(ctx); err != nil {
			t.Fatalf("the fast client lost its socket: %v (clients %d)", err, r.wb.Clients())
		}
	}
	close(stop)
	<-churned
	r.wb.mu.Lock()
	dropped := r.wb.dropped
	r.wb.mu.Unlock()
	if dropped != 1 {
		t.Errorf("%d clients dropped, want 1", dropped)
	}
	// The fast client still follows changes, and the slow socket is closed.
	if err := r.d.Logout("agent-with-a-rather-long-id-0000"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fast, "the logout", func(s *wbSnapshot) bool {
		return agentState(s, "agent-with-a-rather-long-id-0000") == "logged-out"
	})
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	for {
		if _, _, err := slow.Read(rctx); err != nil {
			if rctx.Err() != nil {
				t.Fatal("the slow client's socket was not closed")
			}
			break
		}
	}
}

// A resync request is answered with a snapshot even when nothing changed; bad messages
// get an error message and the socket stays up.
func TestWallboardResyncAndBadMessages(t *testing.T) {
	r := newWBRig(t, &Wallboard{Interval: 20 * time.Millisecond})
	c := r.dial(t, "reviewer:rev")
	waitFor(t, c, "the first snapshot", func(*wbSnapshot) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"nonsense"}`)); err != nil {
		t.Fatal(err)
	}
	_, b, err := c.Read(ctx)
	if err != nil || !strings.Contains(string(b), `"error"`) || !strings.Contains(string(b), "unknown message type") {
		t.Fatalf("after a bad message: %s %v", b, err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"resync"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "a snapshot after resync", func(*wbSnapshot) bool { return true })
}

// Plain HTTP gets a JSON error: 401 without a user, 400 without an upgrade.
func TestWallboardHTTPErrors(t *testing.T) {
	r := newWBRig(t, &Wallboard{})
	for _, tc := range []struct {
		as     string
		status int
	}{{"", http.StatusUnauthorized}, {"supervisor:s", http.StatusBadRequest}} {
		resp, err := http.Get(r.srv.URL + "/api/wallboard/ws?as=" + tc.as)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || body["error"] == "" {
			t.Errorf("as %q: %d %v, want %d with an error", tc.as, resp.StatusCode, body, tc.status)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{"13800138000": "138****8000", "12345": "12345", "138****8000": "138****8000", "057187654321": "057*****4321"} {
		if got := maskNumber(in); got != want {
			t.Errorf("maskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseWallboardMessage(f *testing.F) {
	for _, s := range []string{`{"type":"resync"}`, `{"type":""}`, `{}`, `{"type":"resync","x":1}`, `{"type":"resync"} {}`, `[`, ``, `null`, `{"type":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseWallboardMessage(b)
		if err == nil && m.Type != "resync" {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("an error without a message")
		}
	})
}
