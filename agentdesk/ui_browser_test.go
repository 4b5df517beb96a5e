package agentdesk

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
	"github.com/prometheus/client_golang/prometheus"
)

const uiPassword = "correct horse battery"

// uiRig is the real server: sign-in, the case API over SQLite, a real dispatcher, the
// wallboard and the pages, on a loopback HTTP server.
type uiRig struct {
	url   string
	d     *acd.Dispatcher
	store *cases.SQLStore
	calls *fakeCalls
	wb    *Wallboard
	// blockCases makes the case API answer 503, as when the network or the server is away.
	blockCases atomic.Bool
	// newbiePassword is the one-time password of the agent "newbie".
	newbiePassword string
	// sp serves the softphones at /softphone; hangups are the calls the agents hung up.
	sp      *Softphones
	hangups chan string
	mon     *stubMonitors
}

// stubMonitors stands in for the call service behind the monitor API (agentdesk cannot
// import call): it notes what the page asked for. The audio of each mode is the call
// package's, tested there.
type stubMonitors struct {
	mu   sync.Mutex
	log  []string
	mode map[string]MonitorMode
}

func (m *stubMonitors) CallAgent(callID string) (string, error) {
	if callID == "call-1" {
		return "agent1", nil
	}
	return "", ErrNotBridged
}

func (m *stubMonitors) Monitor(_ context.Context, req MonitorRequest) (MonitorState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.mode[req.CallID]
	m.mode[req.CallID] = req.Mode
	m.log = append(m.log, string(req.Mode)+" "+req.CallID+" "+req.Supervisor)
	return MonitorState{CallID: req.CallID, Agent: "agent1", Supervisor: req.Supervisor, Mode: req.Mode, Previous: prev}, nil
}

func (m *stubMonitors) Unmonitor(callID, supervisor string) (MonitorState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.mode[callID]
	if !ok {
		return MonitorState{}, ErrNotMonitoring
	}
	delete(m.mode, callID)
	m.log = append(m.log, "leave "+callID+" "+supervisor)
	return MonitorState{CallID: callID, Agent: "agent1", Supervisor: supervisor, Mode: prev}, nil
}

func (m *stubMonitors) calls() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.log, ", ")
}

