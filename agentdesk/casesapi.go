package agentdesk

// The work-order (case) API for the agent desk and the back office. It is
// mounted by the server at /api/cases (with or without the prefix stripped)
// and serves:
//
//	GET    /api/cases                       search: number, caller, q (text), category (2 or 4 digits),
//	                                        state, from, to (RFC 3339 or YYYY-MM-DD, China time),
//	                                        limit (≤500), offset
//	POST   /api/cases                       create (web form, messaging, back office): cases.NewCase
//	GET    /api/cases/open?caller=N         the caller's open cases (agent screen, IVR)
//	GET    /api/cases/taxonomy              the category tree
//	GET    /api/cases/departments           the departments
//	GET    /api/cases/reports/{name}        by-category (level=1|2), by-dialled, top-callers (n),
//	                                        top-locations (n), departments, answer-rates;
//	                                        from, to; format=csv for CSV
//	GET    /api/cases/{ref}                 one case, by ID or number
//	PATCH  /api/cases/{ref}                 {"version": v, "category": …, "location": …, …}
//	POST   /api/cases/{ref}/transitions     {"action": "dispatch", "version": v, "dept": …, …}
//	POST   /api/cases/{ref}/merge           {"into": ref, "version": v}
//	POST   /api/cases/{ref}/unmerge         {"version": v}
//	GET    /api/cases/{ref}/timeline        the events, oldest first
//	POST   /api/cases/{ref}/notes           {"text": "…"}
//
// Errors are {"error": "…"}: 400 malformed request, 403 role not allowed,
// 404 unknown case, 409 version conflict (reload and retry), 413 body too
// large, 422 valid JSON that breaks a rule (unknown category, refused
// transition, deadline in the past…), 503 database unreachable.
//
// Who is asking comes from the request context (WithUser), set by the
// server's authentication. Without a user nothing may be changed, and
// confidential callers are masked.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline-12345/hotline/cases"
)

// MaxCaseBody bounds a request body: a full description is 8,000 characters
// (24 KiB in UTF-8), so 64 KiB leaves room without inviting abuse.
const MaxCaseBody = 64 << 10

// User is who makes a request, as the cases API needs to know it.
type User struct {
	ID         string
	Role       cases.Role
	Dept       string // for department handlers
	Team       string // for supervisors (the team they watch) and agents (their team)
	Outsourced bool   // outsourced staff never dispatch or close cases
}

type userKey struct{}

// WithUser returns ctx carrying the authenticated user.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user in ctx; the zero User (no role) if none.
func UserFrom(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}

func (u User) actor() cases.Actor { return cases.Actor{ID: u.ID, Role: u.Role, Dept: u.Dept} }

type casesAPI struct {
	store cases.Store
	log   *slog.Logger
}

// NewCasesAPI serves the case API over store.
func NewCasesAPI(store cases.Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &casesAPI{store: store, log: log}
	mux := http.NewServeMux()
	const p = "/api/cases"
	mux.HandleFunc("GET "+p, a.search)
	mux.HandleFunc("GET "+p+"/{$}", a.search)
	mux.HandleFunc("POST "+p, a.create)
	mux.HandleFunc("POST "+p+"/{$}", a.create)
	mux.HandleFunc("GET "+p+"/open", a.open)
	mux.HandleFunc("GET "+p+"/taxonomy", a.taxonomy)
	mux.HandleFunc("GET "+p+"/departments", a.departments)
	mux.HandleFunc("GET "+p+"/reports/{name}", a.report)
	mux.HandleFunc("GET "+p+"/{ref}", a.get)
	mux.HandleFunc("PATCH "+p+"/{ref}", a.patch)
	mux.HandleFunc("GET "+p+"/{ref}/{sub}", a.getSub)
	mux.HandleFunc("POST "+p+"/{ref}/{sub}", a.postSub)
	mux.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		caseError(w, http.StatusNotFound, "no such cases endpoint: "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Mounted with the prefix stripped or not: route on the full path.
		if !strings.HasPrefix(r.URL.Path, p) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = p + r.URL.Path
			r2.URL.RawPath = ""
			r = r2
		}
		mux.ServeHTTP(w, r)
	})
}

func caseJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func caseError(w http.ResponseWriter, status int, msg string) {
	caseJSON(w, status, map[string]string{"error": msg})
}

// errBadRequest marks input that is not even well-formed (400), as opposed
// to well-formed input that breaks a rule (422).
type errBadRequest struct{ msg string }

func (e *errBadRequest) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &errBadRequest{fmt.Sprintf(format, args...)}
}

