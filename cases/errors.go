package cases

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotFound    = errors.New("cases: not found")
	ErrConflict    = errors.New("cases: the case was changed by someone else (version conflict); reload and retry")
	ErrInvalid     = errors.New("cases: invalid input")
	ErrTransition  = errors.New("cases: transition not allowed")
	ErrForbidden   = errors.New("cases: not allowed for this role")
	ErrUnavailable = errors.New("cases: database unavailable")
)

// ValidationError says which field is wrong and why.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Field + " " + e.Msg }
func (e *ValidationError) Is(target error) bool {
	return target == ErrInvalid
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// TransitionError is returned when the case's state does not allow the action.
type TransitionError struct {
	CaseNumber string
	From       State
	Action     Action
	Allowed    []Action
	Why        string // a precondition that failed, when the state itself allows the action
}

func (e *TransitionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "case %s: cannot %s a case that is %s", e.CaseNumber, e.Action, e.From)
	if e.Why != "" {
		b.WriteString(": " + e.Why)
	} else if len(e.Allowed) > 0 {
		as := make([]string, len(e.Allowed))
		for i, a := range e.Allowed {
			as[i] = string(a)
		}
		b.WriteString(" (allowed: " + strings.Join(as, ", ") + ")")
	} else {
		b.WriteString(" (no action is allowed in this state)")
	}
	return b.String()
}

func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// ForbiddenError says which role may not do what.
type ForbiddenError struct {
	Role   Role
	Action string
}

func (e *ForbiddenError) Error() string {
	r := string(e.Role)
	if r == "" {
		r = "anonymous"
	}
	return fmt.Sprintf("role %s may not %s", r, e.Action)
}
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }
