package cases

import (
	"encoding/json"
	"slices"
	"time"
)

// State is where a case is in its lifecycle.
type State string

const (
	StateReceived   State = "received"    // intake done, nobody acted yet
	StateAnswered   State = "answered"    // answered directly by the centre (直接答复)
	StateDispatched State = "dispatched"  // sent to a lead department (派单)
	StateReturned   State = "returned"    // the department sent it back with a reason (退单)
	StateSigned     State = "signed"      // the department accepted it (签收)
	StateReplied    State = "replied"     // the department replied (回复)
	StateClosed     State = "closed"      // the centre closed it (办结)
	StateFollowedUp State = "followed_up" // the follow-up call was made (回访)
	StateEvaluated  State = "evaluated"   // the citizen scored the outcome (一事一评)
	StateReopened   State = "reopened"    // a bad score was upheld; to be handled again (重办)
	StateMerged     State = "merged"      // merged into another case (并单)
)

// AllStates lists the states in lifecycle order.
var AllStates = []State{StateReceived, StateAnswered, StateDispatched, StateReturned, StateSigned,
	StateReplied, StateClosed, StateFollowedUp, StateEvaluated, StateReopened, StateMerged}

// Open reports whether a case in this state still needs work.
func (s State) Open() bool {
	switch s {
	case StateClosed, StateFollowedUp, StateEvaluated, StateMerged:
		return false
	}
	return true
}

func (s State) valid() bool { return slices.Contains(AllStates, s) }

// openStatesSQL must match State.Open; the partial index and the open-case
// queries use it.
const openStatesSQL = `('received','answered','dispatched','returned','signed','replied','reopened')`

// Action is what a user does to move a case.
type Action string

const (
	ActAnswer   Action = "answer"
	ActDispatch Action = "dispatch"
	ActSign     Action = "sign"
	ActReturn   Action = "return"
	ActReply    Action = "reply"
	ActClose    Action = "close"
	ActFollowUp Action = "follow_up"
	ActEvaluate Action = "evaluate"
	ActReopen   Action = "reopen" // uphold an unsatisfied evaluation (重办)
	ActExtend   Action = "extend"
)

// transitions is the lifecycle: from a state, which action leads where.
// Extension keeps the state.
var transitions = map[State]map[Action]State{
	StateReceived:   {ActAnswer: StateAnswered, ActDispatch: StateDispatched, ActClose: StateClosed},
	StateAnswered:   {ActClose: StateClosed},
	StateDispatched: {ActSign: StateSigned, ActReturn: StateReturned, ActDispatch: StateDispatched, ActExtend: StateDispatched},
	StateReturned:   {ActDispatch: StateDispatched, ActAnswer: StateAnswered, ActClose: StateClosed},
	StateSigned:     {ActReply: StateReplied, ActExtend: StateSigned},
	StateReplied:    {ActClose: StateClosed, ActDispatch: StateDispatched},
	StateClosed:     {ActFollowUp: StateFollowedUp},
	StateFollowedUp: {ActEvaluate: StateEvaluated},
	StateEvaluated:  {ActReopen: StateReopened},
	StateReopened:   {ActDispatch: StateDispatched, ActAnswer: StateAnswered},
	StateMerged:     {},
}

// AllowedActions lists the actions a state allows, in a stable order.
func AllowedActions(s State) []Action {
	var out []Action
	for _, a := range []Action{ActAnswer, ActDispatch, ActSign, ActReturn, ActReply, ActClose, ActFollowUp, ActEvaluate, ActReopen, ActExtend} {
		if _, ok := transitions[s][a]; ok {
			out = append(out, a)
		}
	}
	return out
}

// Command asks for one transition. Version is the version the user saw; a
// case changed since is refused with ErrConflict (zero skips the check, for
// the server's own writes which retry on conflict).
type Command struct {
	Action    Action       `json:"action"`
	Version   int64        `json:"version"`
	Actor     Actor        `json:"-"`
	Reason    string       `json:"reason,omitempty"`
	Dept      string       `json:"dept,omitempty"`      // dispatch: the lead department
	Assisting []string     `json:"assisting,omitempty"` // dispatch: assisting departments
	Deadline  time.Time    `json:"deadline,omitzero"`   // dispatch: an explicit deadline instead of the policy's
	Urgency   Urgency      `json:"urgency,omitempty"`   // dispatch: changes the urgency
	Days      int          `json:"days,omitempty"`      // extend: working days added
	Resolved  bool         `json:"resolved,omitempty"`  // reply: the request was resolved
	Score     Satisfaction `json:"score,omitempty"`     // evaluate
}

// rules is what Decide needs besides the case.
type rules struct {
	policy *Policy
	depts  *Directory
	now    time.Time
}

// mayAct is role separation: outsourced agents take calls and may answer
// directly, but handling belongs to government staff and departments.
func mayAct(a Actor, act Action, c *Case) bool {
	switch a.Role {
	case RoleSystem, RoleAdmin, RoleSupervisor, RoleReviewer:
		return true
	case RoleAgent:
		return act == ActAnswer
	case RoleHandler:
		switch act {
		case ActSign, ActReturn, ActReply, ActExtend:
			return a.Dept != "" && a.Dept == c.LeadDept
		}
	}
	return false
}

