package ivr

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed flows/*.yaml
var builtinFlows embed.FS

// BuiltinSkills maps each number of the hotline to the skill the built-in intake queues
// its calls for; the call layer's configuration must know these skills.
func BuiltinSkills() map[string]string {
	return map[string]string{
		"12345":  "general",
		"12369":  "environment",
		"12358":  "prices",
		"967111": "housing",
	}
}

const (
	// IntakeFlow is the name of the built-in intake flow.
	IntakeFlow = "intake"
	// SurveyEntry is the node the call layer runs after the agent hangs up.
	SurveyEntry = "survey"
	// EmergencyDestination is the transfer destination of "press 0".
	EmergencyDestination = "emergency"
)

// BuiltinFlowFS returns the embedded flow files (flows/*.yaml), for operators who want to
// start their own flows from a copy.
func BuiltinFlowFS() fs.FS {
	sub, err := fs.Sub(builtinFlows, "flows")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// LoadBuiltin loads and validates the embedded flows against opts.
func LoadBuiltin(opts LoadOptions) (map[string]*Flow, error) {
	return LoadFS(BuiltinFlowFS(), opts)
}

// LoadFS loads every *.yaml and *.yml file at the top of fsys. It reports the errors of
// all files together; a flow name used twice is an error too.
func LoadFS(fsys fs.FS, opts LoadOptions) (map[string]*Flow, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("ivr: read flows: %w", err)
	}
	flows := map[string]*Flow{}
	var diags []Diagnostic
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			diags = append(diags, Diagnostic{File: e.Name(), Msg: err.Error()})
			continue
		}
		f, err := Load(e.Name(), data, opts)
		if err != nil {
			var le *LoadError
			if errors.As(err, &le) {
				diags = append(diags, le.Diagnostics...)
				continue
			}
			diags = append(diags, Diagnostic{File: e.Name(), Msg: err.Error()})
			continue
		}
		if prev, dup := flows[f.name]; dup {
			diags = append(diags, Diagnostic{File: e.Name(), Msg: fmt.Sprintf("flow %q is already defined in %s", f.name, prev.file)})
			continue
		}
		flows[f.name] = f
	}
	if len(diags) > 0 {
		sortDiags(diags)
		return nil, &LoadError{Diagnostics: diags}
	}
	return flows, nil
}

// FlowNames lists the names of flows, sorted.
func FlowNames(flows map[string]*Flow) []string {
	out := make([]string, 0, len(flows))
	for n := range flows {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
