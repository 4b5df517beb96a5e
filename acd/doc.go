// Package acd owns the contact centre's routing: queues (one per skill),
// agents with skills and proficiency 1-5 and their states, the routing policy,
// wait estimates, queued and missed-call callbacks, queue events and metrics.
//
// It is pure logic on an injected Clock: it imports no other project package
// and never sees a socket, a SIP message or a sample. The call layer drives it:
//
//	t, err := d.Join(callCtx, acd.Request{CallID: id, Queue: "general", Number: ani})
//	// announcements: t.Status() → position and estimated wait
//	a, err := t.Wait()           // an agent is reserved (or *ExitError: go to Target)
//	// ring a.AgentID; stop if <-a.Withdrawn() (caller hung up, ring timeout)
//	a.Answered() / a.NoAnswer() / a.Rejected() / a.AgentGone()
//	// after a miss the caller is back at the head: a, err = t.Wait()
//	a.Complete()                 // the agent goes to wrap-up, then Ready
//
// Agents (SIP phones and browsers alike) change state with Login, Ready,
// Break, Logout and EndWrapUp. Options.OnCallback receives callback
// assignments ("dial this number now, this agent is held for it").
//
// # Configuration
//
// Config and QueueConfig carry yaml tags; durations are Go durations:
//
//	max_no_answer: 2            # missed offers in a row before break "no-answer"
//	queues:
//	  - name: "12345"
//	    skill: general
//	    wrap_up: 15s
//	    max_wait: 5m
//	    on_max_wait: {target: voicemail}   # or {queue: other}
//	    max_length: 200
//	    on_full: {target: busy-message}
//	    join_empty: none-logged-in         # never | none-logged-in | none-serving
//	    leave_empty: none-serving
//	    on_empty: {target: closed-message}
//	    missed_callback: true              # 漏接回拨
//	    relax:
//	      - {after: 15s, min_proficiency: 2}
//	      - {after: 30s, fallback_skill: housing}
//	      - {after: 60s, overflow: english}
//
// # Routing
//
// A request waits in the heaps of the skills it accepts, ordered by priority
// then original arrival; ready agents wait in lists per skill and proficiency,
// longest idle first. A new request takes the best-proficiency, longest-idle
// ready agent of its skill (then of its fallback skills); a newly ready agent
// takes the highest-priority, longest-waiting request among all its skills,
// which is what keeps an agent in several queues fair to each. Both are
// O(skills × 5) heap tops and list fronts, whatever the number of agents.
// Relaxation steps lower the proficiency required, add fallback skills and
// overflow to other queues as a request waits. An offer the agent misses
// returns the request to its own place, which is the head.
//
// # State and replication
//
// All state lives behind one mutex; routing and reservation happen under it,
// so an agent is never reserved twice. Every transition of a request or an
// agent is an explicit Event with a sequence number, delivered in order to
// Options.Sink and subscribers. Queue state is kept on one node today; a
// shared store for several nodes (PRODUCT.md) is meant to replicate these
// events, which is why no transition happens without one.
package acd
