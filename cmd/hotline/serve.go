package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/call"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
	"github.com/hotline-12345/hotline/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// app is a running hotline: the wiring of every package, in start order.
type app struct {
	cfg       Config
	log       *slog.Logger
	reg       *prometheus.Registry
	engine    *media.Engine
	calls     *call.Service
	sip       *sip.Server
	http      *http.Server
	httpLn    net.Listener
	token     string
	tokenFile string
	fatal     chan error
	flows     *ivr.Registry
	prompts   *media.PromptSet
	acd       *acd.Dispatcher
	cases     cases.Store
	stopSweep context.CancelFunc
	recs      *recordings.Store
	// closers are run at shutdown (last added first), after HTTP stops and before the
	// ACD and the calls close: the features wired in by wire_*.go files add theirs.
	closers []func()
	// diskHelper is the child process that writes the recordings and runs their syncfs.
	diskHelper *recordings.Helper
}

// Features of the agent desk live in files of their own (wire_*.go), each adding itself
// in an init function: callWirings adjust the call service's configuration before it
// starts, deskWirings the HTTP server's before it serves.
var (
	callWirings []func(a *app, cfg *call.Config) error
	deskWirings []func(a *app, desk *agentdesk.Server) error
)

// diskHelperEnv names the folder a process started as the recordings' disk helper
// serves (see recordings.Helper); main checks it before anything else.
const diskHelperEnv = "HOTLINE_INTERNAL_DISK_HELPER"

// startDiskHelper runs this executable again as the recordings' disk helper for dir.
func startDiskHelper(dir string) (*recordings.Helper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), diskHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return recordings.StartHelper(cmd)
}

// serveDiskHelper is main when this process is a disk helper. It ends when the
// server closes its input (or dies), not on the signals that stop the server: a
// terminal's Ctrl-C and systemd's stop reach every process of the group, and the
// server still has recordings to finish while it drains its calls.
func serveDiskHelper(dir string) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	lowerPriority()
	if err := recordings.ServeHelper(dir, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hotline disk helper:", err)
		return exitFail
	}
	return exitOK
}

