package ivr

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kind is what a node does.
type Kind uint8

const (
	KindPlay Kind = iota + 1
	KindMenu
	KindCollect
	KindBranch
	KindSet
	KindQueue
	KindTransfer
	KindRecord
	KindSurvey
	KindHangup
)

var kindNames = [...]string{
	KindPlay: "play", KindMenu: "menu", KindCollect: "collect", KindBranch: "branch",
	KindSet: "set", KindQueue: "queue", KindTransfer: "transfer", KindRecord: "record",
	KindSurvey: "survey", KindHangup: "hangup",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// MarshalText makes kinds readable in the JSON path record.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind back from a stored path record.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("ivr: unknown node kind %q", b)
}

// kindFields lists the keys each kind accepts besides its own, so that a typo such as
// "timout" is an error at load rather than a silently ignored setting.
var kindFields = map[Kind][]string{
	KindPlay:     {"digits", "wait", "next"},
	KindMenu:     {"options", "timeout", "tries", "bargein", "on_timeout", "on_invalid"},
	KindCollect:  {"into", "min", "max", "timeout", "inter_digit", "tries", "on_timeout", "on_invalid", "next"},
	KindBranch:   {"default"},
	KindSet:      {"next"},
	KindQueue:    {},
	KindTransfer: {},
	KindRecord:   {"max", "beep", "into", "next"},
	KindSurvey:   {"scale", "into", "timeout", "tries", "on_timeout", "on_invalid", "next"},
	KindHangup:   {},
}

// Limits that keep a flow file from turning into a denial of service on a live trunk.
const (
	maxFlowBytes      = 1 << 20
	maxNodes          = 1000
	maxPromptTimeout  = 60 * time.Second
	maxRecordLength   = 10 * time.Minute
	defaultRecordMax  = 60 * time.Second
	maxCollectDigits  = 64
	defaultCollectMax = 32
	defaultTimeout    = 5 * time.Second
	defaultInterDigit = 3 * time.Second
	defaultTries      = 3
	maxTries          = 10
)

// ref is a reference to a node, kept with its position for error messages.
type ref struct {
	name      string
	line, col int
}

// item is one thing to say: a prompt by name, or a variable spoken as digits or as a number.
type item struct {
	prompt string
	digits string // variable spoken digit by digit
	number string // variable spoken as a number
	line   int
	col    int
}

type handler struct {
	prompts []item
	next    ref
}

type branchCase struct {
	dialled   []string
	caller    *regexp.Regexp
	timeFrom  int // minutes after midnight; -1 when absent
	timeTo    int
	weekdays  []time.Weekday
	calendar  string
	attribute string
	language  string
	vars      map[string]string
	next      ref
	line      int
}

type setSpec struct {
	language string
	skill    string
	queue    string
	priority *int
	vars     map[string]string
	pos      map[string]pos // where language, skill and queue were written
}

type pos struct{ line, col int }

type node struct {
	name string
	kind Kind
	line int
	col  int

	prompts []item
	digits  map[byte]ref // play: barge-in digits; menu: options
	next    ref
	wait    time.Duration

	timeout    time.Duration
	interDigit time.Duration
	tries      int
	noBargein  bool
	onTimeout  handler
	onInvalid  handler

	into     string
	min, max int
	scale    int

	cases []branchCase
	def   ref

	set setSpec

	skill, queue string
	priority     *int
	queuePos     map[string]pos
	dest         string
	destLine     int
	destCol      int

	recordMax time.Duration
	beep      bool
}

// Flow is a loaded, validated flow. It is immutable and safe to Run from many calls at once;
// a reload builds a new Flow, so calls in progress keep the one they started with.
type Flow struct {
	name     string
	file     string
	language string
	start    string
	entries  []string
	nodes    map[string]*node
	order    []string // node names in file order
	audio    Audio
	langs    []string
	warnings []Diagnostic
}

// Name is the flow's name (the `flow:` key, else the file name without extension).
func (f *Flow) Name() string { return f.name }

// File is the file the flow was loaded from, as given to Load.
func (f *Flow) File() string { return f.file }

