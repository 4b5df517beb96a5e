// Package ivr owns the intake and IVR flows of hotline: a small YAML flow format, its
// loader and validator, the interpreter that runs a flow over a media.Leg, the built-in
// intake of the 12345 hotline with its post-call survey, a Registry that swaps flows on
// reload, and the helpers that speak digits and numbers from prompt fragments.
//
// The national standard for 12345 hotlines asks for as little menu as possible: route by
// the number dialled and by who calls. The built-in intake (flows/intake.yaml) therefore
// greets, offers English and the emergency transfer during its prompts, and queues. The
// format also has menus, digit collection, calendar branches, recorded messages and
// surveys for operators who need them, and every flow is checked at load so that a
// mistake is found by `hotline config check`, not by a citizen.
//
// # Flow format
//
// A flow file is a mapping: flow (name), language (default zh), start (first node; default
// the first one written), entries (other nodes the call layer may start, such as survey),
// and nodes. Each node has exactly one kind key:
//
//	play:     prompts; digits: {key: node} cut the prompt (barge-in); wait: keep listening
//	          after it; next
//	menu:     prompts; options: {key: node}; timeout (5s); tries (3); bargein (true);
//	          on_timeout: {prompt, next} (required); on_invalid: {prompt, next}
//	collect:  prompts; into: var; min (1), max (32, at most 64) digits; "#" ends, "*"
//	          starts again; timeout, inter_digit (3s), tries; on_timeout (required),
//	          on_invalid; next
//	branch:   a list of cases, each with conditions (all must hold) and next; default.
//	          Conditions: dialled, caller (regexp), time ("08:00-20:00", may span
//	          midnight), weekday ([mon, …]), calendar (working_day, rest_day, holiday —
//	          with China's adjusted working days 调休 from the Calendar), attribute
//	          (open_case), language, vars ({name: value})
//	set:      {language, skill, queue, priority, vars: {name: value}}; next
//	queue:    {skill, queue, priority} or empty: ends the flow, Outcome ActionQueue
//	transfer: destination name: ends the flow, Outcome ActionTransfer
//	record:   prompts before the beep; max (60s); beep (true); into: var; next.
//	          "#" ends the message
//	survey:   prompts; scale (3 or 5); into: var; timeout, tries, on_timeout, on_invalid;
//	          next (after a rating). The score is Outcome.Score
//	hangup:   prompts to play before the flow ends with ActionHangup
//
// Prompts are names from the prompt set (ivr/prompts/<lang>/<name>.wav), a list of them,
// or {digits: var} and {number: var} to speak a variable. Keys "*" and "#" must be quoted.
//
// Example: a flow that is closed outside working hours and lets a caller hear a case number.
//
//	flow: example
//	start: hours
//	nodes:
//	  hours:
//	    branch:
//	      - {calendar: working_day, time: "08:00-20:00", next: menu}
//	    default: closed
//	  closed:
//	    play: [after_hours]
//	    next: bye
//	  menu:
//	    menu: [menu_main]
//	    options: {"1": case, "0": agent}
//	    on_timeout: {prompt: no_input, next: agent}
//	    on_invalid: {prompt: invalid_input, next: agent}
//	  case:
//	    collect: [enter_case_number]
//	    into: case_number
//	    max: 12
//	    on_timeout: {next: agent}
//	    next: read_back
//	  read_back:
//	    play: [case_number_is, {digits: case_number}]
//	    next: agent
//	  agent:
//	    queue: {skill: general}
//	  bye:
//	    hangup: [goodbye]
//
// # Validation
//
// Load reports every error at once, each with file, line, column and node: an unknown
// node, prompt, skill, queue, destination or language; an unreachable node; a loop that a
// caller who presses nothing would go round forever (a cycle of edges taken without a key
// press, including a menu's timeout path back to itself); a menu or collect without a
// timeout path; unknown fields, bad durations, bad keys. A prompt missing in one language
// is a warning naming the language it falls back to (Flow.Warnings).
//
// # Running
//
// Flow.Run (or RunFrom for an entry such as "survey") runs one call in the caller's
// goroutine until the flow queues, transfers or hangs up, or the caller hangs up (ctx or
// the leg ends: ActionAbandoned, not an error). Digits are read from the leg as they come:
// a node listening for a key takes it (a key pressed before a prompt starts counts), a
// node that is not listening records it as ignored. The Outcome carries the Path: every
// node entered, prompt played (cut or not, and how much), key with its timestamp,
// timeout and result, as JSON-ready structs for /api/calls and the case record.
//
// Time, the holiday calendar, caller attributes and the message recorder are injected
// through RunOptions, so the interpreter is tested on a fake clock and a fake leg.
package ivr