func (a *casesAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *errBadRequest
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		caseError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mb.Limit))
	case errors.As(err, &br):
		caseError(w, http.StatusBadRequest, br.msg)
	case errors.Is(err, cases.ErrNotFound):
		caseError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, cases.ErrConflict):
		caseError(w, http.StatusConflict, err.Error())
	case errors.Is(err, cases.ErrForbidden):
		caseError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, cases.ErrInvalid), errors.Is(err, cases.ErrTransition):
		caseError(w, http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, cases.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		caseError(w, http.StatusServiceUnavailable, "the case database is unreachable; try again shortly")
		a.log.Warn("cases API: database unreachable", "path", r.URL.Path, "err", err)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
	default:
		a.log.Error("cases API", "method", r.Method, "path", r.URL.Path, "case_ref", r.PathValue("ref"), "err", err)
		caseError(w, http.StatusInternalServerError, "internal error")
	}
}

// decodeStrict reads exactly one JSON object with only known fields.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("the request body is empty; a JSON object is expected")
		}
		return badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return badRequest("malformed JSON: data after the object")
	}
	return nil
}

func body(w http.ResponseWriter, r *http.Request) io.Reader {
	return http.MaxBytesReader(w, r.Body, MaxCaseBody)
}

// decodeNewCase parses a create request.
func decodeNewCase(r io.Reader) (cases.NewCase, error) {
	var nc cases.NewCase
	err := decodeStrict(r, &nc)
	return nc, err
}

type patchRequest struct {
	Version int64 `json:"version"`
	cases.Patch
}

// decodePatch parses a PATCH request.
func decodePatch(r io.Reader) (patchRequest, error) {
	var p patchRequest
	if err := decodeStrict(r, &p); err != nil {
		return p, err
	}
	if p.Version < 1 {
		return p, badRequest("version is required: send the version of the case you edited")
	}
	return p, nil
}

// decodeCommand parses a transition request.
func decodeCommand(r io.Reader) (cases.Command, error) {
	var c cases.Command
	if err := decodeStrict(r, &c); err != nil {
		return c, err
	}
	if c.Action == "" {
		return c, badRequest("action is required")
	}
	if c.Version < 1 {
		return c, badRequest("version is required: send the version of the case you acted on")
	}
	return c, nil
}

type mergeRequest struct {
	Into    string `json:"into"`
	Version int64  `json:"version"`
}

// decodeMerge parses a merge or unmerge request.
func decodeMerge(r io.Reader, needInto bool) (mergeRequest, error) {
	var m mergeRequest
	if err := decodeStrict(r, &m); err != nil {
		return m, err
	}
	if needInto && m.Into == "" {
		return m, badRequest("into is required")
	}
	if !needInto && m.Into != "" {
		return m, badRequest("into is not expected here")
	}
	if m.Version < 1 {
		return m, badRequest("version is required")
	}
	return m, nil
}

type noteRequest struct {
	Text string `json:"text"`
}

func decodeNote(r io.Reader) (noteRequest, error) {
	var n noteRequest
	if err := decodeStrict(r, &n); err != nil {
		return n, err
	}
	if strings.TrimSpace(n.Text) == "" {
		return n, badRequest("text is required")
	}
	if !utf8.ValidString(n.Text) || utf8.RuneCountInString(n.Text) > cases.MaxReasonLen {
		return n, badRequest("text must be valid UTF-8 of at most %d characters", cases.MaxReasonLen)
	}
	return n, nil
}

// parseTime accepts RFC 3339 or a China-time date.
func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, cases.ChinaTime); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("%s: %q is neither RFC 3339 nor YYYY-MM-DD", name, v)
}

func parseInt(q url.Values, name string, def, min, max int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, badRequest("%s must be an integer from %d to %d", name, min, max)
	}
	return n, nil
}

var searchParams = map[string]bool{"number": true, "caller": true, "q": true, "category": true, "state": true,
	"from": true, "to": true, "limit": true, "offset": true}

