package agentdesk

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/agentdesk/auth"
)

func uiServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := &Server{AdminToken: "tok"}
	ui := &UI{Queues: []string{"general"}}
	if err := ui.Register(s); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs
}

// / without a session goes to the sign-in page; with a cookie it is the app; assets
// and the config are served with a CSP that allows nothing from elsewhere; anything
// else gets a JSON 404.
func TestUIRoutes(t *testing.T) {
	hs := uiServer(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("/ without a session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	req, _ := http.NewRequest("GET", hs.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: "x"})
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="console"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("/ with a cookie: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}

	for path, ctype := range map[string]string{"/login": "text/html", "/ui/style.css": "text/css", "/ui/i18n.js": "javascript", "/api/ui/config": "application/json"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/%2e%2e/ui.go", "/ui/..%2fui.go"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || m["error"] == "" {
			t.Errorf("%s: %d %v, want a JSON 404", path, resp.StatusCode, m)
		}
	}

	resp, err = http.Get(hs.URL + "/api/ui/config")
	if err != nil {
		t.Fatal(err)
	}
	var c UIConfig
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || c.TimeZone != "Asia/Shanghai" || c.UTCOffsetMin != 480 || len(c.Queues) != 1 || c.WallboardURL != "/api/wallboard/ws" {
		t.Errorf("config %+v %v", c, err)
	}
}

func TestUIBadTimeZone(t *testing.T) {
	if err := (&UI{TimeZone: "Mars/Olympus"}).Register(&Server{}); err == nil {
		t.Error("an unknown time zone was accepted")
	}
}

// The pages load nothing from another origin, and every string key the scripts use
// exists in both languages of i18n.js.
func TestUIFilesSelfContained(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(src|href)\s*=\s*["'](https?:)?//|@import|url\(\s*["']?https?:|fonts\.googleapis|cdn\.`)
	keyUse := regexp.MustCompile(`\bt\('([a-zA-Z0-9_.-]+)'|data-i18n(?:-title|-placeholder)?="([a-zA-Z0-9_.-]+)"`)
	dict, err := fs.ReadFile(uiFiles, "ui/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	zh, en, _ := strings.Cut(string(dict), "\n    en: {")
	err = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(uiFiles, p)
		if err != nil {
			return err
		}
		if m := ext.Find(b); m != nil {
			t.Errorf("%s refers to another origin: %q", p, m)
		}
		for _, m := range keyUse.FindAllStringSubmatch(string(b), -1) {
			k := m[1] + m[2]
			if strings.HasSuffix(k, ".") || p == "ui/i18n.js" { // a prefix completed at run time
				continue
			}
			if !strings.Contains(zh, "'"+k+"'") || !strings.Contains(en, "'"+k+"'") {
				t.Errorf("%s uses the string %q, missing from a language in i18n.js", p, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
