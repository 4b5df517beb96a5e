package agentdesk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

type casesFixture struct {
	t     *testing.T
	store *cases.SQLStore
	h     http.Handler
}

func newCasesFixture(t *testing.T) *casesFixture {
	t.Helper()
	s, err := cases.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cases.db"), cases.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &casesFixture{t: t, store: s, h: NewCasesAPI(s, nil)}
}

var (
	asReviewer = User{ID: "rv1", Role: cases.RoleReviewer}
	asAgent    = User{ID: "ag1", Role: cases.RoleAgent}
	nobody     = User{}
)

// do sends a request and decodes a JSON answer into out (if not nil).
func (f *casesFixture) do(u User, method, path, body string, out any) (int, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req = req.WithContext(WithUser(req.Context(), u))
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	b := rec.Body.String()
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusOK || !strings.HasPrefix(ct, "text/csv") {
		if !strings.HasPrefix(ct, "application/json") {
			f.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, b)
		}
		if rec.Code >= 400 {
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error == "" {
				f.t.Fatalf("%s %s: error body %q is not {\"error\": …}", method, path, b)
			}
		}
	}
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return rec.Code, b
}

func (f *casesFixture) want(status int, u User, method, path, body string) string {
	f.t.Helper()
	code, b := f.do(u, method, path, body, nil)
	if code != status {
		f.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, code, status, b)
	}
	return b
}

func TestCasesAPILifecycle(t *testing.T) {
	f := newCasesFixture(t)
	var c cases.Case
	if code, b := f.do(asAgent, "POST", "/api/cases", `{"channel":"web","caller_number":"13800138000","category":"0201","location":"文三路 1 号","description":"夜间施工噪音"}`, &c); code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	if c.Number == "" || c.State != cases.StateReceived || c.Version != 1 {
		t.Fatalf("created: %+v", c)
	}
	// Read by ID and by number; the prefix-stripped mount works too.
	var got cases.Case
	f.do(asAgent, "GET", "/api/cases/"+c.Number, "", &got)
	if got.ID != c.ID {
		t.Fatal("get by number")
	}
	f.do(asAgent, "GET", "/"+c.ID, "", &got)
	if got.ID != c.ID {
		t.Fatal("get with the prefix stripped")
	}
	var d cases.Case
	body := fmt.Sprintf(`{"action":"dispatch","version":%d,"dept":"sthjj","assisting":["cgj"]}`, c.Version)
	if code, b := f.do(asReviewer, "POST", "/api/cases/"+c.ID+"/transitions", body, &d); code != 200 {
		t.Fatalf("dispatch: %d %s", code, b)
	}
	if d.State != cases.StateDispatched || d.LeadDept != "sthjj" || d.Deadline.IsZero() {
		t.Fatalf("dispatched: %+v", d)
	}
	// The same version again: someone else already acted.
	f.want(409, asReviewer, "POST", "/api/cases/"+c.ID+"/transitions", body)
	// Not allowed in this state.
	f.want(422, asReviewer, "POST", "/api/cases/"+c.ID+"/transitions", fmt.Sprintf(`{"action":"evaluate","version":%d,"score":3}`, d.Version))
	// An agent may not dispatch.
	f.want(403, asAgent, "POST", "/api/cases/"+c.ID+"/transitions", fmt.Sprintf(`{"action":"return","version":%d,"reason":"x"}`, d.Version))
	// Notes and the timeline.
	f.want(201, asAgent, "POST", "/api/cases/"+c.ID+"/notes", `{"text":"市民再次来电催办"}`)
	var tl struct {
		Events []cases.Event `json:"events"`
	}
	f.do(asAgent, "GET", "/api/cases/"+c.ID+"/timeline", "", &tl)
	if n := len(tl.Events); n != 3 || tl.Events[2].Type != cases.EventNote || tl.Events[2].Actor != "ag1" {
		t.Fatalf("timeline: %+v", tl.Events)
	}
	// Search.
	var p cases.Page
	f.do(asAgent, "GET", "/api/cases?caller=13800138000&category=02&state=dispatched", "", &p)
	if p.Total != 1 || p.Cases[0].ID != c.ID {
		t.Fatalf("search: %+v", p)
	}
	// Open cases of the caller.
	var open struct{ Cases []cases.Case }
	f.do(asAgent, "GET", "/api/cases/open?caller=13800138000", "", &open)
	if len(open.Cases) != 1 {
		t.Fatalf("open: %+v", open)
	}
	// Patch, then a stale patch.
	var pc cases.Case
	if code, b := f.do(asAgent, "PATCH", "/api/cases/"+c.ID, fmt.Sprintf(`{"version":%d,"location":"文三路 3 号"}`, d.Version), &pc); code != 200 {
		t.Fatalf("patch: %d %s", code, b)
	}
	f.want(409, asAgent, "PATCH", "/api/cases/"+c.ID, fmt.Sprintf(`{"version":%d,"location":"x"}`, d.Version))
}

