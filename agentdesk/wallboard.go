package agentdesk

// The live wallboard: GET /api/wallboard/ws pushes the whole picture (queues, today's
// service level and abandon rate, agents by state, calls in progress) at connect and
// again whenever it changes, at most every Interval. Every message is a full snapshot,
// so a page that reconnects is in sync with its first message and a lost message costs
// nothing. A client that cannot keep up is dropped: the hub never waits for a socket.
//
// Today's figures are counted from the ACD's events (CONNECT with its wait, ABANDON,
// ENTERQUEUE) by local day in Location, with the definitions of the acd metrics:
// service level = answered within T / (answered + abandoned); abandon rate =
// abandoned / entered. Callbacks are not live calls and are not counted.
//
// Reviewers and administrators see everything; a supervisor sees every queue but only
// the agents of their team and those agents' calls (with Team set); anyone else signed
// in (an agent) sees the queues, their own agent row and their own calls only.
//
// Page → server: {"type":"resync"} asks for a snapshot now (after a suspected gap).
// Server → page: {"type":"snapshot", …} (see wbSnapshot).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/cases"
)

// WallboardSource is what the wallboard reads from the ACD; *acd.Dispatcher is one.
type WallboardSource interface {
	Snapshot() acd.Snapshot
	Subscribe(buffer int) (events <-chan acd.Event, cancel func())
}

// Wallboard serves the wallboard WebSocket. Set the fields, then use Handler; Close at
// shutdown.
type Wallboard struct {
	ACD   WallboardSource // required
	Calls CallDirectory   // optional: calls in progress
	// Location decides where "today" starts (default cases.ChinaTime).
	Location *time.Location
	// Interval is the least time between two pushes (default 500 ms). Calls have no
	// events, so the calls list is also looked at every Interval (in memory).
	Interval time.Duration
	// SendTimeout: a client whose socket takes longer than this to take one message is
	// dropped (default 5 s). QueueLen is how many messages may wait for a client's
	// socket before it is dropped as too slow (default 4).
	SendTimeout time.Duration
	QueueLen    int
	// ServiceLevels are the answer-time thresholds shown (default 15 s and 20 s).
	ServiceLevels []time.Duration
	// OriginPatterns are other origins whose pages may open the socket.
	OriginPatterns []string
	// Team, if set, gives an agent's team: a supervisor sees only their team's agents
	// and calls. Without it supervisors see every agent.
	Team   func(ctx context.Context, agentID string) string
	Logger *slog.Logger

	once    sync.Once
	log     *slog.Logger
	stop    context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	clients map[*wbClient]struct{}
	last    *wbSnapshot // the last built
	closed  bool
	day     string
	today   map[string]*wbDay // by queue
	dropped int               // clients dropped as too slow (for tests and logs)
}

// What a client may see.
const (
	scopeSelf = iota // an agent: their own row and calls
	scopeTeam        // a supervisor: their team's agents and calls
	scopeAll
)

type wbClient struct {
	send   chan *wbMsg
	user   User
	all    bool // scopeAll: the message is shared by all such clients
	scope  int
	conn   *websocket.Conn
	gone   chan struct{} // closed when the hub drops the client
	goneMu sync.Once
	lastB  []byte // an agent view: the last message sent, to skip a repeat (writer goroutine only)
}

// drop ends the client at once: a writer stuck on a full socket is cut off too.
func (c *wbClient) drop() {
	c.goneMu.Do(func() {
		close(c.gone)
		_ = c.conn.CloseNow()
	})
}

// wbDay is one queue's counts for the day.
type wbDay struct {
	Entered, Answered, Abandoned int
	Within                       []int // per ServiceLevels
}

// wbSnapshot is the message the page receives.
type wbSnapshot struct {
	Type   string    `json:"type"`
	Time   time.Time `json:"time"` // server time, for the page's clock offset
	Seq    uint64    `json:"seq"`  // the last ACD event included
	Day    string    `json:"day"`  // YYYY-MM-DD in Location
	SLSecs []int     `json:"service_levels"`
	Queues []wbQueue `json:"queues"`
	Total  wbToday   `json:"total"`
	Agents []wbAgent `json:"agents"`
	Calls  []wbCall  `json:"calls"`

	teams map[string]string // agent → team, when Team is set
}

