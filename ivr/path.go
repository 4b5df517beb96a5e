package ivr

import "time"

// Action is what the call layer does when a flow ends.
type Action string

const (
	ActionQueue     Action = "queue"     // hand the call to the ACD with Skill, Queue, Priority
	ActionTransfer  Action = "transfer"  // blind transfer to Destination
	ActionHangup    Action = "hangup"    // the flow said goodbye: release the call
	ActionAbandoned Action = "abandoned" // the caller hung up during the flow
)

// Outcome is the result of running a flow: what to do next, and the path that led there.
type Outcome struct {
	Action      Action            `json:"action"`
	Node        string            `json:"node"` // the node the flow ended in
	Skill       string            `json:"skill,omitempty"`
	Queue       string            `json:"queue,omitempty"`
	Priority    int               `json:"priority,omitempty"`
	Language    string            `json:"language"`
	Destination string            `json:"destination,omitempty"`
	Vars        map[string]string `json:"vars,omitempty"`
	// Score is the survey rating, 1..ScoreScale; 0 when the caller gave none.
	Score      int      `json:"score,omitempty"`
	ScoreScale int      `json:"score_scale,omitempty"`
	Messages   []string `json:"messages,omitempty"` // references of recorded messages
	Path       Path     `json:"path"`
}

// Path is what happened in a flow, for /api/calls and the case record.
type Path struct {
	Flow    string    `json:"flow"`
	Entry   string    `json:"entry"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Events  []Event   `json:"events"`
	Dropped int       `json:"dropped,omitempty"` // events not kept once the path was full
}

// EventKind says what an Event records.
type EventKind string

const (
	EventNode    EventKind = "node"    // a node was entered
	EventPrompt  EventKind = "prompt"  // prompts were played (Cut: stopped by a digit or hang-up)
	EventDigit   EventKind = "digit"   // a key press and what it did (Result)
	EventTimeout EventKind = "timeout" // nobody pressed anything in time
	EventResult  EventKind = "result"  // what a node decided
	EventError   EventKind = "error"   // something failed; the flow carried on
	EventHangup  EventKind = "hangup"  // the caller hung up
)

// Digit results.
const (
	DigitOption   = "option"   // chose a menu option or barge-in target
	DigitInvalid  = "invalid"  // not an option here
	DigitIgnored  = "ignored"  // nothing was listening for it
	DigitEntered  = "entered"  // added to a collect
	DigitCleared  = "cleared"  // * in a collect: start again
	DigitFinished = "finished" // # ending a collect
	DigitScore    = "score"    // a survey rating
	DigitStopRec  = "stop"     // ended a recording
)

// Event is one step of a Path.
type Event struct {
	At       time.Time `json:"at"`
	Kind     EventKind `json:"kind"`
	Node     string    `json:"node"`
	NodeKind Kind      `json:"node_kind,omitempty"`
	Prompts  []string  `json:"prompts,omitempty"`
	Language string    `json:"language,omitempty"`
	Cut      bool      `json:"cut,omitempty"`
	PlayedMS int64     `json:"played_ms,omitempty"`
	Digit    string    `json:"digit,omitempty"`
	Result   string    `json:"result,omitempty"`
}
