package cases

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Channel is how a request reached the centre.
type Channel string

const (
	ChannelPhone     Channel = "phone"
	ChannelWeb       Channel = "web"
	ChannelMessaging Channel = "messaging"
)

func (c Channel) valid() bool {
	return c == ChannelPhone || c == ChannelWeb || c == ChannelMessaging
}

// Urgency selects the time limit: Normal uses the category's limit (7 or 15
// working days), Urgent is 24 hours, Emergency is 2 hours.
type Urgency string

const (
	UrgencyNormal    Urgency = "normal"
	UrgencyUrgent    Urgency = "urgent"
	UrgencyEmergency Urgency = "emergency"
)

func (u Urgency) valid() bool {
	return u == UrgencyNormal || u == UrgencyUrgent || u == UrgencyEmergency
}

// Satisfaction is a citizen's score, for a call (一次一评) or for a case (一事一评).
// Zero means "not scored".
type Satisfaction int

const (
	Unscored          Satisfaction = 0
	Unsatisfied       Satisfaction = 1
	BasicallySatisfed Satisfaction = 2
	Satisfied         Satisfaction = 3
)

func (s Satisfaction) valid() bool { return s >= Unsatisfied && s <= Satisfied }

// Role is what a user of the back office is allowed to do. Outsourced agents
// take calls and fill in cases but must not handle them (role separation).
type Role string

const (
	RoleNone       Role = ""
	RoleAgent      Role = "agent"
	RoleHandler    Role = "handler"    // a department's case handler
	RoleReviewer   Role = "reviewer"   // government quality reviewer / dispatcher
	RoleSupervisor Role = "supervisor" // government supervisor
	RoleAdmin      Role = "admin"
	RoleSystem     Role = "system" // the server itself: call flow, sweeps, recovery
)

// SeesConfidential reports whether the role may see the caller of a confidential case.
func (r Role) SeesConfidential() bool {
	switch r {
	case RoleReviewer, RoleSupervisor, RoleAdmin, RoleSystem:
		return true
	}
	return false
}

// Actor is who does something to a case; it is recorded on every event.
type Actor struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
	Dept string `json:"dept,omitempty"` // for handlers: the department they act for
}

// SystemActor is the server acting on its own (call flow, recovery, sweeps).
var SystemActor = Actor{ID: "system", Role: RoleSystem}

