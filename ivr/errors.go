package ivr

import (
	"fmt"
	"strings"
)

// Severity tells whether a Diagnostic stops a flow from loading.
type Severity uint8

const (
	SeverityError Severity = iota
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one finding about a flow file, placed so that an operator can go
// straight to the line: "intake.yaml:12:5: node greet: unknown prompt "greting"".
type Diagnostic struct {
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Node     string   `json:"node,omitempty"`
	Msg      string   `json:"msg"`
}

func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d", d.Line)
		if d.Column > 0 {
			fmt.Fprintf(&b, ":%d", d.Column)
		}
	}
	b.WriteString(": ")
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if d.Node != "" {
		fmt.Fprintf(&b, "node %s: ", d.Node)
	}
	b.WriteString(d.Msg)
	return b.String()
}

// LoadError carries every error found in one or more flow files, so that
// `hotline config check` can report them all in one run instead of one per edit.
type LoadError struct {
	Diagnostics []Diagnostic // errors first, in file and line order; warnings are on the Flow
}

func (e *LoadError) Error() string {
	if len(e.Diagnostics) == 1 {
		return e.Diagnostics[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors in flow files:", len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		b.WriteString("\n\t")
		b.WriteString(d.String())
	}
	return b.String()
}