type wbToday struct {
	Entered     int       `json:"entered"`
	Answered    int       `json:"answered"`
	Abandoned   int       `json:"abandoned"`
	Within      []int     `json:"answered_within"` // per service level
	SL          []float64 `json:"service_level"`   // per service level, 0..1; -1 when nothing to measure
	AbandonRate float64   `json:"abandon_rate"`    // 0..1; -1 when nobody entered
}

type wbQueue struct {
	Name         string     `json:"name"`
	Skill        string     `json:"skill"`
	Waiting      int        `json:"waiting"`
	Ringing      int        `json:"ringing"`
	Callbacks    int        `json:"callbacks"`
	OldestSince  *time.Time `json:"oldest_since,omitempty"` // arrival of the longest waiting caller
	EWTSecs      *float64   `json:"ewt_s,omitempty"`
	AgentsLogged int        `json:"agents_logged_in"`
	AgentsServe  int        `json:"agents_serving"`
	AgentsReady  int        `json:"agents_ready"`
	Today        wbToday    `json:"today"`
}

type wbAgent struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	Reason        string    `json:"reason,omitempty"`
	Since         time.Time `json:"since"`
	Call          string    `json:"call,omitempty"`
	Queue         string    `json:"queue,omitempty"`
	PendingBreak  string    `json:"pending_break,omitempty"`
	PendingLogout bool      `json:"pending_logout,omitempty"`
}

type wbCall struct {
	ID       string     `json:"id"`
	Caller   string     `json:"caller"`
	Dialled  string     `json:"dialled"`
	Line     string     `json:"line,omitempty"`
	State    string     `json:"state"`
	Agent    string     `json:"agent,omitempty"`
	Case     string     `json:"case,omitempty"`
	OnHold   bool       `json:"on_hold,omitempty"`
	Received time.Time  `json:"received_at"`
	Answered *time.Time `json:"answered_at,omitempty"`
}

func (w *Wallboard) setup() {
	w.once.Do(func() {
		w.log = w.Logger
		if w.log == nil {
			w.log = slog.New(slog.DiscardHandler)
		}
		if w.Location == nil {
			w.Location = cases.ChinaTime
		}
		if w.Interval <= 0 {
			w.Interval = 500 * time.Millisecond
		}
		if w.SendTimeout <= 0 {
			w.SendTimeout = 5 * time.Second
		}
		if w.QueueLen <= 0 {
			w.QueueLen = 4
		}
		if len(w.ServiceLevels) == 0 {
			w.ServiceLevels = []time.Duration{15 * time.Second, 20 * time.Second}
		}
		w.clients = map[*wbClient]struct{}{}
		w.today = map[string]*wbDay{}
		w.done = make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		w.stop = cancel
		events, unsub := w.ACD.Subscribe(1024)
		go w.run(ctx, events, unsub)
	})
}

// Close stops the hub and closes every client's socket.
func (w *Wallboard) Close() {
	w.setup()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	for c := range w.clients {
		c.drop()
		delete(w.clients, c)
	}
	w.mu.Unlock()
	w.stop()
	<-w.done
}

// Clients is how many sockets are connected.
func (w *Wallboard) Clients() int {
	w.setup()
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.clients)
}

// run counts events and pushes snapshots: at once after a quiet spell, else at the
// next tick, so a burst of events costs one message per Interval. A snapshot equal to
// the last one pushed (apart from its time) is not pushed again.
func (w *Wallboard) run(ctx context.Context, events <-chan acd.Event, unsub func()) {
	defer close(w.done)
	defer unsub()
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	var lastPush time.Time
	var lastPrint []byte
	push := func() {
		now := time.Now()
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.clients) == 0 {
			lastPrint = nil
			return
		}
		s := w.build(now)
		w.last = s
		print := mustJSON(withoutTime(s))
		if bytes.Equal(print, lastPrint) {
			return
		}
		lastPrint, lastPush = print, now
		w.broadcastLocked(newWBMsg(s, w.clients))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				// The dispatcher closed; snapshots still serve what is left.
				events = nil
				continue
			}
			w.mu.Lock()
			w.count(ev)
			w.mu.Unlock()
			if time.Since(lastPush) >= w.Interval {
				push()
			}
		case <-tick.C:
			// Calls and the day change without ACD events: look every tick.
			push()
		}
	}
}