// parseSearch turns query parameters into a cases.Query.
func parseSearch(q url.Values) (cases.Query, error) {
	var out cases.Query
	for k, v := range q {
		if !searchParams[k] {
			return out, badRequest("unknown search parameter %q", k)
		}
		if len(v) > 1 {
			return out, badRequest("parameter %q given %d times", k, len(v))
		}
		if len(v[0]) > 256 || !utf8.ValidString(v[0]) {
			return out, badRequest("parameter %q is too long or not UTF-8", k)
		}
	}
	out.Number, out.Caller, out.Text, out.Category = q.Get("number"), q.Get("caller"), q.Get("q"), q.Get("category")
	out.State = cases.State(q.Get("state"))
	var err error
	if out.From, err = parseTime("from", q.Get("from")); err != nil {
		return out, err
	}
	if out.To, err = parseTime("to", q.Get("to")); err != nil {
		return out, err
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.To.After(out.From) {
		return out, badRequest("to must be after from")
	}
	if out.Limit, err = parseInt(q, "limit", 50, 1, 500); err != nil {
		return out, err
	}
	if out.Offset, err = parseInt(q, "offset", 0, 0, 100000); err != nil {
		return out, err
	}
	return out, nil
}

// parsePeriod reads from and to; the default is the last 30 days.
func parsePeriod(q url.Values, now time.Time) (cases.Period, error) {
	from, err := parseTime("from", q.Get("from"))
	if err != nil {
		return cases.Period{}, err
	}
	to, err := parseTime("to", q.Get("to"))
	if err != nil {
		return cases.Period{}, err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -30)
	}
	if !to.After(from) {
		return cases.Period{}, badRequest("to must be after from")
	}
	return cases.Period{From: from, To: to}, nil
}

func view(u User, c cases.Case) cases.Case {
	if u.Role.SeesConfidential() {
		return c
	}
	return c.Masked()
}