// Start is the node a call enters by Run.
func (f *Flow) Start() string { return f.start }

// Entries are the other nodes the call layer may start with RunFrom (e.g. "survey").
func (f *Flow) Entries() []string { return slices.Clone(f.entries) }

// Warnings are findings that do not stop the flow from loading, such as a prompt that
// exists in one language only and falls back to the other.
func (f *Flow) Warnings() []Diagnostic { return slices.Clone(f.warnings) }

// Prompts lists every prompt name the flow can play, sorted, including the fragments
// needed to speak variables; the prompt generator checks it covers them all.
func (f *Flow) Prompts() []string {
	seen := map[string]bool{}
	for _, n := range f.nodes {
		for _, it := range n.allItems() {
			for _, p := range itemPrompts(it, f.langs) {
				seen[p] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (n *node) allItems() []item {
	out := slices.Clone(n.prompts)
	out = append(out, n.onTimeout.prompts...)
	out = append(out, n.onInvalid.prompts...)
	if n.kind == KindRecord && n.beep {
		out = append(out, item{prompt: promptBeep})
	}
	return out
}

// parser collects diagnostics instead of stopping at the first, so an operator sees every
// mistake in one `config check`.
type parser struct {
	file  string
	diags []Diagnostic
	node  string // node being parsed, for messages
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) {
	d := Diagnostic{Severity: SeverityError, File: p.file, Node: p.node, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		d.Line, d.Column = n.Line, n.Column
	}
	p.diags = append(p.diags, d)
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)
	yamlLineRE = regexp.MustCompile(`^line (\d+): `)
)

// LoadOptions tells Load what the rest of the configuration knows, so that a flow naming
// a skill, queue or destination that does not exist fails at load, not on a live call.
type LoadOptions struct {
	// Audio resolves and plays prompts. Required.
	Audio Audio
	// Languages a flow may switch to; the first is the default. Default: zh, en.
	Languages []string
	// Known names; nil means "not checked" (for tools that load a flow on its own).
	Skills       []string
	Queues       []string
	Destinations []string
}

// Load parses and validates one flow file. name is the file name used in messages.
// On error it returns a *LoadError holding every error found; warnings are on the Flow.
func Load(name string, data []byte, opts LoadOptions) (*Flow, error) {
	p := &parser{file: name}
	if opts.Audio == nil {
		p.errf(nil, "no prompt set to check the flow against")
		return nil, &LoadError{Diagnostics: p.diags}
	}
	langs := opts.Languages
	if len(langs) == 0 {
		langs = []string{"zh", "en"}
	}
	f := &Flow{file: name, audio: opts.Audio, langs: langs, language: langs[0], nodes: map[string]*node{}}
	if len(data) > maxFlowBytes {
		p.errf(nil, "file is %d bytes, more than the %d allowed", len(data), maxFlowBytes)
		return nil, &LoadError{Diagnostics: p.diags}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 puts the line in the text ("yaml: line 3: …"); move it to its field.
		d := Diagnostic{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(d.Msg); m != nil {
			d.Line, _ = strconv.Atoi(m[1])
			d.Msg = d.Msg[len(m[0]):]
		}
		return nil, &LoadError{Diagnostics: []Diagnostic{d}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errf(nil, "empty flow file")
		return nil, &LoadError{Diagnostics: p.diags}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.errf(root, "a flow file is a mapping with flow, start and nodes")
		return nil, &LoadError{Diagnostics: p.diags}
	}
	var startNode, nodesNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "flow":
			f.name = p.str(v)
			if f.name != "" && !nameRE.MatchString(f.name) {
				p.errf(v, "flow name %q: use letters, digits, _ . -", f.name)
			}
		case "language":
			f.language = p.str(v)
			if !slices.Contains(langs, f.language) {
				p.errf(v, "unknown language %q (known: %s)", f.language, strings.Join(langs, ", "))
			}
		case "start":
			startNode = v
			f.start = p.str(v)
		case "entries":
			for _, e := range p.strList(v) {
				f.entries = append(f.entries, e)
			}
		case "nodes":
			nodesNode = v
		default:
			p.errf(k, "unknown field %q (expected flow, language, start, entries, nodes)", k.Value)
		}
	}
	if f.name == "" {
		base := path.Base(strings.ReplaceAll(name, "\\", "/"))
		f.name = strings.TrimSuffix(base, path.Ext(base))
	}
	if nodesNode == nil || nodesNode.Kind != yaml.MappingNode || len(nodesNode.Content) == 0 {
		p.errf(orNode(nodesNode, root), "no nodes: a flow needs a `nodes:` mapping")
		return nil, &LoadError{Diagnostics: p.diags}
	}
	if len(nodesNode.Content)/2 > maxNodes {
		p.errf(nodesNode, "%d nodes, more than the %d allowed", len(nodesNode.Content)/2, maxNodes)
		return nil, &LoadError{Diagnostics: p.diags}
	}
	for i := 0; i+1 < len(nodesNode.Content); i += 2 {
		k, v := nodesNode.Content[i], nodesNode.Content[i+1]
		p.node = k.Value
		if !nameRE.MatchString(k.Value) {
			p.errf(k, "bad node name %q: use letters, digits, _ . - and start with a letter", k.Value)
			continue
		}
		if prev, dup := f.nodes[k.Value]; dup {
			p.errf(k, "node defined twice (first at line %d)", prev.line)
			continue
		}
		n := p.parseNode(k, v)
		if n != nil {
			f.nodes[n.name] = n
			f.order = append(f.order, n.name)
		}
	}
	p.node = ""
	if f.start == "" {
		if len(f.order) > 0 {
			f.start = f.order[0] // the first node, as a reader of the file would expect
		}
	} else if _, ok := f.nodes[f.start]; !ok {
		p.errf(orNode(startNode, root), "start: unknown node %q", f.start)
	}
	validate(p, f, opts)
	var errs []Diagnostic
	for _, d := range p.diags {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		} else {
			f.warnings = append(f.warnings, d)
		}
	}
	if len(errs) > 0 {
		sortDiags(errs)
		return nil, &LoadError{Diagnostics: errs}
	}
	sortDiags(f.warnings)
	return f, nil
}

func sortDiags(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

func (p *parser) parseNode(k, v *yaml.Node) *node {
	n := &node{name: k.Value, line: k.Line, col: k.Column, tries: defaultTries, timeout: defaultTimeout,
		interDigit: defaultInterDigit, max: defaultCollectMax, min: 1, recordMax: defaultRecordMax, beep: true, scale: 3}
	if v.Kind != yaml.MappingNode {
		p.errf(v, "a node is a mapping with one of: play, menu, collect, branch, set, queue, transfer, record, survey, hangup")
		return nil
	}
	fields := map[string][2]*yaml.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk, fv := v.Content[i], v.Content[i+1]
		if _, dup := fields[fk.Value]; dup {
			p.errf(fk, "field %q given twice", fk.Value)
			continue
		}
		fields[fk.Value] = [2]*yaml.Node{fk, fv}
	}
	var kinds []Kind
	for k := KindPlay; k <= KindHangup; k++ {
		if _, ok := fields[k.String()]; ok {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		p.errf(k, "no kind: give one of play, menu, collect, branch, set, queue, transfer, record, survey, hangup")
		return nil
	case 1:
		n.kind = kinds[0]
	default:
		names := make([]string, len(kinds))
		for i, kk := range kinds {
			names[i] = kk.String()
		}
		p.errf(k, "more than one kind (%s): split it into several nodes", strings.Join(names, ", "))
		return nil
	}
	allowed := kindFields[n.kind]
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk := v.Content[i]
		if fk.Value != n.kind.String() && !slices.Contains(allowed, fk.Value) {
			p.errf(fk, "unknown field %q for a %s node (allowed: %s)", fk.Value, n.kind, strings.Join(allowed, ", "))
		}
	}
	get := func(name string) *yaml.Node {
		if f, ok := fields[name]; ok {
			return f[1]
		}
		return nil
	}
	main := get(n.kind.String())
	if x := get("next"); x != nil {
		n.next = p.ref(x)
	}
	if x := get("timeout"); x != nil {
		n.timeout = p.duration(x, maxPromptTimeout)
	}
	if x := get("tries"); x != nil {
		n.tries = p.intIn(x, 1, maxTries)
	}
	if x := get("on_timeout"); x != nil {
		n.onTimeout = p.handler(x)
	}
	if x := get("on_invalid"); x != nil {
		n.onInvalid = p.handler(x)
	}
	if x := get("into"); x != nil {
		n.into = p.varName(x)
	}
	switch n.kind {
	case KindPlay:
		n.prompts = p.items(main)
		if x := get("digits"); x != nil {
			n.digits = p.digitMap(x)
		}
		if x := get("wait"); x != nil {
			n.wait = p.duration(x, maxPromptTimeout)
		}
		if n.next.name == "" {
			p.errf(k, "play needs next")
		}
	case KindMenu:
		n.prompts = p.items(main)
		if x := get("options"); x != nil {
			n.digits = p.digitMap(x)
		}
		if len(n.digits) == 0 {
			p.errf(k, "menu needs options (digit: node)")
		}
		if x := get("bargein"); x != nil {
			n.noBargein = !p.boolean(x)
		}
	case KindCollect:
		n.prompts = p.items(main)
		if x := get("min"); x != nil {
			n.min = p.intIn(x, 0, maxCollectDigits)
		}
		if x := get("max"); x != nil {
			n.max = p.intIn(x, 1, maxCollectDigits)
		}
		if n.min > n.max {
			p.errf(k, "min %d is more than max %d", n.min, n.max)
		}
		if x := get("inter_digit"); x != nil {
			n.interDigit = p.duration(x, maxPromptTimeout)
		}
		if n.into == "" {
			p.errf(k, "collect needs into (the variable that receives the digits)")
		}
		if n.next.name == "" {
			p.errf(k, "collect needs next")
		}
	case KindBranch:
		n.cases = p.cases(main)
		if x := get("default"); x != nil {
			n.def = p.ref(x)
		} else {
			p.errf(k, "branch needs default (where calls go when no case matches)")
		}
	case KindSet:
		n.set = p.setSpec(main)
		if n.next.name == "" {
			p.errf(k, "set needs next")
		}
	case KindQueue:
		p.queueSpec(main, n)
	case KindTransfer:
		n.dest = p.str(main)
		n.destLine, n.destCol = main.Line, main.Column
		if n.dest == "" {
			p.errf(main, "transfer needs a destination name")
		}
	case KindRecord:
		n.prompts = p.items(main)
		if x := get("max"); x != nil {
			n.recordMax = p.duration(x, maxRecordLength)
		}
		if x := get("beep"); x != nil {
			n.beep = p.boolean(x)
		}
		if n.next.name == "" {
			p.errf(k, "record needs next")
		}
	case KindSurvey:
		n.prompts = p.items(main)
		if x := get("scale"); x != nil {
			n.scale = p.intIn(x, 3, 5)
			if n.scale == 4 {
				p.errf(x, "scale is 3 or 5")
			}
		}
		if n.next.name == "" {
			p.errf(k, "survey needs next")
		}
	case KindHangup:
		n.prompts = p.items(main)
	}
	return n
}

func (p *parser) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, "expected a single value")
		return ""
	}
	return n.Value
}