// wbMsg is one snapshot on its way to the clients; the full view is marshalled once
// for all the clients that see everything.
type wbMsg struct {
	s     *wbSnapshot
	all   []byte
	force bool // a resync: sent even when it equals the last
}

func newWBMsg(s *wbSnapshot, clients map[*wbClient]struct{}) *wbMsg {
	m := &wbMsg{s: s}
	for c := range clients {
		if c.all {
			m.all = mustJSON(s)
			break
		}
	}
	return m
}

// bytes is the message as client c sees it, nil when c saw the same last time.
func (m *wbMsg) bytes(c *wbClient) []byte {
	if c.all {
		if m.all != nil {
			return m.all
		}
		return mustJSON(m.s)
	}
	v := c.view(m.s)
	print := mustJSON(withoutTime(v))
	if !m.force && bytes.Equal(print, c.lastB) {
		return nil
	}
	c.lastB = print
	return mustJSON(v)
}

func (w *Wallboard) dayOf(t time.Time) string { return t.In(w.Location).Format(time.DateOnly) }

// count adds one event to today's figures; w.mu is held.
func (w *Wallboard) count(ev acd.Event) {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	if d := w.dayOf(at); d != w.day {
		w.day = d
		clear(w.today)
	}
	q := w.today[ev.Queue]
	if q == nil {
		q = &wbDay{Within: make([]int, len(w.ServiceLevels))}
		w.today[ev.Queue] = q
	}
	switch ev.Kind {
	case acd.EventEnter:
		q.Entered++
	case acd.EventAbandon:
		q.Abandoned++
	case acd.EventConnect:
		if ev.Attempt > 0 { // a callback: not a live caller
			return
		}
		q.Answered++
		for i, sl := range w.ServiceLevels {
			if ev.Wait <= sl {
				q.Within[i]++
			}
		}
	}
}

func (w *Wallboard) todayOf(d *wbDay) wbToday {
	t := wbToday{Within: make([]int, len(w.ServiceLevels)), SL: make([]float64, len(w.ServiceLevels)), AbandonRate: -1}
	if d != nil {
		t.Entered, t.Answered, t.Abandoned = d.Entered, d.Answered, d.Abandoned
		copy(t.Within, d.Within)
	}
	for i := range t.SL {
		t.SL[i] = -1
		if n := t.Answered + t.Abandoned; n > 0 {
			t.SL[i] = float64(t.Within[i]) / float64(n)
		}
	}
	if t.Entered > 0 {
		t.AbandonRate = float64(t.Abandoned) / float64(t.Entered)
	}
	return t
}