// decide applies cmd to a copy of c and returns it with the event that records
// it. It is pure: the store persists the result under a version check.
func decide(c Case, cmd Command, r rules) (Case, Event, error) {
	to, ok := transitions[c.State][cmd.Action]
	if !ok {
		return c, Event{}, &TransitionError{CaseNumber: c.Number, From: c.State, Action: cmd.Action, Allowed: AllowedActions(c.State)}
	}
	if !mayAct(cmd.Actor, cmd.Action, &c) {
		return c, Event{}, &ForbiddenError{Role: cmd.Actor.Role, Action: string(cmd.Action) + " case " + c.Number}
	}
	if err := checkText("reason", cmd.Reason, MaxReasonLen); err != nil {
		return c, Event{}, err
	}
	refuse := func(why string) (Case, Event, error) {
		return c, Event{}, &TransitionError{CaseNumber: c.Number, From: c.State, Action: cmd.Action, Why: why}
	}
	needReason := func() error {
		if cmd.Reason == "" {
			return invalid("reason", "is required to %s a case", cmd.Action)
		}
		return nil
	}
	payload := map[string]any{"action": cmd.Action, "from": c.State, "to": to}
	switch cmd.Action {
	case ActDispatch:
		if c.Category == "" {
			return refuse("it has no category yet")
		}
		if _, ok := r.depts.Lookup(cmd.Dept); !ok {
			return c, Event{}, invalid("dept", "%q is not a known department", cmd.Dept)
		}
		seen := map[string]bool{cmd.Dept: true}
		for _, d := range cmd.Assisting {
			if _, ok := r.depts.Lookup(d); !ok {
				return c, Event{}, invalid("assisting", "%q is not a known department", d)
			}
			if seen[d] {
				return c, Event{}, invalid("assisting", "%q is given twice or is the lead department", d)
			}
			seen[d] = true
		}
		if cmd.Urgency != "" {
			if !cmd.Urgency.valid() {
				return c, Event{}, invalid("urgency", "must be normal, urgent or emergency")
			}
			c.Urgency = cmd.Urgency
		}
		if !cmd.Deadline.IsZero() {
			if !cmd.Deadline.After(r.now) {
				return c, Event{}, invalid("deadline", "is in the past")
			}
			c.Deadline = cmd.Deadline.UTC()
		} else {
			c.Deadline = r.policy.Deadline(r.now, c.Category, c.Urgency)
		}
		c.LeadDept, c.AssistDepts = cmd.Dept, slices.Clone(cmd.Assisting)
		c.DispatchedAt = r.now
		c.Extensions, c.Escalation, c.Reminded = 0, 0, false
		c.RepliedAt, c.Resolved = time.Time{}, false
		payload["dept"], payload["assisting"], payload["deadline"] = c.LeadDept, c.AssistDepts, c.Deadline
	case ActReturn:
		if err := needReason(); err != nil {
			return c, Event{}, err
		}
		payload["dept"] = c.LeadDept
	case ActReply:
		if err := needReason(); err != nil {
			return c, Event{}, err
		}
		c.RepliedAt, c.Resolved = r.now, cmd.Resolved
		payload["resolved"] = cmd.Resolved
		payload["on_time"] = !r.now.After(c.Deadline)
	case ActAnswer:
		if err := needReason(); err != nil {
			return c, Event{}, err
		}
		c.Resolved = true
	case ActClose:
		if c.State != StateReplied && c.State != StateAnswered {
			if err := needReason(); err != nil { // closing without handling must say why
				return c, Event{}, err
			}
		}
		c.ClosedAt = r.now
		if c.Resolution == "" || c.State != StateClosed {
			c.Resolution = cmd.Reason
		}
	case ActEvaluate:
		if !cmd.Score.valid() {
			return c, Event{}, invalid("score", "must be 1 (unsatisfied), 2 (basically satisfied) or 3 (satisfied)")
		}
		c.Evaluation = cmd.Score
		payload["score"] = cmd.Score
	case ActReopen:
		if c.Evaluation != Unsatisfied {
			return refuse("only an unsatisfied evaluation can be upheld")
		}
		if err := needReason(); err != nil {
			return c, Event{}, err
		}
		c.Reopened++
		c.ClosedAt = time.Time{}
	case ActExtend:
		if err := needReason(); err != nil {
			return c, Event{}, err
		}
		if cmd.Days < 1 || cmd.Days > 15 {
			return c, Event{}, invalid("days", "must be 1 to 15 working days")
		}
		max := r.policy.MaxExtensions
		if max == 0 {
			max = 2
		}
		if c.Extensions >= max {
			return refuse("it was already extended the maximum number of times")
		}
		c.Extensions++
		c.Deadline = r.policy.Calendar.AddWorkingDays(c.Deadline, cmd.Days)
		c.Escalation, c.Reminded = 0, false
		payload["deadline"], payload["days"] = c.Deadline, cmd.Days
	}
	c.State = to
	c.UpdatedAt = r.now
	p, _ := json.Marshal(payload)
	ev := Event{Type: EventCaseTransition, At: r.now, Actor: cmd.Actor.ID, Reason: cmd.Reason, Payload: p}
	if cmd.Action == ActEvaluate {
		ev.Value = int64(cmd.Score)
	}
	return c, ev, nil
}