func (p *parser) strList(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if s := p.str(c); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	p.errf(n, "expected a value or a list")
	return nil
}

func (p *parser) ref(n *yaml.Node) ref {
	s := p.str(n)
	return ref{name: s, line: n.Line, col: n.Column}
}

func (p *parser) varName(n *yaml.Node) string {
	s := p.str(n)
	if s != "" && !nameRE.MatchString(s) {
		p.errf(n, "bad variable name %q", s)
		return ""
	}
	return s
}

func (p *parser) duration(n *yaml.Node, max time.Duration) time.Duration {
	s := p.str(n)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errf(n, "bad duration %q (write e.g. 5s or 1500ms)", s)
		return 0
	}
	if d <= 0 || d > max {
		p.errf(n, "duration %s out of range (0, %s]", d, max)
		return 0
	}
	return d
}

func (p *parser) intIn(n *yaml.Node, lo, hi int) int {
	s := p.str(n)
	v, err := strconv.Atoi(s)
	if err != nil {
		p.errf(n, "expected a whole number, got %q", s)
		return lo
	}
	if v < lo || v > hi {
		p.errf(n, "%d out of range [%d, %d]", v, lo, hi)
		return lo
	}
	return v
}

func (p *parser) boolean(n *yaml.Node) bool {
	s := p.str(n)
	switch s {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.errf(n, "expected true or false, got %q", s)
	return false
}

const dtmfKeys = "0123456789*#ABCD"

func (p *parser) digitMap(n *yaml.Node) map[byte]ref {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "expected a mapping of digit: node (quote \"*\" and \"#\")")
		return nil
	}
	m := map[byte]ref{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if len(k.Value) != 1 || !strings.Contains(dtmfKeys, k.Value) {
			p.errf(k, "%q is not a key on a phone (one of %s)", k.Value, dtmfKeys)
			continue
		}
		if _, dup := m[k.Value[0]]; dup {
			p.errf(k, "digit %s given twice", k.Value)
			continue
		}
		m[k.Value[0]] = p.ref(v)
	}
	return m
}