func TestCasesAPIBadInput(t *testing.T) {
	f := newCasesFixture(t)
	c, err := f.store.Create(context.Background(), cases.NewCase{Category: "0201"}, cases.SystemActor)
	if err != nil {
		t.Fatal(err)
	}
	id := c.ID
	tests := []struct {
		status       int
		method, path string
		body         string
	}{
		{400, "POST", "/api/cases", `{`},
		{400, "POST", "/api/cases", ``},
		{400, "POST", "/api/cases", `{"category":"0201"} {"x":1}`},
		{400, "POST", "/api/cases", `{"category":"0201","admin":true}`},
		{400, "POST", "/api/cases", `[1,2]`},
		{400, "POST", "/api/cases", `{"confidential":"yes"}`},
		{422, "POST", "/api/cases", `{"category":"9999"}`},
		{422, "POST", "/api/cases", `{"caller_number":"1' OR '1'='1"}`},
		{422, "POST", "/api/cases", `{"description":"` + strings.Repeat("长", cases.MaxDescriptionLen+1) + `"}`},
		{413, "POST", "/api/cases", `{"description":"` + strings.Repeat("x", MaxCaseBody) + `"}`},
		{404, "GET", "/api/cases/20261127-999999", ``},
		{404, "GET", "/api/cases/" + strings.Repeat("x", 100), ``},
		{404, "GET", "/api/cases/" + id + "/nothing", ``},
		{404, "POST", "/api/cases/" + id + "/nothing", `{}`},
		{404, "GET", "/api/cases/reports/nothing", ``},
		{400, "POST", "/api/cases/" + id + "/transitions", `{"action":"dispatch"}`},
		{400, "POST", "/api/cases/" + id + "/transitions", `{"version":1}`},
		{422, "POST", "/api/cases/" + id + "/transitions", `{"action":"dispatch","version":1,"dept":"nope"}`},
		{422, "POST", "/api/cases/" + id + "/transitions", `{"action":"dispatch","version":1,"dept":"cgj","deadline":"2001-01-01T00:00:00Z"}`},
		{400, "POST", "/api/cases/" + id + "/transitions", `{"action":"dispatch","version":1,"dept":"cgj","deadline":"tomorrow"}`},
		{422, "POST", "/api/cases/" + id + "/transitions", `{"action":"teleport","version":1}`},
		{422, "POST", "/api/cases/" + id + "/merge", `{"into":"` + id + `","version":1}`},
		{400, "POST", "/api/cases/" + id + "/merge", `{"version":1}`},
		{404, "POST", "/api/cases/" + id + "/merge", `{"into":"20261127-999999","version":1}`},
		{422, "POST", "/api/cases/" + id + "/unmerge", `{"version":1}`},
		{400, "PATCH", "/api/cases/" + id, `{"location":"x"}`},
		{400, "POST", "/api/cases/" + id + "/notes", `{"text":"  "}`},
		{400, "GET", "/api/cases?limit=0", ``},
		{400, "GET", "/api/cases?limit=x", ``},
		{400, "GET", "/api/cases?sort=evil", ``},
		{400, "GET", "/api/cases?from=yesterday", ``},
		{400, "GET", "/api/cases?from=2026-02-01&to=2026-01-01", ``},
		{422, "GET", "/api/cases?category=77", ``},
		{422, "GET", "/api/cases?state=lost", ``},
		{422, "GET", "/api/cases?caller=abc", ``},
		{400, "GET", "/api/cases/open", ``},
		{400, "GET", "/api/cases/reports/by-category?level=3", ``},
		{400, "GET", "/api/cases/reports/by-category?format=xml", ``},
		{400, "GET", "/api/cases/reports/top-callers?n=0", ``},
		{404, "DELETE", "/api/cases/" + id, ``},
	}
	for _, tc := range tests {
		code, b := f.do(asReviewer, tc.method, tc.path, tc.body, nil)
		if code != tc.status {
			short := tc.body
			if len(short) > 60 {
				short = short[:60] + "…"
			}
			t.Errorf("%s %s %s: %d, want %d: %.200s", tc.method, tc.path, short, code, tc.status, b)
		}
	}
	// Nothing changed through all that.
	got, _ := f.store.Get(context.Background(), id)
	if got.Version != 1 {
		t.Errorf("bad requests changed the case: version %d", got.Version)
	}
	// Without a user nothing may be changed.
	f.want(403, nobody, "POST", "/api/cases", `{"category":"0201"}`)
	f.want(403, nobody, "POST", "/api/cases/"+id+"/transitions", `{"action":"dispatch","version":1,"dept":"cgj"}`)
	f.want(403, nobody, "POST", "/api/cases/"+id+"/notes", `{"text":"x"}`)
}