// openRecordings repairs files a crash left and starts the hourly retention sweep.
func (a *app) openRecordings() error {
	dir := a.cfg.Recordings.Dir
	if dir == "" {
		dir = filepath.Join(a.cfg.DataDir, "recordings")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if n, err := recordings.Repair(dir, a.log); err != nil {
		a.log.Warn("recordings: repair", "error", err)
	} else if n > 0 {
		a.log.Info("recordings: repaired files left by a crash", "count", n)
	}
	a.recs = &recordings.Store{Dir: dir, Log: a.log, Registerer: a.reg}
	if runtime.GOOS == "linux" {
		if h, err := startDiskHelper(dir); err != nil {
			a.log.Warn("recordings: no disk helper; writing and syncing in this process", "error", err)
		} else {
			a.diskHelper, a.recs.Disk = h, h
		}
	}
	if keep := a.cfg.Recordings.Retention.D(); keep > 0 {
		a.every(time.Hour, func(context.Context) {
			if n, err := a.recs.Prune(keep); err != nil {
				a.log.Warn("recordings: retention", "error", err)
			} else if n > 0 {
				a.log.Info("recordings: removed old recordings", "count", n)
			}
		})
	}
	return nil
}

// every runs f periodically until shutdown.
func (a *app) every(d time.Duration, f func(context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	prev := a.stopSweep
	a.stopSweep = func() {
		stop()
		if prev != nil {
			prev()
		}
	}
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// openCases opens the work-order store: PostgreSQL with --db, else the embedded SQLite
// file under the data folder. Either spools writes under the data folder while the
// database is away. A sweeper reminds and escalates cases near their deadline.
func (a *app) openCases() error {
	opts := cases.Options{Logger: a.log, Registerer: a.reg, Node: a.cfg.NodeID, StateDir: filepath.Join(a.cfg.DataDir, "cases")}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if a.cfg.DB != "" {
		a.cases, err = cases.OpenPostgres(ctx, a.cfg.DB, opts)
	} else {
		a.cases, err = cases.OpenSQLite(ctx, filepath.Join(a.cfg.DataDir, "hotline.db"), opts)
	}
	if err != nil {
		return fmt.Errorf("work orders: %w", err)
	}
	a.every(time.Minute, func(ctx context.Context) {
		if notices, err := a.cases.SweepDeadlines(ctx, time.Now()); err != nil {
			a.log.Warn("work orders: deadline sweep", "error", err)
		} else if len(notices) > 0 {
			a.log.Info("work orders: deadline notices", "count", len(notices))
		}
	})
	return nil
}

// openCases answers the IVR's "does this caller have open cases?" from the store.
type openCases struct{ s cases.Store }

func (o openCases) HasOpenCase(ctx context.Context, caller string) bool {
	if caller == "" {
		return false
	}
	cs, err := o.s.OpenCasesByCaller(ctx, caller)
	return err == nil && len(cs) > 0
}

// dialer lets the call service place calls through the SIP server built after it.
type dialer struct{ s **sip.Server }

func (d dialer) Dial(ctx context.Context, o sip.DialOptions) (*sip.OutboundCall, error) {
	return (*d.s).Dial(ctx, o)
}

// loadFlows loads the built-in flows, then the operator's folder (a flow of the same name
// replaces the built-in one), validated against the configured skills and destinations.
func loadFlows(cfg Config, prompts *media.PromptSet) (map[string]*ivr.Flow, error) {
	skills := map[string]bool{}
	for _, s := range ivr.BuiltinSkills() {
		skills[s] = true
	}
	for _, n := range cfg.Numbers {
		skills[n.Skill] = true
	}
	opts := ivr.LoadOptions{Audio: ivr.NewPromptAudio(prompts), Destinations: call.DestinationNames(cfg.Destinations)}
	for s := range skills {
		opts.Skills = append(opts.Skills, s)
	}
	flows, err := ivr.LoadBuiltin(opts)
	if err != nil {
		return nil, err
	}
	if cfg.IVR.FlowsDir != "" {
		own, err := ivr.LoadFS(os.DirFS(cfg.IVR.FlowsDir), opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.IVR.FlowsDir, err)
		}
		for name, f := range own {
			flows[name] = f
		}
	}
	for i, n := range cfg.Numbers {
		if _, ok := flows[n.Flow]; !ok {
			return nil, &ConfigError{File: "numbers", Field: fmt.Sprintf("numbers[%d].flow", i), Msg: fmt.Sprintf("no flow named %q", n.Flow)}
		}
	}
	return flows, nil
}

// ReloadFlows reloads the flows (SIGHUP, POST /api/flows/reload); calls in progress keep
// the flow they started with, and a flow file with errors changes nothing.
func (a *app) ReloadFlows() error {
	return a.flows.Reload(func() (map[string]*ivr.Flow, error) { return loadFlows(a.cfg, a.prompts) })
}

// startHooks let tests look inside a running hotline.
type startHooks struct {
	// wrap wraps the call handler, e.g. to tap a call's audio.
	wrap func(sip.CallHandler) sip.CallHandler
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func loadPrompts(cfg Config) (*media.PromptSet, error) {
	builtin, err := fs.Sub(ivr.BuiltinPrompts, "prompts")
	if err != nil {
		return nil, err
	}
	return media.LoadPromptSet(builtin, cfg.Media.PromptsDir)
}

// start brings hotline up; on error, whatever started is stopped again.
func start(cfg Config, logOut io.Writer, hooks ...startHooks) (a *app, err error) {
	a = &app{cfg: cfg, log: newLogger(cfg.LogLevel, logOut), reg: prometheus.NewRegistry(), fatal: make(chan error, 2)}
	defer func() {
		if err != nil {
			a.Shutdown(context.Background(), 0)
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return a, &ConfigError{File: "data_dir", Msg: err.Error()}
	}
	if a.token, a.tokenFile, err = adminToken(cfg); err != nil {
		return a, err
	}
	prompts, err := loadPrompts(cfg)
	if err != nil {
		return a, &ConfigError{File: "prompts", Field: "media.prompts_dir", Msg: err.Error()}
	}
	lo, hi, _ := ParsePortRange(cfg.Media.RTPPorts)
	a.engine, err = media.NewEngine(media.EngineConfig{
		BindIP: netip.MustParseAddr(cfg.Media.Bind), PortMin: lo, PortMax: hi,
		JitterDelay: cfg.Media.JitterBuffer.D(), SocketBuffer: cfg.Media.SocketBuffer, Realtime: cfg.Media.Realtime,
		Logger: a.log, Registerer: a.reg,
	})
	if err != nil {
		return a, err
	}
	numbers := make([]call.Number, len(cfg.Numbers))
	for i, n := range cfg.Numbers {
		numbers[i] = call.Number{Number: n.Number, Name: n.Name, Aliases: n.Aliases, Flow: n.Flow, Skill: n.Skill}
	}
	flows, err := loadFlows(cfg, prompts)
	if err != nil {
		return a, &ConfigError{File: "flows", Msg: err.Error()}
	}
	ivrMetrics := ivr.NewMetrics(a.reg)
	a.flows = ivr.NewRegistry(flows, a.log, ivrMetrics)
	a.prompts = prompts
	if err := a.openCases(); err != nil {
		return a, err
	}
	if err := a.openRecordings(); err != nil {
		return a, err
	}
	var events call.EventSink
	acdOpts := acd.Options{Logger: a.log, Registerer: a.reg, Sink: events.Deliver}
	if cfg.Callbacks.URI != "" {
		acdOpts.OnCallback = events.Callback
	}
	a.acd, err = acd.New(cfg.ACD, acdOpts)
	if err != nil {
		return a, &ConfigError{File: "acd", Msg: err.Error()}
	}
	queueFor := map[string]string{}
	for _, q := range cfg.ACD.Queues {
		if _, ok := queueFor[q.Skill]; !ok {
			queueFor[q.Skill] = q.Name
		}
	}
	agents := make([]call.Agent, len(cfg.Agents))
	agentSkills := map[string]map[string]int{}
	sipPasswords := map[string]string{}
	for i, ag := range cfg.Agents {
		agents[i] = call.Agent{ID: ag.ID, Name: ag.Name, Skills: ag.Skills, Contact: ag.Contact, AutoReady: ag.AutoReady}
		agentSkills[ag.ID] = ag.Skills
		sipPasswords[ag.ID] = ag.SIPPassword
	}
	callCfg := call.Config{Numbers: numbers, Prompts: prompts, Flows: a.flows,
		Destinations: cfg.Destinations, Dialer: dialer{&a.sip}, TransferTimeout: cfg.IVR.TransferTimeout.D(),
		IVRMetrics: ivrMetrics, AnswerAfter: cfg.SIP.AnswerAfter.D(),
		Cases: a.cases, Calendar: a.cases.Policy().Calendar, Callers: openCases{a.cases}, Recordings: a.recs,
		Announce: call.Announce{Every: cfg.Queue.AnnounceEvery.D(), OnlyWhenImproved: cfg.Queue.OnlyWhenImproved,
			Callback: cfg.Callbacks.URI != ""},
		CallbackURI: cfg.Callbacks.URI, CallbackFrom: cfg.Callbacks.From,
		ACD: a.acd, QueueForSkill: queueFor, Agents: agents, Contacts: func(id string) (string, bool) { return a.sip.Contact(id) },
		Logger: a.log, Registerer: a.reg}
	for _, w := range callWirings {
		if err := w(a, &callCfg); err != nil {
			return a, err
		}
	}
	a.calls, err = call.New(callCfg)
	if err != nil {
		return a, &ConfigError{File: "numbers", Msg: err.Error()}
	}
	events.To(a.calls)
	var handler sip.CallHandler = a.calls
	for _, h := range hooks {
		if h.wrap != nil {
			handler = h.wrap(handler)
		}
	}
	codecs, _ := ParseCodecs(cfg.SIP.Codecs)
	var mc []media.Codec
	for _, c := range codecs {
		mc = append(mc, media.Codec(c))
	}
	var trunks []sip.Trunk
	for _, t := range cfg.SIP.Trunks {
		st := sip.Trunk{Name: t.Name, Username: t.Username, Password: t.Password, DTMF: t.DTMF}
		for _, s := range t.Sources {
			p, _ := ParsePrefix(s)
			st.Sources = append(st.Sources, p)
		}
		trunks = append(trunks, st)
	}
	a.sip, err = sip.NewServer(sip.Config{
		Host: cfg.SIP.Host, Trunks: trunks, Numbers: a.calls.Known, Codecs: mc,
		MaxCalls: cfg.SIP.MaxCalls, MaxCPS: cfg.SIP.MaxCPS, RetryAfter: cfg.SIP.RetryAfter.D(),
		MaxCallDuration: cfg.SIP.MaxCallDuration.D(), RTPTimeout: cfg.SIP.RTPTimeout.D(),
		UserAgent: "hotline/" + versionString(), Media: a.engine, Handler: handler,
		AgentPassword: func(id string) (string, bool) {
			p, ok := sipPasswords[id]
			return p, ok && p != ""
		},
		OnRegistrationExpired: func(id string) {
			// The phone is gone: the agent can take no call. Logout waits for a call in progress.
			if err := a.acd.Logout(id); err != nil {
				a.log.Info("hotline: logout after registration expiry", "agent_id", id, "error", err)
			}
		},
		Logger: a.log, Registerer: a.reg,
	})
	if err != nil {
		return a, err
	}
	if _, err := a.sip.Listen(cfg.SIP.Listen); err != nil {
		return a, err
	}
	desk := &agentdesk.Server{AdminToken: a.token, Calls: a.calls, Gatherer: a.reg, Logger: a.log,
		Health: func() error { return nil }, ReloadFlows: a.ReloadFlows, ACD: a.acd, AgentSkills: agentSkills,
		Cases: agentdesk.NewCasesAPI(a.cases, a.log)}
	for _, w := range deskWirings {
		if err := w(a, desk); err != nil {
			return a, err
		}
	}
	a.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return a, fmt.Errorf("http: %w", err)
	}
	a.http = &http.Server{Handler: desk.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := a.http.Serve(a.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.fatal <- err
		}
	}()
	return a, nil
}

// SIPAddr and HTTPAddr are the bound addresses (useful with port 0).
func (a *app) SIPAddr() netip.AddrPort { return a.sip.Addr() }
func (a *app) HTTPAddr() string        { return a.httpLn.Addr().String() }

// Shutdown stops in order: SIP drains (new calls 503, calls in progress up to drain),
// then HTTP, then the media clocks.
func (a *app) Shutdown(ctx context.Context, drain time.Duration) {
	if a.sip != nil {
		dctx, cancel := context.WithTimeout(ctx, drain)
		if err := a.sip.Drain(dctx); err != nil {
			a.log.Warn("hotline: drain", "error", err)
		}
		cancel()
	}
	if a.http != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = a.http.Shutdown(hctx)
		cancel()
	}
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	if a.acd != nil {
		_ = a.acd.Close()
	}
	if a.calls != nil {
		a.calls.Close()
	}
	if a.engine != nil {
		a.engine.Close()
	}
	if a.diskHelper != nil {
		_ = a.diskHelper.Close()
	}
	if a.stopSweep != nil {
		a.stopSweep()
	}
	if a.cases != nil {
		if err := a.cases.Close(); err != nil {
			a.log.Warn("work orders: close", "error", err)
		}
	}
}

// adminToken takes the token from the config (flag), the environment, or the token file,
// creating the file with a fresh token at first start.
func adminToken(cfg Config) (token, file string, err error) {
	if cfg.HTTP.AdminToken != "" {
		return cfg.HTTP.AdminToken, "", nil
	}
	if t := strings.TrimSpace(os.Getenv("HOTLINE_ADMIN_TOKEN")); t != "" {
		return t, "", nil
	}
	file = filepath.Join(cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(file); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, file, nil
		}
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	token = hex.EncodeToString(b[:])
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return token, file, nil
}