func (p *parser) handler(n *yaml.Node) handler {
	var h handler
	if n.Kind != yaml.MappingNode {
		p.errf(n, "expected a mapping with prompt and next")
		return h
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "prompt":
			h.prompts = p.items(v)
		case "next":
			h.next = p.ref(v)
		default:
			p.errf(k, "unknown field %q (expected prompt, next)", k.Value)
		}
	}
	return h
}

// items parses what to say: a prompt name, a list of them, and {digits: var} or
// {number: var} to speak a variable.
func (p *parser) items(n *yaml.Node) []item {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil
		}
		return []item{p.promptItem(n)}
	case yaml.SequenceNode:
		var out []item
		for _, c := range n.Content {
			switch c.Kind {
			case yaml.ScalarNode:
				out = append(out, p.promptItem(c))
			case yaml.MappingNode:
				if len(c.Content) != 2 {
					p.errf(c, "say one variable per item: {digits: name} or {number: name}")
					continue
				}
				k, v := c.Content[0], c.Content[1]
				name := p.varName(v)
				switch k.Value {
				case "digits":
					out = append(out, item{digits: name, line: c.Line, col: c.Column})
				case "number":
					out = append(out, item{number: name, line: c.Line, col: c.Column})
				default:
					p.errf(k, "unknown item %q (expected digits or number)", k.Value)
				}
			default:
				p.errf(c, "expected a prompt name or {digits: var}")
			}
		}
		return out
	}
	p.errf(n, "expected a prompt name or a list of prompts")
	return nil
}

