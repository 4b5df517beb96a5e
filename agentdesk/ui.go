package agentdesk

// The web UI: the sign-in page, the agent desk and the supervisor console, plain HTML,
// CSS and JavaScript embedded in the binary (no build step, nothing fetched from the
// internet). The pages talk to the JSON API, the softphone's WebSocket and the
// wallboard's.

import (
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/agentdesk/auth"
)

//go:embed ui
var uiFiles embed.FS

// UI serves the pages. Set the fields, then Register it on a Server.
type UI struct {
	// TimeZone is the IANA zone every time on the pages is shown in (default
	// Asia/Shanghai, the zone of the case calendar).
	TimeZone string
	// BreakReasons are offered when an agent takes a break (default rest, lunch,
	// meeting, training).
	BreakReasons []string
	// Queues and Destinations are offered for transfers and three-way calls.
	Queues       []string
	Destinations []string
	// SoftphoneURL and WallboardURL are the WebSocket paths (defaults /softphone and
	// /api/wallboard/ws).
	SoftphoneURL string
	WallboardURL string
}

// UIConfig is GET /api/ui/config: what the pages need before anything else.
type UIConfig struct {
	TimeZone     string   `json:"time_zone"`
	UTCOffsetMin int      `json:"utc_offset_minutes"` // now, in TimeZone
	BreakReasons []string `json:"break_reasons"`
	Queues       []string `json:"queues"`
	Destinations []string `json:"destinations"`
	SoftphoneURL string   `json:"softphone_url"`
	WallboardURL string   `json:"wallboard_url"`
	Languages    []string `json:"languages"`
}

// Config is the page configuration with defaults filled in; it fails on an unknown zone.
func (u *UI) Config() (UIConfig, error) {
	c := UIConfig{TimeZone: u.TimeZone, BreakReasons: u.BreakReasons, Queues: u.Queues, Destinations: u.Destinations,
		SoftphoneURL: u.SoftphoneURL, WallboardURL: u.WallboardURL, Languages: []string{"zh", "en"}}
	if c.TimeZone == "" {
		c.TimeZone = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return c, err
	}
	_, off := time.Now().In(loc).Zone()
	c.UTCOffsetMin = off / 60
	if len(c.BreakReasons) == 0 {
		c.BreakReasons = []string{"rest", "lunch", "meeting", "training"}
	}
	if c.Queues == nil {
		c.Queues = []string{}
	}
	if c.Destinations == nil {
		c.Destinations = []string{}
	}
	if c.SoftphoneURL == "" {
		c.SoftphoneURL = "/softphone"
	}
	if c.WallboardURL == "" {
		c.WallboardURL = "/api/wallboard/ws"
	}
	return c, nil
}

// Register mounts the pages on s: / (the desk or the console, by role), /login, the
// assets under /ui/ and GET /api/ui/config. All are public: the data they show comes
// from the authenticated API.
func (u *UI) Register(s *Server) error {
	cfg, err := u.Config()
	if err != nil {
		return err
	}
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return err
	}
	s.Public("GET /{$}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without a session cookie there is nothing to show: off to the sign-in page. A
		// cookie that has expired is found out by the page's first API call.
		if c, err := r.Cookie(auth.CookieName); err != nil || c.Value == "" {
			http.Redirect(w, r, "/login?next="+url.QueryEscape("/"), http.StatusSeeOther)
			return
		}
		servePage(w, r, sub, "index.html")
	}))
	s.Public("GET /login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		servePage(w, r, sub, "login.html")
	}))
	assets := http.FileServerFS(sub)
	s.Public("GET /ui/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/ui/")
		if name == "" || strings.HasSuffix(name, ".html") || path.Clean("/"+name) != "/"+name {
			WriteError(w, http.StatusNotFound, "no such file: "+r.URL.Path)
			return
		}
		if _, err := fs.Stat(sub, name); err != nil {
			WriteError(w, http.StatusNotFound, "no such file: "+r.URL.Path)
			return
		}
		securityHeaders(w)
		// The files change with the binary: the browser checks each time (304 when unchanged).
		w.Header().Set("Cache-Control", "no-cache")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		assets.ServeHTTP(w, r2)
	}))
	s.Public("GET /api/ui/config", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cfg
		if loc, err := time.LoadLocation(c.TimeZone); err == nil {
			_, off := time.Now().In(loc).Zone()
			c.UTCOffsetMin = off / 60
		}
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, http.StatusOK, c)
	}))
	return nil
}

// securityHeaders: the pages load nothing from elsewhere, and say so to the browser.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "+
		"style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

func servePage(w http.ResponseWriter, r *http.Request, fsys fs.FS, name string) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "the page is missing from the binary: "+name)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