func newUIRig(t *testing.T) *uiRig {
	t.Helper()
	dir := t.TempDir()
	au, err := auth.Open(dir, auth.Options{Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1}, InsecureCookie: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { au.Close() })
	for _, n := range []auth.NewUser{
		{ID: "sup1", Name: "王班长", Role: cases.RoleSupervisor, Team: "demo"},
		{ID: "agent1", Name: "李坐席", Role: cases.RoleAgent, Team: "demo"},
		{ID: "agent2", Name: "张坐席", Role: cases.RoleAgent, Team: "demo"},
	} {
		n.Password = uiPassword
		if _, _, err := au.CreateUser(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	_, newbiePW, err := au.CreateUser(context.Background(), auth.NewUser{ID: "newbie", Role: cases.RoleAgent, Team: "demo"})
	if err != nil || newbiePW == "" {
		t.Fatalf("one-time password user: %v", err)
	}
	store, err := cases.OpenSQLite(context.Background(), filepath.Join(dir, "cases.db"), cases.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d, err := acd.New(acd.Config{Queues: []acd.QueueConfig{
		{Name: "general", Skill: "general", WrapUp: time.Minute},
		{Name: "housing", Skill: "housing", WrapUp: time.Minute},
	}}, acd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	r := &uiRig{d: d, store: store, calls: &fakeCalls{}, newbiePassword: newbiePW}
	casesAPI := NewCasesAPI(store, nil)
	srv := &Server{Auth: au, ACD: d, Calls: r.calls, Recordings: noRecordings{},
		// Every work order was opened by a call agent2 took (agent1 may not hear it).
		CaseCall: func(_ context.Context, ref string) (CallInfo, error) {
			return CallInfo{ID: "call-of-" + ref, Agent: "agent2", Case: ref, State: "ended", Recording: "gone.wav"}, nil
		},
		AgentSkills: map[string]map[string]int{"agent1": {"general": 3}, "agent2": {"general": 2, "housing": 3}},
		Cases: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if r.blockCases.Load() && req.Method != http.MethodGet {
				WriteError(w, http.StatusServiceUnavailable, "blocked by the test")
				return
			}
			casesAPI.ServeHTTP(w, req)
		})}
	ui := &UI{Queues: []string{"general", "housing"}, Destinations: []string{"housing-bureau"}}
	if err := ui.Register(srv); err != nil {
		t.Fatal(err)
	}
	r.wb = &Wallboard{ACD: d, Calls: r.calls, Interval: 100 * time.Millisecond}
	t.Cleanup(r.wb.Close)
	srv.MountWallboard(r.wb)
	srv.Public("GET /softphone.js", SoftphoneScript())

	r.mon = &stubMonitors{mode: map[string]MonitorMode{}}
	srv.Mount(MonitorPattern, (&MonitorAPI{Monitors: r.mon, TeamOf: srv.teamOf}).Handler())

	// The softphone, as the call layer wires it: the page's state requests drive the ACD.
	engine, err := media.NewEngine(media.EngineConfig{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	r.hangups = make(chan string, 8)
	r.sp = &Softphones{Engine: engine, Registerer: prometheus.NewRegistry(),
		OnHangup: func(agent, call string) { r.hangups <- agent + " " + call },
		OnRequest: func(agent string, q Request) error {
			switch q.Type {
			case "ready":
				if err := d.Ready(agent); err != nil {
					if err := d.Login(agent, srv.AgentSkills[agent]); err != nil {
						return err
					}
					return d.Ready(agent)
				}
				return nil
			case "break":
				return d.Break(agent, q.Reason)
			}
			return fmt.Errorf("%s is not handled here", q.Type)
		}}
	t.Cleanup(func() {
		r.sp.Close()
		engine.Close()
	})
	srv.Mount("/softphone", r.sp.Handler(func(req *http.Request) (string, bool) {
		u := UserFrom(req.Context())
		return u.ID, u.Role == cases.RoleAgent || u.Role == cases.RoleSupervisor
	}))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

// noRecordings is a recording store that has lost every file.
type noRecordings struct{}

func (noRecordings) Open(string) (*os.File, error) { return nil, fs.ErrNotExist }

// browser is one headless Chromium; every request any of its tabs makes is noted.
type browser struct {
	t    *testing.T
	ctx  context.Context // the browser's first tab
	mu   sync.Mutex
	urls []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := testkit.ChromiumOptions(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", "en-US"), // the page must choose Chinese by itself
		chromedp.WindowSize(1600, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	b := &browser{t: t}
	b.ctx = b.tab(actx)
	return b
}

// tab opens a tab (parent: the allocator or another tab's context) that reports its
// requests, console errors and exceptions.
func (b *browser) tab(parent context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.note(ev.Request.URL)
		case *network.EventWebSocketCreated:
			b.note(ev.URL)
		case *runtime.EventExceptionThrown:
			b.t.Errorf("page exception: %s %s", ev.ExceptionDetails.Text, exceptionDesc(ev.ExceptionDetails))
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				b.t.Logf("page console.%s: %s", ev.Type, a.Value)
			}
		}
	}))
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser or the tab, for ctx's life
		b.t.Fatalf("chromium: %v", err)
	}
	return ctx
}

func (b *browser) note(u string) {
	b.mu.Lock()
	b.urls = append(b.urls, u)
	b.mu.Unlock()
}

// sameOrigin fails the test for any request that left the server's origin.
func (b *browser) sameOrigin(base string) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := "ws" + strings.TrimPrefix(base, "http")
	var sawCSS, sawWS bool
	for _, u := range b.urls {
		switch {
		case strings.HasPrefix(u, base+"/"):
			sawCSS = sawCSS || strings.HasSuffix(u, "/ui/style.css")
		case strings.HasPrefix(u, ws+"/"):
			sawWS = true
		case strings.HasPrefix(u, "data:"), u == "about:blank":
		default:
			b.t.Errorf("the page requested %s, outside %s", u, base)
		}
	}
	if !sawCSS || !sawWS {
		b.t.Errorf("the request log looks incomplete (style.css %v, WebSocket %v): %d requests", sawCSS, sawWS, len(b.urls))
	}
	b.t.Logf("%d requests, all to %s", len(b.urls), base)
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll waits (30 s at most) until the JavaScript expression is true; evaluation errors
// (a navigation in between) count as false.
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`!!(() => { try { return (`+expr+`) } catch (e) { return false } })()`))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	last, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 1500) : ''`))
	t.Fatalf("%s: not true after 30 s (last error %v)\npage text: %s", what, lastErr, last)
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	return cdpRun(t, ctx, expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func artifactsDir(t *testing.T) string {
	if d := os.Getenv("HOTLINE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b := cdpRun(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	p := filepath.Join(artifactsDir(t), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", p, len(b))
}

func signIn(t *testing.T, ctx context.Context, base, user string) {
	t.Helper()
	run(t, ctx, "open the desk", chromedp.Navigate(base+"/"))
	poll(t, ctx, "the sign-in page", `location.pathname === "/login" && !!document.querySelector("#login-form")`)
	run(t, ctx, "sign in as "+user,
		chromedp.SetValue(chromedp.ID("user"), user),
		chromedp.SetValue(chromedp.ID("password"), uiPassword),
		chromedp.Click(chromedp.ID("submit")))
	poll(t, ctx, "the signed-in page", `location.pathname === "/" && document.body.dataset.ready === "1"`)
}

// The sign-in page and the supervisor console: Chinese by default, English on the
// toggle (kept across pages); the wallboard shows a caller waiting and an agent changing
// state live, without reload; a dropped socket reconnects and re-syncs; no request
// leaves the server's origin.
func TestUIBrowserWallboard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	r := newUIRig(t)
	b := newBrowser(t)
	ctx := b.ctx

	// Not signed in: / sends to the sign-in page, in Chinese.
	run(t, ctx, "open /", chromedp.Navigate(r.url+"/"))
	poll(t, ctx, "the redirect to sign-in", `location.pathname === "/login" && document.querySelector("#submit").textContent === "登录"`)
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("html lang %q, want zh-CN", lang)
	}
	// A wrong password says so (from the auth API).
	run(t, ctx, "wrong password",
		chromedp.SetValue(chromedp.ID("user"), "sup1"),
		chromedp.SetValue(chromedp.ID("password"), "not the password"),
		chromedp.Click(chromedp.ID("submit")))
	poll(t, ctx, "the wrong-password message", `document.querySelector("#err").textContent === "工号或密码错误"`)
	// The toggle: English, kept in localStorage over a reload.
	run(t, ctx, "switch to English", chromedp.Click(chromedp.ID("lang")))
	poll(t, ctx, "English strings", `document.querySelector("#submit").textContent === "Sign in" && document.querySelector("#lang").textContent === "中文"`)
	run(t, ctx, "reload", chromedp.Reload())
	poll(t, ctx, "English after reload", `document.querySelector("#submit").textContent === "Sign in" && localStorage.getItem("hotline.lang") === "en"`)
	run(t, ctx, "back to Chinese", chromedp.Click(chromedp.ID("lang")))
	poll(t, ctx, "Chinese strings", `document.querySelector("#submit").textContent === "登录"`)

	signIn(t, ctx, r.url, "sup1")
	poll(t, ctx, "the console", `!document.querySelector("#console").hidden && document.querySelector("#desk").hidden && Wallboard.messages > 0`)
	eval[bool](t, ctx, `(window.__sameLoad = true)`) // gone if the page reloads

	// Live: an agent logs in (break "login"), a caller waits, the agent goes ready and
	// is offered the call.
	if err := r.d.Login("agent1", map[string]int{"general": 3}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "agent1 on break", `(() => { const a = document.querySelector('[data-agent="agent1"]'); return a && a.dataset.state === "break" && a.textContent.includes("小休") })()`)
	tk, err := r.d.Join(context.Background(), acd.Request{CallID: "call-1", Queue: "general", Number: "13800138000"})
	if err != nil {
		t.Fatal(err)
	}
	r.calls.calls.Store(&[]CallInfo{{ID: "call-1", Caller: "13800138000", Dialled: "12345", Line: "12345 政务服务便民热线", State: "ringing", Received: time.Now()}})
	poll(t, ctx, "a caller waiting", `document.querySelector('#wb-queues tr[data-queue="general"] [data-k="waiting"]').textContent === "1" && document.querySelector("#k-waiting").textContent === "1"`)
	poll(t, ctx, "the call listed, number masked", `(() => { const c = document.querySelector('#wb-calls tr[data-call="call-1"]'); return c && c.textContent.includes("138****8000") })()`)
	if err := r.d.Ready("agent1"); err != nil {
		t.Fatal(err)
	}
	a, err := tk.Wait()
	if err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "agent1 ringing", `document.querySelector('[data-agent="agent1"]').dataset.state === "reserved"`)
	if err := a.Answered(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.calls.calls.Store(&[]CallInfo{{ID: "call-1", Caller: "13800138000", Dialled: "12345", Line: "12345 政务服务便民热线", State: "answered",
		Agent: "agent1", Received: now.Add(-9 * time.Second), Answered: &now}})
	poll(t, ctx, "agent1 on call, the queue empty, answered today", `document.querySelector('[data-agent="agent1"]').dataset.state === "on-call" &&
		document.querySelector("#k-waiting").textContent === "0" && document.querySelector("#k-answered").textContent === "1" &&
		document.querySelector("#k-sl0").textContent === "100.0%"`)
	poll(t, ctx, "the monitor buttons", `document.querySelectorAll('#wb-calls tr[data-call="call-1"] button[data-mode]').length === 3`)
	// Listen, then whisper in the same session, then leave: the page shows the mode.
	run(t, ctx, "listen", chromedp.Click(chromedp.CSS(`#wb-calls tr[data-call="call-1"] button[data-mode="listen"]`)))
	poll(t, ctx, "listening", `document.querySelector('#wb-calls tr[data-call="call-1"] .mode').textContent === "当前：监听" &&
		document.querySelector('#wb-calls tr[data-call="call-1"] button[data-mode="listen"]').classList.contains("on")`)
	run(t, ctx, "whisper", chromedp.Click(chromedp.CSS(`#wb-calls tr[data-call="call-1"] button[data-mode="whisper"]`)))
	poll(t, ctx, "whispering", `document.querySelector('#wb-calls tr[data-call="call-1"] .mode').textContent === "当前：耳语"`)
	// A second agent with a waiting caller, for the picture.
	if err := r.d.Login("agent2", map[string]int{"general": 2, "housing": 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.d.Join(context.Background(), acd.Request{CallID: "call-2", Queue: "housing", Number: "13900139000"}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "agent2 and a housing caller", `!!document.querySelector('[data-agent="agent2"]') && document.querySelector('#wb-queues tr[data-queue="housing"] [data-k="waiting"]').textContent === "1"`)
	if !eval[bool](t, ctx, `window.__sameLoad === true`) {
		t.Fatal("the page reloaded: the wallboard must update live")
	}
	screenshot(t, ctx, "wallboard.png")
	run(t, ctx, "leave", chromedp.Click(chromedp.CSS(`#wb-calls tr[data-call="call-1"] button[data-leave]`)))
	poll(t, ctx, "left", `!document.querySelector('#wb-calls tr[data-call="call-1"] .mode')`)
	if got, want := r.mon.calls(), "listen call-1 sup1, whisper call-1 sup1, leave call-1 sup1"; got != want {
		t.Errorf("monitor requests %q, want %q", got, want)
	}

	// Browser audio: the console's own softphone answers a monitor offer by itself.
	run(t, ctx, "browser audio on", chromedp.Click(chromedp.ID("wb-audio")))
	poll(t, ctx, "the console's softphone connected", `Wallboard.sp.state === "ready" && document.querySelector("#wb-audio-state").textContent === "浏览器音频已连接"`)
	leg, err := r.sp.Ring(context.Background(), "sup1", RingInfo{CallID: "call-1-monitor", Caller: "monitor", Line: "monitor"})
	if err != nil {
		t.Fatalf("the monitor offer was not answered: %v", err)
	}
	poll(t, ctx, "monitoring in the browser", `document.querySelector("#wb-audio-state").textContent === "正在收听 call-1"`)
	r.sp.Hangup("sup1")
	<-leg.Done()
	poll(t, ctx, "the monitor leg ended", `Wallboard.sp.state === "ready"`)
	run(t, ctx, "browser audio off", chromedp.Click(chromedp.ID("wb-audio")))
	poll(t, ctx, "browser audio off", `document.querySelector("#wb-audio").dataset.state === "offline"`)

	// English on the console too.
	run(t, ctx, "switch to English", chromedp.Click(chromedp.ID("lang")))
	poll(t, ctx, "English on the wallboard", `document.querySelector('[data-agent="agent2"]').textContent.includes("Break") && document.querySelector("#k-sl0-l").textContent === "Answered in 15 s"`)
	run(t, ctx, "back to Chinese", chromedp.Click(chromedp.ID("lang")))
	poll(t, ctx, "Chinese on the wallboard", `document.querySelector("#k-sl0-l").textContent === "15 秒接通率"`)

	// The socket drops; meanwhile agent2 goes ready. The page reconnects by itself and
	// its first message brings the change.
	opens := eval[int](t, ctx, `Wallboard.socket.opens`)
	eval[bool](t, ctx, `(Wallboard.socket.drop(), true)`)
	poll(t, ctx, "the connection shown as down", `document.querySelector("#wb-conn").dataset.conn === "down"`)
	if err := r.d.Ready("agent2"); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "reconnected and re-synced", fmt.Sprintf(`Wallboard.socket.opens > %d && document.querySelector("#wb-conn").dataset.conn === "up" &&
		document.querySelector('[data-agent="agent2"]').dataset.state === "reserved"`, opens))
	if !eval[bool](t, ctx, `window.__sameLoad === true`) {
		t.Fatal("the page reloaded to reconnect")
	}

	// Force: agent1 (on a call) to break after the call, agent2 logged out.
	run(t, ctx, "force agent1 to break", chromedp.Click(chromedp.CSS(`[data-agent="agent1"] button[data-force="break"]`)))
	poll(t, ctx, "agent1 to break after the call", `document.querySelector('[data-agent="agent1"] .st').textContent === "通话中 → 小休"`)
	eval[bool](t, ctx, `(window.confirm = () => true, true)`)
	run(t, ctx, "force agent2 out", chromedp.Click(chromedp.CSS(`[data-agent="agent2"] button[data-force="logout"]`)))
	poll(t, ctx, "agent2 logged out", `document.querySelector('[data-agent="agent2"]').dataset.state === "logged-out"`)
	if st := r.d.Snapshot(); len(st.Agents) != 2 || st.Agents[0].PendingBreak != "supervisor" || st.Agents[1].State != acd.LoggedOut {
		t.Errorf("after forcing: %+v", st.Agents)
	}
	b.sameOrigin(r.url)
}