func (p *parser) promptItem(n *yaml.Node) item {
	if !nameRE.MatchString(n.Value) {
		p.errf(n, "bad prompt name %q", n.Value)
	}
	return item{prompt: n.Value, line: n.Line, col: n.Column}
}

var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Calendar conditions a branch may test.
const (
	CalendarWorkingDay = "working_day" // a working day, including an adjusted (调休) weekend day
	CalendarRestDay    = "rest_day"    // not a working day: weekend or holiday
	CalendarHoliday    = "holiday"     // a public holiday
)

// AttributeOpenCase is the caller attribute "has an open case".
const AttributeOpenCase = "open_case"

func (p *parser) cases(n *yaml.Node) []branchCase {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "branch is a list of cases, each with conditions and next")
		return nil
	}
	var out []branchCase
	for _, c := range n.Content {
		if c.Kind != yaml.MappingNode {
			p.errf(c, "a case is a mapping of conditions and next")
			continue
		}
		bc := branchCase{timeFrom: -1, line: c.Line}
		conds := 0
		for i := 0; i+1 < len(c.Content); i += 2 {
			k, v := c.Content[i], c.Content[i+1]
			if k.Value != "next" {
				conds++
			}
			switch k.Value {
			case "next":
				bc.next = p.ref(v)
			case "dialled", "dialed":
				bc.dialled = p.strList(v)
			case "caller":
				s := p.str(v)
				re, err := regexp.Compile(s)
				if err != nil {
					p.errf(v, "bad caller pattern %q: %v", s, err)
				}
				bc.caller = re
			case "time":
				bc.timeFrom, bc.timeTo = p.timeRange(v)
			case "weekday":
				for _, w := range p.strList(v) {
					d, ok := weekdayNames[strings.ToLower(w)]
					if !ok {
						p.errf(v, "unknown weekday %q (mon … sun)", w)
						continue
					}
					bc.weekdays = append(bc.weekdays, d)
				}
			case "calendar":
				bc.calendar = p.str(v)
				switch bc.calendar {
				case CalendarWorkingDay, CalendarRestDay, CalendarHoliday:
				default:
					p.errf(v, "unknown calendar condition %q (working_day, rest_day, holiday)", bc.calendar)
				}
			case "attribute":
				bc.attribute = p.str(v)
				if bc.attribute != AttributeOpenCase {
					p.errf(v, "unknown caller attribute %q (known: %s)", bc.attribute, AttributeOpenCase)
				}
			case "language":
				bc.language = p.str(v)
			case "vars":
				bc.vars = p.strMap(v)
			default:
				p.errf(k, "unknown condition %q (dialled, caller, time, weekday, calendar, attribute, language, vars)", k.Value)
			}
		}
		if bc.next.name == "" {
			p.errf(c, "case needs next")
		}
		if conds == 0 {
			p.errf(c, "case has no condition: use default instead")
		}
		out = append(out, bc)
	}
	return out
}

