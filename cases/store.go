package cases

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store keeps cases and their timelines. Both implementations (embedded
// SQLite and PostgreSQL) pass the one conformance suite in cases/storetest.
//
// ref arguments accept a case ID or its human number. Methods that change a
// case take the version the caller saw and fail with ErrConflict when the case
// changed since (zero skips the check, for the server's own writes).
type Store interface {
	// The call flow. These writes never fail because the database is away:
	// they go to the spool and are replayed in order when it returns.
	OpenForCall(ctx context.Context, ci CallInfo) (Case, error)
	AppendEvents(ctx context.Context, caseID string, evs []Event) error
	FinishCall(ctx context.Context, caseID string, end CallEnd) error

	// The agent desk and the back office.
	Create(ctx context.Context, nc NewCase, by Actor) (Case, error)
	Get(ctx context.Context, ref string) (Case, error)
	Update(ctx context.Context, ref string, version int64, p Patch, by Actor) (Case, error)
	Apply(ctx context.Context, ref string, cmd Command) (Case, error)
	Merge(ctx context.Context, ref, into string, version int64, by Actor) (Case, error)
	Unmerge(ctx context.Context, ref string, version int64, by Actor) (Case, error)
	Timeline(ctx context.Context, ref string) ([]Event, error)
	OpenCasesByCaller(ctx context.Context, number string) ([]Case, error)
	Search(ctx context.Context, q Query) (Page, error)
	// SweepDeadlines reminds and escalates cases near or past their deadline;
	// run it every minute or so from one place.
	SweepDeadlines(ctx context.Context, now time.Time) ([]Notice, error)

	Reports

	Taxonomy() *Taxonomy
	Departments() *Directory
	Policy() *Policy
	Close() error
}

// Reports are the 12345 figures, computed in the database.
type Reports interface {
	ByCategory(ctx context.Context, p Period, level int) (CountReport, error)
	ByDialled(ctx context.Context, p Period) (CountReport, error)
	TopCallers(ctx context.Context, p Period, n int) ([]RepeatRow, error)
	TopLocations(ctx context.Context, p Period, n int) ([]RepeatRow, error)
	DepartmentKPIs(ctx context.Context, p Period) ([]DeptRow, error)
	AnswerRates(ctx context.Context, p Period) (AnswerRates, error)
}

// CallInfo is what the call flow knows at the first ring.
type CallInfo struct {
	CallID     string    `json:"call_id"`
	Caller     string    `json:"caller"`      // digits, "" when withheld
	CallerName string    `json:"caller_name"` // from CNAM, if any
	Dialled    string    `json:"dialled"`     // 12345 or a legacy number
	At         time.Time `json:"at"`          // zero: now
}

// CallEnd closes the call part of a case.
type CallEnd struct {
	CallID string       `json:"call_id"`
	At     time.Time    `json:"at"`
	Cause  string       `json:"cause,omitempty"`  // e.g. "caller hangup", "agent hangup", "transfer"
	Survey Satisfaction `json:"survey,omitempty"` // the post-call survey (一次一评), 0 if none
}

// NewCase is a case created outside a call (web form, messaging, back office).
type NewCase struct {
	Channel       Channel `json:"channel"`
	CallerNumber  string  `json:"caller_number"`
	CallerName    string  `json:"caller_name"`
	DialledNumber string  `json:"dialled_number"`
	Confidential  bool    `json:"confidential"`
	Category      string  `json:"category"`
	Location      string  `json:"location"`
	Description   string  `json:"description"`
	Urgency       Urgency `json:"urgency"`
}

// Patch changes the intake fields of a case; nil fields are kept.
type Patch struct {
	CallerName   *string  `json:"caller_name,omitempty"`
	Confidential *bool    `json:"confidential,omitempty"`
	Category     *string  `json:"category,omitempty"`
	Location     *string  `json:"location,omitempty"`
	Description  *string  `json:"description,omitempty"`
	Urgency      *Urgency `json:"urgency,omitempty"`
}

// Query searches cases. Empty fields do not filter.
type Query struct {
	Number   string
	Caller   string
	Text     string // in description and location
	Category string // a four-digit code, or a two-digit top-level one
	State    State
	From, To time.Time // created in [From, To)
	Limit    int       // default 50, at most 500
	Offset   int       // at most 100,000
	// IncludeConfidential lets a search by caller find confidential cases;
	// without it, the search cannot be used to learn who filed one.
	IncludeConfidential bool
}

// Page is a page of search results, newest first.
type Page struct {
	Cases []Case `json:"cases"`
	Total int    `json:"total"`
	Next  int    `json:"next,omitempty"` // offset of the next page, 0 when none
}

// Notice is what SweepDeadlines did to a case.
type Notice struct {
	CaseID   string    `json:"case_id"`
	Number   string    `json:"number"`
	Kind     EventType `json:"kind"` // case.reminded, case.overdue, case.escalated
	Dept     string    `json:"dept"`
	Deadline time.Time `json:"deadline"`
}

// Options configure a store; the zero value works (node 0, built-in
// taxonomy, demo departments, 2026 calendar, no spool).
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Taxonomy   *Taxonomy
	Calendar   *Calendar
	Depts      *Directory
	// Node is this server's digit (0-9) in case numbers; each node sharing a
	// database needs its own.
	Node int
	// StateDir holds the spool and the numbering state. Empty: no spool (the
	// call flow then sees database errors) and numbering state in memory.
	StateDir string
	// Now is the clock, for tests.
	Now func() time.Time
	// ReplayEvery is how often a non-empty spool is retried (default 2 s).
	ReplayEvery time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Taxonomy == nil {
		o.Taxonomy = BuiltinTaxonomy()
	}
	if o.Calendar == nil {
		o.Calendar = BuiltinCalendar()
	}
	if o.Depts == nil {
		o.Depts = DemoDirectory()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReplayEvery <= 0 {
		o.ReplayEvery = 2 * time.Second
	}
}