// build makes the full snapshot; w.mu is held.
func (w *Wallboard) build(now time.Time) *wbSnapshot {
	if d := w.dayOf(now); d != w.day {
		w.day = d
		clear(w.today)
	}
	snap := w.ACD.Snapshot()
	s := &wbSnapshot{Type: "snapshot", Time: now.UTC(), Seq: snap.Seq, Day: w.day,
		Queues: []wbQueue{}, Agents: []wbAgent{}, Calls: []wbCall{}}
	for _, sl := range w.ServiceLevels {
		s.SLSecs = append(s.SLSecs, int(sl/time.Second))
	}
	total := &wbDay{Within: make([]int, len(w.ServiceLevels))}
	for _, q := range snap.Queues {
		wq := wbQueue{Name: q.Name, Skill: q.Skill, Waiting: q.Waiting, Ringing: q.Ringing, Callbacks: q.Callbacks,
			AgentsLogged: q.AgentsLoggedIn, AgentsServe: q.AgentsServing, AgentsReady: q.AgentsReady}
		if q.Waiting > 0 {
			// The arrival instant, not the wait: the page counts on by itself and the
			// message stays the same until something really changes.
			at := snap.Time.Add(-q.Longest).UTC().Truncate(time.Second)
			wq.OldestSince = &at
		}
		if q.EWTKnown {
			e := q.EWT.Round(time.Second).Seconds()
			wq.EWTSecs = &e
		}
		d := w.today[q.Name]
		wq.Today = w.todayOf(d)
		if d != nil {
			total.Entered += d.Entered
			total.Answered += d.Answered
			total.Abandoned += d.Abandoned
			for i := range d.Within {
				total.Within[i] += d.Within[i]
			}
		}
		s.Queues = append(s.Queues, wq)
	}
	s.Total = w.todayOf(total)
	for _, a := range snap.Agents {
		s.Agents = append(s.Agents, wbAgent{ID: a.ID, State: a.State.String(), Reason: a.Reason, Since: a.Since.UTC(),
			Call: a.CallID, Queue: a.Queue, PendingBreak: a.PendingBreak, PendingLogout: a.PendingLogout})
	}
	if w.Calls != nil {
		for _, c := range w.Calls.Calls() {
			if c.State == "ended" {
				continue
			}
			wc := wbCall{ID: c.ID, Caller: maskNumber(c.Caller), Dialled: c.Dialled, Line: c.Line, State: c.State,
				Agent: c.Agent, Case: c.Case, OnHold: c.OnHold, Received: c.Received.UTC()}
			if c.Answered != nil {
				a := c.Answered.UTC()
				wc.Answered = &a
			}
			s.Calls = append(s.Calls, wc)
		}
		slices.SortFunc(s.Calls, func(a, b wbCall) int { return a.Received.Compare(b.Received) })
	}
	if w.Team != nil {
		s.teams = map[string]string{}
		ctx := context.Background()
		for _, a := range s.Agents {
			s.teams[a.ID] = w.Team(ctx, a.ID)
		}
		for _, c := range s.Calls {
			if _, ok := s.teams[c.Agent]; c.Agent != "" && !ok {
				s.teams[c.Agent] = w.Team(ctx, c.Agent)
			}
		}
	}
	return s
}

// maskNumber hides the middle of a number on a screen the whole room can read: the
// supervisor who needs it opens the call.
func maskNumber(n string) string {
	if strings.Contains(n, "*") || len(n) < 7 {
		return n
	}
	return n[:3] + strings.Repeat("*", len(n)-7) + n[len(n)-4:]
}

// view is what one client may see of s.
func (c *wbClient) view(s *wbSnapshot) *wbSnapshot {
	if c.all {
		return s
	}
	mine := func(agent string) bool {
		if c.scope == scopeTeam {
			return s.teams == nil || s.teams[agent] == c.user.Team
		}
		return agent == c.user.ID
	}
	v := *s
	v.Agents = []wbAgent{}
	for _, a := range s.Agents {
		if mine(a.ID) {
			v.Agents = append(v.Agents, a)
		}
	}
	v.Calls = []wbCall{}
	for _, k := range s.Calls {
		// A supervisor sees the calls still waiting for an agent too.
		if k.Agent == "" && c.scope == scopeTeam || k.Agent != "" && mine(k.Agent) {
			v.Calls = append(v.Calls, k)
		}
	}
	return &v
}

// broadcastLocked hands s to every client without waiting: a client whose queue is
// full is dropped. w.mu is held.
func (w *Wallboard) broadcastLocked(s *wbMsg) {
	for c := range w.clients {
		select {
		case c.send <- s:
		default:
			w.dropLocked(c, "too slow")
		}
	}
}

func (w *Wallboard) dropLocked(c *wbClient, why string) {
	if _, ok := w.clients[c]; !ok {
		return
	}
	delete(w.clients, c)
	c.drop()
	w.dropped++
	w.log.Info("wallboard: client dropped", "reason", why, "user", c.user.ID)
}

// scopeOf is what a user sees of the wallboard.
func (w *Wallboard) scopeOf(u User) int {
	switch u.Role {
	case cases.RoleReviewer, cases.RoleAdmin:
		return scopeAll
	case cases.RoleSupervisor:
		if w.Team == nil {
			return scopeAll
		}
		return scopeTeam
	}
	return scopeSelf
}