// Case is one work order (工单). Times are UTC; zero means unset.
type Case struct {
	ID            string       `json:"id"`
	Number        string       `json:"number"`
	Channel       Channel      `json:"channel"`
	CallerNumber  string       `json:"caller_number"`
	CallerName    string       `json:"caller_name,omitempty"`
	DialledNumber string       `json:"dialled_number,omitempty"`
	Confidential  bool         `json:"confidential"`
	Category      string       `json:"category,omitempty"`
	Location      string       `json:"location,omitempty"`
	Description   string       `json:"description,omitempty"`
	Urgency       Urgency      `json:"urgency"`
	State         State        `json:"state"`
	PrevState     State        `json:"prev_state,omitempty"` // the state before a merge
	LeadDept      string       `json:"lead_dept,omitempty"`
	AssistDepts   []string     `json:"assist_depts,omitempty"`
	DispatchedAt  time.Time    `json:"dispatched_at,omitzero"`
	Deadline      time.Time    `json:"deadline,omitzero"`
	Extensions    int          `json:"extensions"`
	Escalation    int          `json:"escalation"` // 0 none, 1 overdue, 2 escalated
	Reminded      bool         `json:"reminded"`
	InCall        bool         `json:"in_call"`
	CallID        string       `json:"call_id,omitempty"`
	Node          int          `json:"node"`
	MergedInto    string       `json:"merged_into,omitempty"`
	RepeatOf      string       `json:"repeat_of,omitempty"`
	Reopened      int          `json:"reopened"`
	CallScore     Satisfaction `json:"call_score"`
	Evaluation    Satisfaction `json:"evaluation"`
	Resolved      bool         `json:"resolved"`
	RepliedAt     time.Time    `json:"replied_at,omitzero"`
	ClosedAt      time.Time    `json:"closed_at,omitzero"`
	Resolution    string       `json:"resolution,omitempty"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
	Version       int64        `json:"version"`
}

// Open reports whether the case still needs work (and so counts for repeat detection).
func (c *Case) Open() bool { return c.State.Open() }

// Masked returns the case as a user without the right to see confidential
// callers sees it: the number keeps its first three and last two digits.
func (c Case) Masked() Case {
	if !c.Confidential {
		return c
	}
	c.CallerNumber = MaskNumber(c.CallerNumber)
	if c.CallerName != "" {
		c.CallerName = "***"
	}
	return c
}

// MaskNumber hides the middle of a phone number.
func MaskNumber(n string) string {
	r := []rune(n)
	if len(r) <= 5 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-5) + string(r[len(r)-2:])
}

// EventType names what happened. The call flow appends the call.* and ivr.*,
// queue.*, agent.*, recording.* and survey.* types; the store appends case.*.
type EventType string

// Event types. Value carries the one number reports need, so that they never
// parse payloads: the wait in milliseconds for call.answered and
// call.abandoned, the score for survey.call and case.evaluated.
const (
	EventCaseCreated     EventType = "case.created"
	EventCaseUpdated     EventType = "case.updated"
	EventCaseTransition  EventType = "case.transition" // Payload: {"action","from","to",...}
	EventCaseMerged      EventType = "case.merged"
	EventCaseUnmerged    EventType = "case.unmerged"
	EventCaseRepeat      EventType = "case.repeat_linked"
	EventCaseReminded    EventType = "case.reminded"
	EventCaseOverdue     EventType = "case.overdue"
	EventCaseEscalated   EventType = "case.escalated"
	EventCaseInterrupted EventType = "case.interrupted"

	EventCallOffered     EventType = "call.offered"   // a call entered the queue; Payload {"call_id","dialled"}
	EventCallAnswered    EventType = "call.answered"  // an agent answered; Value = wait in ms since call.offered (a callback counts with its real delay)
	EventCallAbandoned   EventType = "call.abandoned" // the caller hung up waiting; Value = wait in ms
	EventCallTransferred EventType = "call.transferred"
	EventCallEnded       EventType = "call.ended" // written by FinishCall
	EventIVRPath         EventType = "ivr.path"   // Payload: the nodes and inputs
	EventQueue           EventType = "queue.event"
	EventAgent           EventType = "agent.event"
	EventRecording       EventType = "recording.ref" // Payload {"path","start","duration_ms"}
	EventSurveyCall      EventType = "survey.call"   // Value = Satisfaction
	EventNote            EventType = "note"
)

// Event is one entry of a case's timeline. ID is unique across all writes and
// makes every write idempotent: a write replayed from the spool is not
// applied twice.
type Event struct {
	ID      string          `json:"id"`
	CaseID  string          `json:"case_id"`
	Seq     int64           `json:"seq,omitempty"` // order within the store, set on read
	Type    EventType       `json:"type"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Value   int64           `json:"value,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Field limits. Over-long input is refused rather than truncated: a
// citizen's words are evidence.
const (
	MaxNumberLen      = 32
	MaxNameLen        = 64
	MaxLocationLen    = 256
	MaxDescriptionLen = 8000
	MaxReasonLen      = 2000
	MaxPayloadLen     = 16 << 10
	MaxEventsPerWrite = 500
)

func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return invalid(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(v) > max {
		return invalid(field, "is longer than %d characters", max)
	}
	if strings.ContainsRune(v, 0) {
		return invalid(field, "contains a NUL character")
	}
	return nil
}

// checkPhone accepts what trunks deliver: digits with an optional leading +,
// or empty (withheld). Anything else would poison repeat detection.
func checkPhone(field, v string) error {
	if len(v) > MaxNumberLen {
		return invalid(field, "is longer than %d characters", MaxNumberLen)
	}
	for i, r := range v {
		if r == '+' && i == 0 {
			continue
		}
		if r < '0' || r > '9' {
			return invalid(field, "must contain digits only (and a leading +)")
		}
	}
	return nil
}

func checkEvent(e *Event) error {
	if e.Type == "" || len(e.Type) > 64 {
		return invalid("event.type", "must be 1 to 64 characters")
	}
	if err := checkText("event.type", string(e.Type), 64); err != nil {
		return err
	}
	if len(e.ID) > 64 {
		return invalid("event.id", "is longer than 64 characters")
	}
	if err := checkText("event.actor", e.Actor, MaxNameLen); err != nil {
		return err
	}
	if err := checkText("event.reason", e.Reason, MaxReasonLen); err != nil {
		return err
	}
	if len(e.Payload) > MaxPayloadLen {
		return invalid("event.payload", "is larger than %d bytes", MaxPayloadLen)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return invalid("event.payload", "is not valid JSON")
	}
	return nil
}

// newID returns a time-ordered UUID (v7): new rows land at the end of the
// primary-key indexes instead of at random pages, which keeps inserts fast
// on tables of millions of cases.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