func (p *parser) timeRange(n *yaml.Node) (int, int) {
	s := p.str(n)
	from, to, ok := strings.Cut(s, "-")
	a, okA := hhmm(strings.TrimSpace(from))
	b, okB := hhmm(strings.TrimSpace(to))
	if !ok || !okA || !okB || a == b {
		p.errf(n, "bad time range %q (write 08:30-17:30; 20:00-08:00 spans midnight)", s)
		return -1, -1
	}
	return a, b
}

func hhmm(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hv, err1 := strconv.Atoi(h)
	mv, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hv < 0 || mv < 0 || mv > 59 || hv > 24 || (hv == 24 && mv != 0) {
		return 0, false
	}
	return hv*60 + mv, true
}

func (p *parser) strMap(n *yaml.Node) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "expected a mapping of name: value")
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !nameRE.MatchString(k.Value) {
			p.errf(k, "bad variable name %q", k.Value)
			continue
		}
		m[k.Value] = p.str(v)
	}
	return m
}

func (p *parser) setSpec(n *yaml.Node) setSpec {
	s := setSpec{pos: map[string]pos{}}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "set is a mapping of language, skill, queue, priority, vars")
		return s
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s.pos[k.Value] = pos{v.Line, v.Column}
		switch k.Value {
		case "language":
			s.language = p.str(v)
		case "skill":
			s.skill = p.str(v)
		case "queue":
			s.queue = p.str(v)
		case "priority":
			pr := p.intIn(v, 0, 100)
			s.priority = &pr
		case "vars":
			s.vars = p.strMap(v)
		default:
			p.errf(k, "unknown field %q (expected language, skill, queue, priority, vars)", k.Value)
		}
	}
	return s
}

func (p *parser) queueSpec(n *yaml.Node, nd *node) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "") {
		return // queue with what earlier set nodes chose
	}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "queue is a mapping of skill, queue, priority (or empty)")
		return
	}
	nd.queuePos = map[string]pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		nd.queuePos[k.Value] = pos{v.Line, v.Column}
		switch k.Value {
		case "skill":
			nd.skill = p.str(v)
		case "queue":
			nd.queue = p.str(v)
		case "priority":
			pr := p.intIn(v, 0, 100)
			nd.priority = &pr
		default:
			p.errf(k, "unknown field %q (expected skill, queue, priority)", k.Value)
		}
	}
}