// MountWallboard serves w at GET /api/wallboard/ws behind the server's sign-in, with
// supervisors scoped to their team as the rest of the API scopes them.
func (s *Server) MountWallboard(w *Wallboard) {
	if w.Team == nil {
		// Looked up at each use: the sign-in may be wired after the wallboard.
		w.Team = s.teamOf
	}
	s.Mount("GET /api/wallboard/ws", w.Handler())
}

// Handler is GET /api/wallboard/ws; the caller must be signed in (UserFrom).
func (w *Wallboard) Handler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.setup()
		u := UserFrom(r.Context())
		if u.ID == "" || u.Role == cases.RoleNone {
			WriteError(rw, http.StatusUnauthorized, "sign in first")
			return
		}
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			WriteError(rw, http.StatusBadRequest, "this is a WebSocket endpoint: open it with new WebSocket(…)")
			return
		}
		conn, err := websocket.Accept(rw, r, &websocket.AcceptOptions{OriginPatterns: w.OriginPatterns})
		if err != nil {
			return
		}
		conn.SetReadLimit(4 << 10)
		scope := w.scopeOf(u)
		c := &wbClient{send: make(chan *wbMsg, w.QueueLen), user: u, scope: scope, all: scope == scopeAll, gone: make(chan struct{}), conn: conn}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			conn.Close(websocket.StatusGoingAway, "shutting down")
			return
		}
		w.clients[c] = struct{}{}
		w.last = w.build(time.Now())
		c.send <- &wbMsg{s: w.last} // the snapshot at connect; the queue is empty
		w.mu.Unlock()
		w.serve(r.Context(), conn, c)
	})
}

func (w *Wallboard) serve(ctx context.Context, conn *websocket.Conn, c *wbClient) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		w.mu.Lock()
		if _, ok := w.clients[c]; ok {
			delete(w.clients, c)
		}
		w.mu.Unlock()
	}()
	// Reader: resync requests; a read error (close, drop) ends the client.
	go func() {
		defer cancel()
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			m, err := parseWallboardMessage(b)
			if err != nil {
				wctx, wc := context.WithTimeout(ctx, w.SendTimeout)
				_ = conn.Write(wctx, websocket.MessageText, mustJSON(map[string]string{"type": "error", "message": err.Error()}))
				wc()
				continue
			}
			if m.Type == "resync" {
				w.mu.Lock()
				w.last = w.build(time.Now())
				select {
				case c.send <- &wbMsg{s: w.last, force: true}:
				default:
					w.dropLocked(c, "too slow")
				}
				w.mu.Unlock()
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			conn.Close(websocket.StatusNormalClosure, "")
			return
		case <-c.gone:
			return
		case m := <-c.send:
			out := m.bytes(c)
			if out == nil {
				continue
			}
			wctx, wc := context.WithTimeout(ctx, w.SendTimeout)
			err := conn.Write(wctx, websocket.MessageText, out)
			wc()
			if err != nil {
				w.mu.Lock()
				w.dropLocked(c, "write: "+err.Error())
				w.mu.Unlock()
				conn.CloseNow()
				return
			}
		}
	}
}

func withoutTime(s *wbSnapshot) *wbSnapshot {
	v := *s
	v.Time = time.Time{}
	return &v
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled
	}
	return b
}

// wallboardMessage is what a page may send.
type wallboardMessage struct {
	Type string `json:"type"`
}

// parseWallboardMessage reads one message from a page: {"type":"resync"}.
func parseWallboardMessage(b []byte) (wallboardMessage, error) {
	var m wallboardMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, errors.New("not a JSON message: " + err.Error())
	}
	if dec.More() {
		return m, errors.New("data after the JSON message")
	}
	switch m.Type {
	case "resync":
		return m, nil
	case "":
		return m, errors.New(`a message needs a "type"`)
	default:
		return m, errors.New("unknown message type " + m.Type + ` (resync)`)
	}
}