// The agent desk: the screen pop on a ring shows the caller's earlier and open cases;
// the case form is saved as the agent types; a draft typed while the server cannot
// take it survives closing the tab and is sent when the desk opens again.
func TestUIBrowserDesk(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	r := newUIRig(t)
	ctx0 := context.Background()
	sys := cases.Actor{ID: "system", Role: cases.RoleSystem}
	old, err := r.store.Create(ctx0, cases.NewCase{Channel: cases.ChannelPhone, CallerNumber: "13800138000", DialledNumber: "12345",
		Category: "0201", Location: "西湖区文三路 90 号", Description: "夜间施工噪声扰民"}, sys)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	tab := b.tab(b.ctx)
	signIn(t, tab, r.url, "agent1")
	poll(t, tab, "the desk", `!document.querySelector("#desk").hidden && document.querySelector("#console").hidden && document.querySelectorAll("#case-category option").length > 10`)

	// The agent's own state, live from the wallboard socket.
	if err := r.d.Login("agent1", map[string]int{"general": 3}); err != nil {
		t.Fatal(err)
	}
	poll(t, tab, "on break after login", `document.querySelector("#agent-state").dataset.state === "break"`)

	// A ring (as the softphone's socket delivers it): ringing state and the screen pop.
	eval[bool](t, tab, `(Desk.sp._onMessage({type: "ring", call: "call-7", caller: "13800138000", line: "12345 政务服务便民热线", dialled: "12345",
		wait_ms: 12000, timeout_ms: 20000, pop: {ivr_path: ["intake", "zh"]}}), true)`)
	poll(t, tab, "ringing", `document.querySelector("#phone").dataset.phone === "ringing" && !document.querySelector("#btn-accept").disabled`)
	poll(t, tab, "the screen pop with the earlier case", fmt.Sprintf(`document.querySelector("#pop-caller").textContent.startsWith("13800138000") &&
		document.querySelector("#pop-ivr").textContent === "intake → zh" && document.querySelector("#pop-wait").textContent === "0:12" &&
		document.querySelector("#pop-open").textContent.includes(%q)`, old.Number))

	// The earlier case's recording, from the screen pop: the call was agent2's, so the
	// player says plainly that agent1 may not hear it.
	run(t, tab, "play the earlier case's recording", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pop-open button[data-case-rec=%q]`, old.ID))))
	poll(t, tab, "the refusal", fmt.Sprintf(`!document.querySelector("#desk-recent .rc-player").hidden && document.querySelector("#desk-recent .rc-player").dataset.error === "403" &&
		document.querySelector("#desk-recent .rc-note").textContent.startsWith("无权收听该录音") && document.querySelector("#desk-recent .rc-title").textContent.includes(%q)`, old.Number))

	// Typing saves: a case is created, then patched.
	const cat = "0201"
	eval[bool](t, tab, `(() => { const s = document.querySelector("#case-category"); s.value = "0201"; s.dispatchEvent(new Event("change", {bubbles: true})); return s.value === "0201" })()`)
	run(t, tab, "fill the case",
		chromedp.SendKeys(chromedp.ID("case-location"), "西湖区文三路 90 号"),
		chromedp.SendKeys(chromedp.ID("case-description"), "又有夜间施工"))
	poll(t, tab, "saved", `Desk.draft && Desk.draft.ref !== "" && !Desk.draft.dirty && document.querySelector("#case-status").textContent.startsWith("已保存")`)
	ref := eval[string](t, tab, `Desk.draft.ref`)
	c, err := r.store.Get(ctx0, ref)
	if err != nil {
		t.Fatal(err)
	}
	if c.Description != "又有夜间施工" || c.Category != cat || c.Location != "西湖区文三路 90 号" || c.CallerNumber != "13800138000" {
		t.Errorf("stored case: %+v", c)
	}
	screenshot(t, tab, "agent-desk.png")

	// The server cannot take writes; the agent types on and closes the tab.
	r.blockCases.Store(true)
	run(t, tab, "type more", chromedp.SendKeys(chromedp.ID("case-description"), "，凌晨两点还在打桩"))
	poll(t, tab, "the failed save noticed", `Desk.draft.dirty && document.querySelector("#case-status").textContent.includes("blocked by the test")`)
	if err := chromedp.Cancel(tab); err != nil {
		t.Fatalf("close the tab: %v", err)
	}
	if c, _ := r.store.Get(ctx0, ref); strings.Contains(c.Description, "打桩") {
		t.Fatal("the blocked save reached the store")
	}
	r.blockCases.Store(false)

	// A new tab: the draft is back in the form and is sent again.
	tab2 := b.tab(b.ctx)
	run(t, tab2, "reopen the desk", chromedp.Navigate(r.url+"/"))
	poll(t, tab2, "the draft restored", `document.body.dataset.ready === "1" && document.querySelector("#case-description").value === "又有夜间施工，凌晨两点还在打桩"`)
	poll(t, tab2, "the draft sent", `Desk.draft && !Desk.draft.dirty`)
	c, err = r.store.Get(ctx0, ref)
	if err != nil || c.Description != "又有夜间施工，凌晨两点还在打桩" {
		t.Fatalf("after reopening, the stored description is %q (%v)", c.Description, err)
	}

	// Wrap-up: the softphone's socket says how long it lasts; the page counts down.
	eval[bool](t, tab2, `(Desk.sp._onMessage({type: "agent", state: "wrap-up", wrapup_ms: 15000}), true)`)
	poll(t, tab2, "the wrap-up countdown", `!document.querySelector("#btn-wrapup").hidden && /^话后剩余 1[0-5] 秒$/.test(document.querySelector("#wrapup").textContent)`)

	// Submitting as answered directly answers the case and clears the form.
	run(t, tab2, "answered directly", chromedp.Click(chromedp.ID("res-answered")), chromedp.Click(chromedp.ID("btn-submit")))
	poll(t, tab2, "submitted", `document.querySelector("#case-status").textContent.startsWith("工单已提交") && localStorage.getItem("hotline.case.draft") === null`)
	b.sameOrigin(r.url)
}

// A new user signs in with a one-time password: the page asks for a new one first.
func TestUIBrowserOneTimePassword(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	r := newUIRig(t)
	b := newBrowser(t)
	ctx := b.ctx
	run(t, ctx, "open /", chromedp.Navigate(r.url+"/"))
	poll(t, ctx, "the sign-in page", `location.pathname === "/login"`)
	run(t, ctx, "sign in with the one-time password",
		chromedp.SetValue(chromedp.ID("user"), "newbie"),
		chromedp.SetValue(chromedp.ID("password"), r.newbiePassword),
		chromedp.Click(chromedp.ID("submit")))
	poll(t, ctx, "asked for a new password", `!document.querySelector("#change").hidden && document.querySelector("#submit").textContent === "修改密码并进入"`)
	run(t, ctx, "set a new password",
		chromedp.SetValue(chromedp.ID("new-password"), "a much better password 2026"),
		chromedp.Click(chromedp.ID("submit")))
	poll(t, ctx, "the desk", `location.pathname === "/" && document.body.dataset.ready === "1" && !document.querySelector("#desk").hidden`)
	b.sameOrigin(r.url)
}

// The desk's softphone panel with the real softphone server: Ready opens the shift's
// WebRTC connection and makes the agent ready in the ACD (shown live); a ring shows
// the ringing state and is answered with Alt+A; Hang up ends the call.
func TestUIBrowserDeskSoftphone(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	r := newUIRig(t)
	b := newBrowser(t)
	ctx := b.ctx
	signIn(t, ctx, r.url, "agent1")
	poll(t, ctx, "the desk", `!document.querySelector("#desk").hidden`)
	run(t, ctx, "ready", chromedp.Click(chromedp.ID("btn-ready")))
	poll(t, ctx, "the softphone connected and the agent ready", `document.querySelector("#phone").dataset.phone === "ready" &&
		document.querySelector("#agent-state").dataset.state === "ready" && document.querySelector("#agent-state").textContent === "空闲"`)

	type res struct {
		c   *CallLeg
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := r.sp.Ring(context.Background(), "agent1", RingInfo{CallID: "call-9", Caller: "139****0000", Line: "12369 环保举报热线",
			Dialled: "12369", Wait: 4 * time.Second, Pop: []byte(`{"ivr_path":["intake"]}`)})
		ch <- res{c, err}
	}()
	poll(t, ctx, "ringing, a confidential caller", `document.querySelector("#phone").dataset.phone === "ringing" && !document.querySelector("#ring-banner").hidden &&
		document.querySelector("#pop-caller").textContent.includes("保密来电")`)
	eval[bool](t, ctx, `(document.dispatchEvent(new KeyboardEvent("keydown", {key: "a", altKey: true, bubbles: true})), true)`)
	var rr res
	select {
	case rr = <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("Ring did not return after Alt+A")
	}
	if rr.err != nil {
		t.Fatalf("Ring: %v", rr.err)
	}
	poll(t, ctx, "in call", `document.querySelector("#phone").dataset.phone === "incall" && !document.querySelector("#btn-hold").disabled && document.querySelector("#btn-accept").disabled`)
	run(t, ctx, "hold", chromedp.Click(chromedp.ID("btn-hold")))
	poll(t, ctx, "held", `document.querySelector("#phone").dataset.phone === "held" && document.querySelector("#btn-hold").textContent === "恢复"`)
	run(t, ctx, "hang up", chromedp.Click(chromedp.ID("btn-hangup")))
	select {
	case h := <-r.hangups:
		if h != "agent1 call-9" {
			t.Errorf("hangup %q", h)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server heard no hangup")
	}
	poll(t, ctx, "back to ready", `document.querySelector("#phone").dataset.phone === "ready"`)
	run(t, ctx, "break", chromedp.Click(chromedp.ID("btn-break")))
	poll(t, ctx, "on break (rest)", `document.querySelector("#agent-state").dataset.state === "break" && document.querySelector("#agent-reason").textContent === "休息"`)
	run(t, ctx, "log out", chromedp.Click(chromedp.ID("btn-logout")))
	poll(t, ctx, "logged out, the softphone closed", `document.querySelector("#agent-state").dataset.state === "logged-out" && document.querySelector("#phone").dataset.phone === "offline"`)
	b.sameOrigin(r.url)
}