func (a *casesAPI) search(w http.ResponseWriter, r *http.Request) {
	q, err := parseSearch(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u := UserFrom(r.Context())
	q.IncludeConfidential = u.Role.SeesConfidential()
	p, err := a.store.Search(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for i := range p.Cases {
		p.Cases[i] = view(u, p.Cases[i])
	}
	if p.Cases == nil {
		p.Cases = []cases.Case{}
	}
	caseJSON(w, http.StatusOK, p)
}

func (a *casesAPI) create(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	if u.Role == cases.RoleNone {
		caseError(w, http.StatusForbidden, "creating a case needs a signed-in user")
		return
	}
	nc, err := decodeNewCase(body(w, r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.store.Create(r.Context(), nc, u.actor())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/cases/"+c.ID)
	caseJSON(w, http.StatusCreated, view(u, c))
}

func (a *casesAPI) open(w http.ResponseWriter, r *http.Request) {
	caller := r.URL.Query().Get("caller")
	if caller == "" {
		a.fail(w, r, badRequest("caller is required"))
		return
	}
	cs, err := a.store.OpenCasesByCaller(r.Context(), caller)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u := UserFrom(r.Context())
	out := []cases.Case{}
	for _, c := range cs {
		if c.Confidential && !u.Role.SeesConfidential() {
			continue // listing it would reveal who filed it
		}
		out = append(out, c)
	}
	caseJSON(w, http.StatusOK, map[string]any{"caller": caller, "cases": out})
}

func (a *casesAPI) taxonomy(w http.ResponseWriter, r *http.Request) {
	caseJSON(w, http.StatusOK, map[string]any{"categories": a.store.Taxonomy().All()})
}

func (a *casesAPI) departments(w http.ResponseWriter, r *http.Request) {
	caseJSON(w, http.StatusOK, map[string]any{"departments": a.store.Departments().All()})
}

func (a *casesAPI) get(w http.ResponseWriter, r *http.Request) {
	c, err := a.store.Get(r.Context(), r.PathValue("ref"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	caseJSON(w, http.StatusOK, view(UserFrom(r.Context()), c))
}

func (a *casesAPI) patch(w http.ResponseWriter, r *http.Request) {
	p, err := decodePatch(body(w, r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u := UserFrom(r.Context())
	c, err := a.store.Update(r.Context(), r.PathValue("ref"), p.Version, p.Patch, u.actor())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	caseJSON(w, http.StatusOK, view(u, c))
}

func (a *casesAPI) getSub(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("sub") != "timeline" {
		caseError(w, http.StatusNotFound, "no such cases endpoint: GET "+r.URL.Path)
		return
	}
	ref := r.PathValue("ref")
	c, err := a.store.Get(r.Context(), ref)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	evs, err := a.store.Timeline(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if evs == nil {
		evs = []cases.Event{}
	}
	if c.Confidential && !UserFrom(r.Context()).Role.SeesConfidential() {
		// Payloads of call events carry the caller's number.
		for i := range evs {
			evs[i].Payload = nil
		}
	}
	caseJSON(w, http.StatusOK, map[string]any{"case_id": c.ID, "number": c.Number, "events": evs})
}

func (a *casesAPI) postSub(w http.ResponseWriter, r *http.Request) {
	ref, u := r.PathValue("ref"), UserFrom(r.Context())
	var c cases.Case
	var err error
	switch r.PathValue("sub") {
	case "transitions":
		var cmd cases.Command
		if cmd, err = decodeCommand(body(w, r)); err == nil {
			cmd.Actor = u.actor()
			c, err = a.store.Apply(r.Context(), ref, cmd)
		}
	case "merge":
		var m mergeRequest
		if m, err = decodeMerge(body(w, r), true); err == nil {
			c, err = a.store.Merge(r.Context(), ref, m.Into, m.Version, u.actor())
		}
	case "unmerge":
		var m mergeRequest
		if m, err = decodeMerge(body(w, r), false); err == nil {
			c, err = a.store.Unmerge(r.Context(), ref, m.Version, u.actor())
		}
	case "notes":
		if u.Role == cases.RoleNone {
			caseError(w, http.StatusForbidden, "adding a note needs a signed-in user")
			return
		}
		var n noteRequest
		if n, err = decodeNote(body(w, r)); err != nil {
			break
		}
		if c, err = a.store.Get(r.Context(), ref); err != nil {
			break
		}
		if err = a.store.AppendEvents(r.Context(), c.ID, []cases.Event{{Type: cases.EventNote, Actor: u.ID, Reason: n.Text}}); err == nil {
			caseJSON(w, http.StatusCreated, map[string]string{"case_id": c.ID})
			return
		}
	default:
		caseError(w, http.StatusNotFound, "no such cases endpoint: POST "+r.URL.Path)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	caseJSON(w, http.StatusOK, view(u, c))
}

var reportParams = map[string]bool{"from": true, "to": true, "format": true, "level": true, "n": true}

func (a *casesAPI) report(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if !reportParams[k] {
			a.fail(w, r, badRequest("unknown report parameter %q", k))
			return
		}
	}
	csvOut := false
	switch q.Get("format") {
	case "", "json":
	case "csv":
		csvOut = true
	default:
		a.fail(w, r, badRequest("format must be json or csv"))
		return
	}
	p, err := parsePeriod(q, time.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, err := parseInt(q, "n", 20, 1, 1000)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	level, err := parseInt(q, "level", 2, 1, 2)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sees := UserFrom(r.Context()).Role.SeesConfidential()
	ctx := r.Context()
	name := r.PathValue("name")
	var v any
	var writeCSV func(io.Writer) error
	switch name {
	case "by-category":
		rep, e := a.store.ByCategory(ctx, p, level)
		v, err, writeCSV = rep, e, func(w io.Writer) error { return cases.WriteCountCSV(w, rep) }
	case "by-dialled":
		rep, e := a.store.ByDialled(ctx, p)
		v, err, writeCSV = rep, e, func(w io.Writer) error { return cases.WriteCountCSV(w, rep) }
	case "top-callers", "top-locations":
		var rows []cases.RepeatRow
		if name == "top-callers" {
			rows, err = a.store.TopCallers(ctx, p, n)
			for i := range rows {
				if rows[i].Confidential && !sees {
					rows[i].Key = cases.MaskNumber(rows[i].Key)
				}
			}
		} else {
			rows, err = a.store.TopLocations(ctx, p, n)
		}
		if rows == nil {
			rows = []cases.RepeatRow{}
		}
		v, writeCSV = map[string]any{"period": p, "rows": rows}, func(w io.Writer) error { return cases.WriteRepeatCSV(w, rows) }
	case "departments":
		rows, e := a.store.DepartmentKPIs(ctx, p)
		if rows == nil {
			rows = []cases.DeptRow{}
		}
		v, err, writeCSV = map[string]any{"period": p, "rows": rows}, e, func(w io.Writer) error { return cases.WriteDeptCSV(w, rows) }
	case "answer-rates":
		rep, e := a.store.AnswerRates(ctx, p)
		v, err, writeCSV = rep, e, func(w io.Writer) error { return cases.WriteAnswerCSV(w, rep) }
	default:
		caseError(w, http.StatusNotFound, "no such report "+strconv.Quote(name)+
			"; reports: by-category, by-dialled, top-callers, top-locations, departments, answer-rates")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !csvOut {
		caseJSON(w, http.StatusOK, v)
		return
	}
	var buf bytes.Buffer
	if err := writeCSV(&buf); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, name, p.From.In(cases.ChinaTime).Format("20060102")))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