func TestCasesAPIConfidential(t *testing.T) {
	f := newCasesFixture(t)
	var c cases.Case
	f.do(asReviewer, "POST", "/api/cases", `{"caller_number":"13912345678","caller_name":"王五","confidential":true,"category":"1102"}`, &c)
	if c.CallerNumber != "13912345678" {
		t.Fatalf("a reviewer sees the number: %q", c.CallerNumber)
	}
	for _, u := range []User{nobody, asAgent} {
		var got cases.Case
		f.do(u, "GET", "/api/cases/"+c.ID, "", &got)
		if strings.Contains(got.CallerNumber, "12345") || got.CallerName == "王五" {
			t.Errorf("role %q sees the caller: %+v", u.Role, got)
		}
		var p cases.Page
		f.do(u, "GET", "/api/cases?caller=13912345678", "", &p)
		if p.Total != 0 {
			t.Errorf("role %q found the confidential case by caller", u.Role)
		}
		var open struct{ Cases []cases.Case }
		f.do(u, "GET", "/api/cases/open?caller=13912345678", "", &open)
		if len(open.Cases) != 0 {
			t.Errorf("role %q sees the confidential open case", u.Role)
		}
		b := f.want(200, u, "GET", "/api/cases/"+c.ID+"/timeline", "")
		if strings.Contains(b, "13912345678") {
			t.Errorf("the timeline shows the number to role %q", u.Role)
		}
	}
}

func TestCasesAPIReports(t *testing.T) {
	f := newCasesFixture(t)
	ctx := context.Background()
	for i, cat := range []string{"0201", "0201", "0101"} {
		if _, err := f.store.Create(ctx, cases.NewCase{Category: cat, DialledNumber: "12345", CallerNumber: "13000000000",
			Location: "=HYPERLINK(\"http://evil\")", Confidential: i == 0}, cases.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	q := "?from=" + from + "&to=" + to
	var r cases.CountReport
	f.do(asReviewer, "GET", "/api/cases/reports/by-category"+q, "", &r)
	if r.Total != 3 || r.Rows[0].Key != "0201" || r.Rows[0].Count != 2 {
		t.Fatalf("by-category: %+v", r)
	}
	csv := f.want(200, asReviewer, "GET", "/api/cases/reports/by-category"+q+"&format=csv&level=1", "")
	if !strings.HasPrefix(csv, "key,name,count,share,prev_count,change\n02,环境保护,2,0.6667,0,\n") {
		t.Errorf("csv:\n%s", csv)
	}
	csv = f.want(200, asReviewer, "GET", "/api/cases/reports/top-locations"+q+"&format=csv", "")
	if !strings.Contains(csv, "'=HYPERLINK") {
		t.Errorf("a formula in a location was not defused:\n%s", csv)
	}
	b := f.want(200, asAgent, "GET", "/api/cases/reports/top-callers"+q, "")
	if strings.Contains(b, "13000000000") {
		t.Errorf("top callers shows a confidential caller to an agent: %s", b)
	}
	b = f.want(200, asReviewer, "GET", "/api/cases/reports/top-callers"+q, "")
	if !strings.Contains(b, "13000000000") {
		t.Errorf("a reviewer should see the caller: %s", b)
	}
	for _, name := range []string{"by-dialled", "departments", "answer-rates"} {
		f.want(200, asReviewer, "GET", "/api/cases/reports/"+name+q, "")
		f.want(200, asReviewer, "GET", "/api/cases/reports/"+name+q+"&format=csv", "")
	}
	f.want(200, asReviewer, "GET", "/api/cases/taxonomy", "")
	f.want(200, asReviewer, "GET", "/api/cases/departments", "")
}
