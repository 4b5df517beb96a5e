// Package cases owns the work orders (工单) of the 12345 hotline: the case
// model, the two-level category taxonomy, departments, the lifecycle
// (received → answered | dispatched → signed | returned → … → replied →
// closed → followed_up → evaluated, and reopened when a bad evaluation is
// upheld), deadlines on China's working-day calendar, reminders and
// escalation, repeat requests and merges, satisfaction scores, the call
// timeline, reports, and the Store that keeps all of it.
//
// Two stores implement Store over database/sql: OpenSQLite (embedded, the
// default: one file under the data dir) and OpenPostgres (pgx/v5 pool, shared
// by several nodes). Migrations are embedded, versioned with goose, one
// directory per SQL dialect, and run at open. cases/storetest is the one
// conformance suite both pass.
//
// # The call flow's API
//
// The call package opens a case at the first ring and feeds its timeline:
//
//	c, err := store.OpenForCall(ctx, cases.CallInfo{CallID: id, Caller: from, Dialled: to})
//	store.AppendEvents(ctx, c.ID, []cases.Event{{Type: cases.EventCallOffered, ...}})
//	store.FinishCall(ctx, c.ID, cases.CallEnd{CallID: id, Survey: score})
//
// These three never fail because the database is away: with Options.StateDir
// set, a write that cannot reach the database is appended to an fsynced spool
// and replayed, in order and idempotently, when it returns. A case still "in
// call" when its node starts again (the node crashed mid-call) is closed as
// interrupted (event case.interrupted) if nobody had acted on it yet.
//
// # Call events for the reports
//
// The answer-rate report reads these events; the call flow must append them:
//
//   - call.offered: the call reached the queue (once per call). Value 0.
//   - call.answered: an agent answered. Value = milliseconds since
//     call.offered. A callback of a missed call is appended with its real
//     delay, so that the 24-hour answer rate counts it.
//   - call.abandoned: the caller hung up before an answer. Value = the wait in ms.
//
// Rate15s = answered with Value ≤ 15,000 / offered; Rate24h = answered with
// Value ≤ 86,400,000 / offered. Other timeline types (ivr.path, queue.event,
// agent.event, call.transferred, recording.ref, note) are free-form: Payload
// is any JSON object of at most 16 KiB.
//
// # Reports on large stores
//
// Periods that start and end at China midnight (the API's YYYY-MM-DD form)
// are answered from daily rollup tables kept exact by triggers in the same
// transaction as the rows they count (cases by category and dialled number,
// call answer counts, department KPIs); other periods scan the rows. Top
// repeat callers and locations come from a partial index of cases whose
// previous case by the same caller (or at the same place) falls in the
// period, then are counted exactly. On PostgreSQL the rollup rows are spread
// over 8 slots so that concurrent writers do not queue on one row lock.
//
// # Case numbers
//
// See number.go: YYYYMMDD-NSSSSS with the node digit N, unique across up to
// ten nodes without a round trip to the database.
package cases
