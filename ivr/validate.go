package ivr

import (
	"fmt"
	"slices"
	"strings"
)

// edge is a way out of a node. input says whether taking it needs a key press: a cycle made
// only of edges without input would spin forever for a caller who never presses anything.
type edge struct {
	to    ref
	input bool
	what  string
}

func (n *node) edges() []edge {
	var out []edge
	add := func(r ref, input bool, what string) {
		if r.name != "" {
			out = append(out, edge{to: r, input: input, what: what})
		}
	}
	for _, k := range sortedKeys(n.digits) {
		add(n.digits[k], true, "digit "+string(k))
	}
	switch n.kind {
	case KindPlay, KindSet, KindRecord:
		add(n.next, false, "next")
	case KindMenu:
		add(n.onTimeout.next, false, "on_timeout")
		add(n.onInvalid.next, true, "on_invalid")
	case KindCollect:
		add(n.next, n.min > 0, "next")
		add(n.onTimeout.next, false, "on_timeout")
		add(n.onInvalid.next, true, "on_invalid")
	case KindSurvey:
		add(n.next, n.onTimeout.next.name != "", "next")
		add(n.onTimeout.next, false, "on_timeout")
		add(n.onInvalid.next, true, "on_invalid")
	case KindBranch:
		for i, c := range n.cases {
			add(c.next, false, fmt.Sprintf("case %d", i+1))
		}
		add(n.def, false, "default")
	}
	return out
}

func sortedKeys[V any](m map[byte]V) []byte {
	ks := make([]byte, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func validate(p *parser, f *Flow, opts LoadOptions) {
	at := func(n *node, line, col int, sev Severity, format string, args ...any) {
		if line == 0 {
			line, col = n.line, n.col
		}
		p.diags = append(p.diags, Diagnostic{Severity: sev, File: f.file, Line: line, Column: col,
			Node: n.name, Msg: fmt.Sprintf(format, args...)})
	}
	// Unknown nodes.
	for _, name := range f.order {
		n := f.nodes[name]
		for _, e := range n.edges() {
			if _, ok := f.nodes[e.to.name]; !ok {
				at(n, e.to.line, e.to.col, SeverityError, "%s: unknown node %q", e.what, e.to.name)
			}
		}
		if n.kind == KindMenu && n.onTimeout.next.name == "" {
			at(n, 0, 0, SeverityError, "menu has no timeout path: add on_timeout: {next: …} for callers who press nothing")
		}
		if n.kind == KindCollect && n.onTimeout.next.name == "" {
			at(n, 0, 0, SeverityError, "collect has no timeout path: add on_timeout: {next: …} for callers who press nothing")
		}
	}
	for _, e := range f.entries {
		if _, ok := f.nodes[e]; !ok {
			p.diags = append(p.diags, Diagnostic{Severity: SeverityError, File: f.file, Msg: fmt.Sprintf("entries: unknown node %q", e)})
		}
	}
	// Names the rest of the configuration must know.
	check := func(n *node, known []string, what, v string, p pos) {
		line, col := p.line, p.col
		if v != "" && known != nil && !slices.Contains(known, v) {
			at(n, line, col, SeverityError, "unknown %s %q (known: %s)", what, v, strings.Join(known, ", "))
		}
	}
	for _, name := range f.order {
		n := f.nodes[name]
		check(n, opts.Skills, "skill", n.set.skill, n.set.pos["skill"])
		check(n, opts.Skills, "skill", n.skill, n.queuePos["skill"])
		check(n, opts.Queues, "queue", n.set.queue, n.set.pos["queue"])
		check(n, opts.Queues, "queue", n.queue, n.queuePos["queue"])
		if n.kind == KindTransfer {
			check(n, opts.Destinations, "destination", n.dest, pos{n.destLine, n.destCol})
		}
		check(n, f.langs, "language", n.set.language, n.set.pos["language"])
		for _, c := range n.cases {
			check(n, f.langs, "language", c.language, pos{c.line, 0})
		}
	}
	// Prompts: unknown everywhere is an error; missing in one language falls back, and says so.
	type key struct{ prompt, lang string }
	warned := map[key]bool{}
	for _, name := range f.order {
		n := f.nodes[name]
		for _, it := range n.allItems() {
			for _, pr := range itemPrompts(it, f.langs) {
				found := false
				var missing []string
				fallback := ""
				for _, lang := range f.langs {
					used, ok := f.audio.Has(lang, pr)
					if !ok {
						continue
					}
					if used == lang {
						found = true
					} else {
						missing = append(missing, lang)
						fallback = used
					}
				}
				if !found && fallback == "" {
					if !warned[key{pr, ""}] {
						at(n, it.line, it.col, SeverityError, "unknown prompt %q (in none of %s)", pr, strings.Join(f.langs, ", "))
						warned[key{pr, ""}] = true
					}
					continue
				}
				for _, lang := range missing {
					if !warned[key{pr, lang}] {
						warned[key{pr, lang}] = true
						at(n, it.line, it.col, SeverityWarning, "prompt %q has no %s recording; %s callers hear the %s one", pr, lang, lang, fallback)
					}
				}
			}
		}
	}
	// Unreachable nodes.
	seen := map[string]bool{}
	var stack []string
	for _, s := range append([]string{f.start}, f.entries...) {
		if _, ok := f.nodes[s]; ok && !seen[s] {
			seen[s] = true
			stack = append(stack, s)
		}
	}
	for len(stack) > 0 {
		n := f.nodes[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		for _, e := range n.edges() {
			if _, ok := f.nodes[e.to.name]; ok && !seen[e.to.name] {
				seen[e.to.name] = true
				stack = append(stack, e.to.name)
			}
		}
	}
	for _, name := range f.order {
		if !seen[name] {
			at(f.nodes[name], 0, 0, SeverityError, "unreachable node: nothing leads here from start %q or entries", f.start)
		}
	}
	// Loops a silent caller would go round forever.
	for _, cyc := range inputlessCycles(f) {
		n := f.nodes[cyc[0]]
		at(n, 0, 0, SeverityError, "loop without input: %s → %s; a caller who presses nothing would never leave it",
			strings.Join(cyc, " → "), cyc[0])
	}
}

// inputlessCycles finds the strongly connected components of the graph of edges taken
// without a key press (Tarjan), reporting each cycle once, by its first node in file order.
func inputlessCycles(f *Flow) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	pos := map[string]int{}
	for i, name := range f.order {
		pos[name] = i
	}
	var strong func(v string)
	strong = func(v string) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		self := false
		for _, e := range f.nodes[v].edges() {
			w := e.to.name
			if e.input {
				continue
			}
			if _, ok := f.nodes[w]; !ok {
				continue
			}
			if w == v {
				self = true
			}
			if _, seen := index[w]; !seen {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 || self {
				slices.SortFunc(comp, func(a, b string) int { return pos[a] - pos[b] })
				out = append(out, comp)
			}
		}
	}
	for _, name := range f.order {
		if _, seen := index[name]; !seen {
			strong(name)
		}
	}
	slices.SortFunc(out, func(a, b []string) int { return pos[a[0]] - pos[b[0]] })
	return out
}
