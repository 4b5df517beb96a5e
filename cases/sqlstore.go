package cases

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
)

// SQLStore is the Store over database/sql; a dialect covers what differs
// between SQLite and PostgreSQL (driver, migrations, error classes, bulk load).
type SQLStore struct {
	db      *sql.DB
	d       dialect
	opts    Options
	log     *slog.Logger
	policy  *Policy
	numbers *numberer
	spool   *spool
	m       *metrics

	replayMu sync.Mutex
	// wmu serialises write transactions when the database has one writer
	// (SQLite): waiting on a mutex is first come, first served, where
	// SQLite's busy handler polls and can starve a writer past its timeout.
	wmu *sync.Mutex
	// stmts holds the write path's prepared statements by their text.
	stmts sync.Map
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

var _ Store = (*SQLStore)(nil)

type dialect interface {
	name() string
	migrations() (fs.FS, goose.Dialect)
	// unavailable reports whether err means the database cannot be reached
	// (retry later) rather than that the write is wrong.
	unavailable(err error) bool
	// singleWriter reports whether the database takes one writer at a time.
	singleWriter() bool
	bulkLoad(ctx context.Context, db *sql.DB, cs []Case, evs []Event) error
	close()
}

func openSQL(ctx context.Context, db *sql.DB, d dialect, o Options) (*SQLStore, error) {
	o.defaults()
	s := &SQLStore{db: db, d: d, opts: o, log: o.Logger.With("store", d.name(), "node", o.Node),
		policy: &Policy{Calendar: o.Calendar, Taxonomy: o.Taxonomy}}
	if d.singleWriter() {
		s.wmu = &sync.Mutex{}
	}
	fail := func(err error) (*SQLStore, error) {
		db.Close()
		d.close()
		return nil, err
	}
	mfs, gd := d.migrations()
	prov, err := goose.NewProvider(gd, db, mfs)
	if err != nil {
		return fail(fmt.Errorf("cases: migrations: %w", err))
	}
	if _, err := prov.Up(ctx); err != nil {
		return fail(fmt.Errorf("cases: migrations: %w", err))
	}
	statePath := ""
	if o.StateDir != "" {
		statePath = filepath.Join(o.StateDir, fmt.Sprintf("case-numbers-node%d", o.Node))
	}
	if s.numbers, err = newNumberer(o.Node, statePath); err != nil {
		return fail(err)
	}
	s.m = newMetrics(o.Registerer)
	if o.StateDir != "" {
		if s.spool, err = openSpool(filepath.Join(o.StateDir, "cases-spool.log"), s.log); err != nil {
			return fail(err)
		}
		s.m.spoolDepth.Set(float64(s.spool.depth()))
	}
	// Replay before recovering interrupted calls: a spooled FinishCall is
	// what tells a finished call from an interrupted one.
	if s.spool != nil && s.spool.pending() {
		if err := s.replay(ctx); err != nil {
			s.log.Warn("spool not replayed at open; will retry", "err", err)
		}
	}
	if err := s.floorNumbers(ctx); err != nil {
		return fail(err)
	}
	if s.spool == nil || !s.spool.pending() {
		if err := s.recoverInterrupted(ctx); err != nil {
			return fail(err)
		}
	}
	if s.spool != nil {
		rctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		s.wg.Add(1)
		go s.replayLoop(rctx)
	}
	return s, nil
}

// Close stops the replay loop and closes the database. A spool that could
// not be replayed stays on disk for the next start.
func (s *SQLStore) Close() error {
	if s.stop != nil {
		s.stop()
		s.wg.Wait()
	}
	var err error
	if s.spool != nil {
		err = s.spool.close()
	}
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	if e := s.db.Close(); err == nil {
		err = e
	}
	s.d.close()
	return err
}

// DB exposes the database for benchmarks and tools.
func (s *SQLStore) DB() *sql.DB { return s.db }

func (s *SQLStore) Taxonomy() *Taxonomy     { return s.opts.Taxonomy }
func (s *SQLStore) Departments() *Directory { return s.opts.Depts }
func (s *SQLStore) Policy() *Policy         { return s.policy }

func (s *SQLStore) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

func (s *SQLStore) floorNumbers(ctx context.Context) error {
	now := s.now()
	prefix := s.numbers.prefix(now)
	var max sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT MAX(number) FROM cases WHERE number >= $1 AND number < $2`,
		prefix, prefix+"~").Scan(&max)
	if err != nil {
		return fmt.Errorf("cases: numbering: %w", err)
	}
	if max.Valid {
		if seq, ok := seqOf(max.String); ok {
			s.numbers.floor(now.In(ChinaTime).Format("20060102"), seq%100000)
		}
	}
	return nil
}

// recoverInterrupted ends the calls this node left open when it crashed. Only
// this node's: other nodes sharing the database still carry their calls.
func (s *SQLStore) recoverInterrupted(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM cases WHERE in_call AND node = $1`, s.opts.Node)
	if err != nil {
		return fmt.Errorf("cases: recovery: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		_, err := s.mutate(ctx, id, 0, func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error) {
			if !c.InCall {
				return nil, nil
			}
			c.InCall = false
			if c.State == StateReceived {
				c.State, c.ClosedAt, c.Resolution = StateClosed, now, "interrupted"
			}
			return []Event{{Type: EventCaseInterrupted, At: now, Actor: SystemActor.ID,
				Reason: "the server stopped during the call"}}, nil
		})
		if err != nil {
			return fmt.Errorf("cases: recovery of %s: %w", id, err)
		}
		s.log.Warn("case closed as interrupted by a crash", "case_id", id)
	}
	return nil
}

// ---- the call flow ----

func (s *SQLStore) OpenForCall(ctx context.Context, ci CallInfo) (Case, error) {
	if err := checkPhone("caller", ci.Caller); err != nil {
		return Case{}, err
	}
	if err := checkPhone("dialled", ci.Dialled); err != nil {
		return Case{}, err
	}
	if ci.CallID == "" || len(ci.CallID) > 128 {
		return Case{}, invalid("call_id", "must be 1 to 128 bytes")
	}
	if err := checkText("caller_name", ci.CallerName, MaxNameLen); err != nil {
		return Case{}, err
	}
	now := s.now()
	at := ci.At.UTC().Truncate(time.Microsecond)
	if ci.At.IsZero() {
		at = now
	}
	num, err := s.numbers.take(at)
	if err != nil {
		return Case{}, err
	}
	c := Case{ID: newID(), Number: num, Channel: ChannelPhone, CallerNumber: ci.Caller,
		CallerName: ci.CallerName, DialledNumber: ci.Dialled, Urgency: UrgencyNormal, State: StateReceived,
		InCall: true, CallID: ci.CallID, Node: s.opts.Node, CreatedAt: at, UpdatedAt: at, Version: 1}
	p, _ := json.Marshal(map[string]string{"call_id": ci.CallID, "caller": ci.Caller, "dialled": ci.Dialled})
	ev := Event{ID: newID(), CaseID: c.ID, Type: EventCaseCreated, At: at, Actor: SystemActor.ID, Payload: p}
	if err := s.callWrite(ctx, spoolRecord{Op: opOpen, Case: &c, Events: []Event{ev}}); err != nil {
		return Case{}, err
	}
	return c, nil
}

func (s *SQLStore) AppendEvents(ctx context.Context, caseID string, evs []Event) error {
	if caseID == "" {
		return invalid("case_id", "is required")
	}
	if len(evs) == 0 {
		return nil
	}
	if len(evs) > MaxEventsPerWrite {
		return invalid("events", "more than %d in one write", MaxEventsPerWrite)
	}
	now := s.now()
	out := make([]Event, len(evs))
	for i, e := range evs {
		if err := checkEvent(&e); err != nil {
			return err
		}
		if e.ID == "" {
			e.ID = newID()
		}
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC().Truncate(time.Microsecond)
		e.CaseID, e.Seq = caseID, 0
		out[i] = e
	}
	return s.callWrite(ctx, spoolRecord{Op: opEvents, CaseID: caseID, Events: out})
}

func (s *SQLStore) FinishCall(ctx context.Context, caseID string, end CallEnd) error {
	if caseID == "" {
		return invalid("case_id", "is required")
	}
	if end.Survey != Unscored && !end.Survey.valid() {
		return invalid("survey", "must be 0 (none) or 1 to 3")
	}
	if err := checkText("cause", end.Cause, 200); err != nil {
		return err
	}
	if end.At.IsZero() {
		end.At = s.now()
	}
	end.At = end.At.UTC().Truncate(time.Microsecond)
	p, _ := json.Marshal(map[string]string{"call_id": end.CallID, "cause": end.Cause})
	evs := []Event{{ID: newID(), CaseID: caseID, Type: EventCallEnded, At: end.At, Actor: SystemActor.ID, Payload: p}}
	if end.Survey != Unscored {
		evs = append(evs, Event{ID: newID(), CaseID: caseID, Type: EventSurveyCall, At: end.At,
			Actor: SystemActor.ID, Value: int64(end.Survey), Payload: p})
	}
	return s.callWrite(ctx, spoolRecord{Op: opFinish, CaseID: caseID, End: &end, Events: evs})
}

// callWrite applies a call-flow write, or spools it when the database is
// unreachable. While the spool holds anything, later writes join it so that
// they are applied in order (an event never lands before its case).
func (s *SQLStore) callWrite(ctx context.Context, rec spoolRecord) error {
	rec.ID = newID()
	if s.spool != nil && s.spool.pending() {
		return s.toSpool(rec, nil)
	}
	err := s.applyRecord(ctx, rec)
	if err == nil {
		return nil
	}
	// A call whose context ended mid-write (the caller hung up) still owes
	// the case its write: spool it rather than lose it.
	if s.spool != nil && (s.d.unavailable(err) || ctx.Err() != nil) {
		return s.toSpool(rec, err)
	}
	if s.d.unavailable(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func (s *SQLStore) toSpool(rec spoolRecord, cause error) error {
	if err := s.spool.append(rec); err != nil {
		s.log.Error("case write lost: database and spool both failed", "case_id", rec.caseID(), "err", err, "db_err", cause)
		return fmt.Errorf("%w: spool: %v", ErrUnavailable, err)
	}
	if cause != nil {
		s.log.Warn("database unreachable; case write spooled", "case_id", rec.caseID(), "err", cause)
	}
	s.m.spooled.Inc()
	s.m.spoolDepth.Set(float64(s.spool.depth()))
	s.spool.kick()
	return nil
}

// applyRecord is idempotent: every row carries the write's unique IDs and
// conflicts are ignored, so a replay of an applied record changes nothing.
func (s *SQLStore) applyRecord(ctx context.Context, rec spoolRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		switch rec.Op {
		case opOpen:
			if rec.Case == nil {
				return invalid("spool", "open record without a case")
			}
			if _, err := s.exec(ctx, tx, insertCaseSQL+` ON CONFLICT (id) DO NOTHING`, caseArgs(rec.Case)...); err != nil {
				return err
			}
		case opEvents, opFinish:
			var exists bool
			if err := s.queryRow(ctx, tx, `SELECT TRUE FROM cases WHERE id = $1`, rec.CaseID).Scan(&exists); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%w: case %s", ErrNotFound, rec.CaseID)
				}
				return err
			}
		default:
			return invalid("spool", "unknown op %q", rec.Op)
		}
		n, err := s.insertEvents(ctx, tx, rec.Events)
		if err != nil {
			return err
		}
		if rec.Op == opFinish && n > 0 {
			sv := 0
			if rec.End != nil {
				sv = int(rec.End.Survey)
			}
			_, err = s.exec(ctx, tx, `UPDATE cases SET in_call = FALSE,
				call_score = CASE WHEN $2 > 0 THEN $2 ELSE call_score END,
				updated_us = $3, version = version + 1 WHERE id = $1`, rec.CaseID, sv, s.now().UnixMicro())
		}
		return err
	})
}

const insertEventSQL = `INSERT INTO events (id, case_id, type, at_us, actor, reason, value, payload)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`

func eventArgs(e *Event) []any {
	return []any{e.ID, e.CaseID, string(e.Type), e.At.UnixMicro(), e.Actor, e.Reason, e.Value, string(e.Payload)}
}

func (s *SQLStore) insertEvents(ctx context.Context, tx *sql.Tx, evs []Event) (int64, error) {
	var n int64
	for i := range evs {
		r, err := s.exec(ctx, tx, insertEventSQL, eventArgs(&evs[i])...)
		if err != nil {
			return n, err
		}
		k, _ := r.RowsAffected()
		n += k
	}
	return n, nil
}

// stmt is query prepared, for use in tx. A bare string is compiled anew on every call,
// and in SQLite with it every trigger program it fires (the rollups): ~0.4 ms of CPU
// per write, which on a media server's one processor makes a 20 ms tick late. A
// statement prepared once on the database is compiled once per connection. If it
// cannot be prepared, nil: the caller runs the bare string, which reports the error.
func (s *SQLStore) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if v, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, v.(*sql.Stmt))
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if v, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		st = v.(*sql.Stmt)
	}
	return tx.StmtContext(ctx, st)
}

// exec runs a write-path statement in tx, prepared (see stmt).
func (s *SQLStore) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryRow is exec for a one-row query.
func (s *SQLStore) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

func (s *SQLStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.wmu != nil {
		s.wmu.Lock()
		defer s.wmu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ---- reading ----

const caseCols = `id, number, channel, caller_number, caller_name, dialled_number, confidential,
	category, location, description, urgency, state, prev_state, lead_dept, assist_depts,
	dispatched_us, deadline_us, extensions, escalation, reminded, in_call, call_id, node,
	merged_into, repeat_of, reopened, call_score, evaluation, resolved, replied_us, closed_us,
	resolution, created_us, updated_us, version`

const insertCaseSQL = `INSERT INTO cases (` + caseCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
	$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28,
	$29, $30, $31, $32, $33, $34, $35)`

func us(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromUS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func caseArgs(c *Case) []any {
	return []any{c.ID, c.Number, string(c.Channel), c.CallerNumber, c.CallerName, c.DialledNumber, c.Confidential,
		c.Category, c.Location, c.Description, string(c.Urgency), string(c.State), string(c.PrevState), c.LeadDept,
		strings.Join(c.AssistDepts, ","), us(c.DispatchedAt), us(c.Deadline), c.Extensions, c.Escalation, c.Reminded,
		c.InCall, c.CallID, c.Node, nullStr(c.MergedInto), nullStr(c.RepeatOf), c.Reopened, int(c.CallScore),
		int(c.Evaluation), c.Resolved, us(c.RepliedAt), us(c.ClosedAt), c.Resolution, c.CreatedAt.UnixMicro(),
		c.UpdatedAt.UnixMicro(), c.Version}
}

type scanner interface{ Scan(...any) error }

func scanCase(r scanner) (Case, error) {
	var c Case
	var channel, urgency, state, prev, assist string
	var dispatched, deadline, replied, closed sql.NullInt64
	var merged, repeat sql.NullString
	var created, updated int64
	var score, eval int
	err := r.Scan(&c.ID, &c.Number, &channel, &c.CallerNumber, &c.CallerName, &c.DialledNumber, &c.Confidential,
		&c.Category, &c.Location, &c.Description, &urgency, &state, &prev, &c.LeadDept, &assist,
		&dispatched, &deadline, &c.Extensions, &c.Escalation, &c.Reminded, &c.InCall, &c.CallID, &c.Node,
		&merged, &repeat, &c.Reopened, &score, &eval, &c.Resolved, &replied, &closed,
		&c.Resolution, &created, &updated, &c.Version)
	if err != nil {
		return c, err
	}
	c.Channel, c.Urgency, c.State, c.PrevState = Channel(channel), Urgency(urgency), State(state), State(prev)
	if assist != "" {
		c.AssistDepts = strings.Split(assist, ",")
	}
	c.DispatchedAt, c.Deadline, c.RepliedAt, c.ClosedAt = fromUS(dispatched), fromUS(deadline), fromUS(replied), fromUS(closed)
	c.MergedInto, c.RepeatOf = merged.String, repeat.String
	c.CallScore, c.Evaluation = Satisfaction(score), Satisfaction(eval)
	c.CreatedAt, c.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return c, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// refQuery finds a case by ID or number; numbers contain a dash at index 8.
func getCase(ctx context.Context, q querier, ref string) (Case, error) {
	col := "id"
	if len(ref) == 15 && ref[8] == '-' {
		col = "number"
	}
	if ref == "" || len(ref) > 64 {
		return Case{}, fmt.Errorf("%w: case %q", ErrNotFound, ref)
	}
	c, err := scanCase(q.QueryRowContext(ctx, `SELECT `+caseCols+` FROM cases WHERE `+col+` = $1`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: case %s", ErrNotFound, ref)
	}
	return c, err
}

func (s *SQLStore) Get(ctx context.Context, ref string) (Case, error) {
	c, err := getCase(ctx, s.db, ref)
	return c, s.wrap(err)
}

// wrap marks errors that mean "the database is away" so that callers can
// answer 503 rather than 500.
func (s *SQLStore) wrap(err error) error {
	if err != nil && s.d.unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func (s *SQLStore) Timeline(ctx context.Context, ref string) ([]Event, error) {
	c, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, id, type, at_us, actor, reason, value, payload
		FROM events WHERE case_id = $1 ORDER BY seq`, c.ID)
	if err != nil {
		return nil, s.wrap(err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{CaseID: c.ID}
		var typ, payload string
		var at int64
		if err := rows.Scan(&e.Seq, &e.ID, &typ, &at, &e.Actor, &e.Reason, &e.Value, &payload); err != nil {
			return nil, err
		}
		e.Type, e.At = EventType(typ), time.UnixMicro(at).UTC()
		if payload != "" {
			e.Payload = json.RawMessage(payload)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *SQLStore) queryCases(ctx context.Context, q string, args ...any) ([]Case, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// OpenCasesByCaller is one query on the partial index of open cases.
func (s *SQLStore) OpenCasesByCaller(ctx context.Context, number string) ([]Case, error) {
	if err := checkPhone("caller", number); err != nil {
		return nil, err
	}
	if number == "" {
		return nil, nil
	}
	cs, err := s.queryCases(ctx, `SELECT `+caseCols+` FROM cases WHERE caller_number = $1 AND state IN `+
		openStatesSQL+` ORDER BY created_us DESC LIMIT 50`, number)
	return cs, s.wrap(err)
}

func (s *SQLStore) Search(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Limit > 500 {
		return Page{}, invalid("limit", "must be at most 500")
	}
	if q.Offset < 0 || q.Offset > 100000 {
		return Page{}, invalid("offset", "must be 0 to 100000")
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Number != "" {
		add("number = ?", q.Number)
	}
	if q.Caller != "" {
		if err := checkPhone("caller", q.Caller); err != nil {
			return Page{}, err
		}
		add("caller_number = ?", q.Caller)
		if !q.IncludeConfidential {
			where = append(where, "NOT confidential")
		}
	}
	if q.Text != "" {
		if err := checkText("q", q.Text, 200); err != nil {
			return Page{}, err
		}
		add(`(description LIKE ? ESCAPE '\' OR location LIKE ? ESCAPE '\')`, "%"+escapeLike(q.Text)+"%")
	}
	if q.Category != "" {
		switch {
		case len(q.Category) == 2 && s.opts.Taxonomy.byCode[q.Category].Code != "":
			add("category >= ? ", q.Category)
			add("category < ?", q.Category+"~")
		case s.opts.Taxonomy.Leaf(q.Category):
			add("category = ?", q.Category)
		default:
			return Page{}, invalid("category", "%q is not a known category", q.Category)
		}
	}
	if q.State != "" {
		if !q.State.valid() {
			return Page{}, invalid("state", "%q is not a known state", q.State)
		}
		add("state = ?", string(q.State))
	}
	if !q.From.IsZero() {
		add("created_us >= ?", q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		add("created_us < ?", q.To.UnixMicro())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var p Page
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases`+cond, args...).Scan(&p.Total); err != nil {
		return p, s.wrap(err)
	}
	cs, err := s.queryCases(ctx, `SELECT `+caseCols+` FROM cases`+cond+
		fmt.Sprintf(` ORDER BY created_us DESC, id LIMIT %d OFFSET %d`, q.Limit, q.Offset), args...)
	if err != nil {
		return p, err
	}
	p.Cases = cs
	if q.Offset+len(cs) < p.Total {
		p.Next = q.Offset + len(cs)
	}
	return p, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ---- changing ----

// mutate loads a case, lets fn change it, and writes it back only if nobody
// changed it in between (version check), with fn's events, in one transaction.
// fn returning no events and no error means "nothing to do".
func (s *SQLStore) mutate(ctx context.Context, ref string, version int64, fn func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error)) (Case, error) {
	var out Case
	for attempt := 0; ; attempt++ {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			c, err := getCase(ctx, tx, ref)
			if err != nil {
				return err
			}
			if version != 0 && c.Version != version {
				return fmt.Errorf("%w (case %s is at version %d, not %d)", ErrConflict, c.Number, c.Version, version)
			}
			now := s.now()
			old := c.Version
			evs, err := fn(&c, now, tx)
			if err != nil || len(evs) == 0 {
				out = c
				return err
			}
			c.Version, c.UpdatedAt = old+1, now
			args := caseArgs(&c)
			r, err := s.exec(ctx, tx, `UPDATE cases SET number=$2, channel=$3, caller_number=$4, caller_name=$5,
				dialled_number=$6, confidential=$7, category=$8, location=$9, description=$10, urgency=$11,
				state=$12, prev_state=$13, lead_dept=$14, assist_depts=$15, dispatched_us=$16, deadline_us=$17,
				extensions=$18, escalation=$19, reminded=$20, in_call=$21, call_id=$22, node=$23,
				merged_into=$24, repeat_of=$25, reopened=$26, call_score=$27, evaluation=$28, resolved=$29,
				replied_us=$30, closed_us=$31, resolution=$32, created_us=$33, updated_us=$34, version=$35
				WHERE id=$1 AND version=$36`, append(args[:35:35], old)...)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n != 1 {
				return fmt.Errorf("%w (case %s)", ErrConflict, c.Number)
			}
			for i := range evs {
				if evs[i].ID == "" {
					evs[i].ID = newID()
				}
				if evs[i].CaseID == "" {
					evs[i].CaseID = c.ID
				}
			}
			if _, err := s.insertEvents(ctx, tx, evs); err != nil {
				return err
			}
			out = c
			return nil
		})
		// The server's own writes (version 0) retry a lost race; a user's
		// write reports it, since the user decided on what they saw.
		if version == 0 && errors.Is(err, ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil && s.d.unavailable(err) {
			return out, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return out, err
	}
}

func (s *SQLStore) Create(ctx context.Context, nc NewCase, by Actor) (Case, error) {
	if nc.Channel == "" {
		nc.Channel = ChannelWeb
	}
	if !nc.Channel.valid() {
		return Case{}, invalid("channel", "must be phone, web or messaging")
	}
	if nc.Urgency == "" {
		nc.Urgency = UrgencyNormal
	}
	now := s.now()
	c := Case{ID: newID(), Channel: nc.Channel, CallerNumber: nc.CallerNumber, CallerName: nc.CallerName,
		DialledNumber: nc.DialledNumber, Confidential: nc.Confidential, Category: nc.Category, Location: nc.Location,
		Description: nc.Description, Urgency: nc.Urgency, State: StateReceived, Node: s.opts.Node,
		CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.checkCase(&c); err != nil {
		return Case{}, err
	}
	num, err := s.numbers.take(now)
	if err != nil {
		return Case{}, err
	}
	c.Number = num
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		evs := []Event{{ID: newID(), CaseID: c.ID, Type: EventCaseCreated, At: now, Actor: by.ID}}
		if ev, err := s.linkRepeat(ctx, tx, &c, now); err != nil {
			return err
		} else if ev != nil {
			evs = append(evs, *ev)
		}
		if _, err := s.exec(ctx, tx, insertCaseSQL, caseArgs(&c)...); err != nil {
			return err
		}
		for i := range evs {
			if evs[i].ID == "" {
				evs[i].ID = newID()
			}
			evs[i].CaseID = c.ID
		}
		_, err := s.insertEvents(ctx, tx, evs)
		return err
	})
	if err != nil && s.d.unavailable(err) {
		return Case{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return c, err
}

func (s *SQLStore) checkCase(c *Case) error {
	if err := checkPhone("caller_number", c.CallerNumber); err != nil {
		return err
	}
	if err := checkPhone("dialled_number", c.DialledNumber); err != nil {
		return err
	}
	if err := checkText("caller_name", c.CallerName, MaxNameLen); err != nil {
		return err
	}
	if err := checkText("location", c.Location, MaxLocationLen); err != nil {
		return err
	}
	if err := checkText("description", c.Description, MaxDescriptionLen); err != nil {
		return err
	}
	if c.Category != "" && !s.opts.Taxonomy.Leaf(c.Category) {
		return invalid("category", "%q is not a known category", c.Category)
	}
	if !c.Urgency.valid() {
		return invalid("urgency", "must be normal, urgent or emergency")
	}
	return nil
}

// linkRepeat flags c as a repeat of an open case of the same caller about the
// same category or the same place (repeat requests, 重复诉求).
func (s *SQLStore) linkRepeat(ctx context.Context, tx *sql.Tx, c *Case, now time.Time) (*Event, error) {
	if c.RepeatOf != "" || c.CallerNumber == "" || (c.Category == "" && c.Location == "") {
		return nil, nil
	}
	var id, number string
	err := tx.QueryRowContext(ctx, `SELECT id, number FROM cases WHERE caller_number = $1 AND state IN `+openStatesSQL+`
		AND id <> $2 AND merged_into IS NULL AND ((category <> '' AND category = $3) OR (location <> '' AND location = $4))
		ORDER BY created_us LIMIT 1`, c.CallerNumber, c.ID, c.Category, c.Location).Scan(&id, &number)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.RepeatOf = id
	p, _ := json.Marshal(map[string]string{"repeat_of": id, "number": number})
	return &Event{Type: EventCaseRepeat, At: now, Actor: SystemActor.ID, Payload: p}, nil
}

func (s *SQLStore) Update(ctx context.Context, ref string, version int64, p Patch, by Actor) (Case, error) {
	if by.Role == RoleNone || by.Role == RoleHandler {
		return Case{}, &ForbiddenError{Role: by.Role, Action: "edit the intake of a case"}
	}
	return s.mutate(ctx, ref, version, func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error) {
		if !c.Open() {
			return nil, &TransitionError{CaseNumber: c.Number, From: c.State, Action: "edit", Why: "it is no longer open"}
		}
		changed := map[string]any{}
		set := func(name string, dst *string, v *string) {
			if v != nil && *v != *dst {
				*dst = *v
				changed[name] = *v
			}
		}
		set("caller_name", &c.CallerName, p.CallerName)
		set("category", &c.Category, p.Category)
		set("location", &c.Location, p.Location)
		set("description", &c.Description, p.Description)
		if p.Urgency != nil && *p.Urgency != c.Urgency {
			c.Urgency = *p.Urgency
			changed["urgency"] = *p.Urgency
		}
		if p.Confidential != nil && *p.Confidential != c.Confidential {
			if !*p.Confidential && !by.Role.SeesConfidential() {
				return nil, &ForbiddenError{Role: by.Role, Action: "lift the confidentiality of a case"}
			}
			c.Confidential = *p.Confidential
			changed["confidential"] = *p.Confidential
		}
		if len(changed) == 0 {
			return nil, nil
		}
		if err := s.checkCase(c); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(changed)
		evs := []Event{{Type: EventCaseUpdated, At: now, Actor: by.ID, Payload: b}}
		_, cat := changed["category"]
		_, loc := changed["location"]
		if cat || loc {
			ev, err := s.linkRepeat(ctx, tx, c, now)
			if err != nil {
				return nil, err
			}
			if ev != nil {
				evs = append(evs, *ev)
			}
		}
		return evs, nil
	})
}

func (s *SQLStore) Apply(ctx context.Context, ref string, cmd Command) (Case, error) {
	return s.mutate(ctx, ref, cmd.Version, func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error) {
		nc, ev, err := decide(*c, cmd, rules{policy: s.policy, depts: s.opts.Depts, now: now})
		if err != nil {
			return nil, err
		}
		*c = nc
		return []Event{ev}, nil
	})
}

func mayMerge(by Actor) error {
	switch by.Role {
	case RoleReviewer, RoleSupervisor, RoleAdmin, RoleSystem:
		return nil
	}
	return &ForbiddenError{Role: by.Role, Action: "merge cases"}
}

// Merge files the case ref under into (并单). Merges may chain, but never
// into the case itself or into a case that is (transitively) merged into it.
func (s *SQLStore) Merge(ctx context.Context, ref, into string, version int64, by Actor) (Case, error) {
	if err := mayMerge(by); err != nil {
		return Case{}, err
	}
	parent, err := s.Get(ctx, into)
	if err != nil {
		return Case{}, err
	}
	return s.mutate(ctx, ref, version, func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error) {
		if c.ID == parent.ID {
			return nil, invalid("into", "a case cannot be merged into itself")
		}
		if !c.Open() {
			return nil, &TransitionError{CaseNumber: c.Number, From: c.State, Action: "merge", Why: "only an open case can be merged"}
		}
		// Walk the parent's chain inside this transaction's snapshot.
		cur := parent.ID
		for hops := 0; cur != ""; hops++ {
			if cur == c.ID {
				return nil, invalid("into", "merging %s into %s would make a cycle", c.Number, parent.Number)
			}
			if hops > 64 {
				return nil, invalid("into", "the merge chain of %s is too long", parent.Number)
			}
			var next sql.NullString
			if err := tx.QueryRowContext(ctx, `SELECT merged_into FROM cases WHERE id = $1`, cur).Scan(&next); err != nil {
				return nil, err
			}
			cur = next.String
		}
		c.PrevState, c.State, c.MergedInto = c.State, StateMerged, parent.ID
		p, _ := json.Marshal(map[string]string{"into": parent.ID, "into_number": parent.Number, "case": c.ID, "number": c.Number})
		return []Event{
			{Type: EventCaseMerged, At: now, Actor: by.ID, Payload: p},
			{CaseID: parent.ID, Type: EventCaseMerged, At: now, Actor: by.ID, Payload: p},
		}, nil
	})
}

func (s *SQLStore) Unmerge(ctx context.Context, ref string, version int64, by Actor) (Case, error) {
	if err := mayMerge(by); err != nil {
		return Case{}, err
	}
	return s.mutate(ctx, ref, version, func(c *Case, now time.Time, tx *sql.Tx) ([]Event, error) {
		if c.State != StateMerged {
			return nil, &TransitionError{CaseNumber: c.Number, From: c.State, Action: "unmerge", Why: "it is not merged"}
		}
		p, _ := json.Marshal(map[string]string{"from": c.MergedInto, "case": c.ID})
		parent := c.MergedInto
		c.State, c.PrevState, c.MergedInto = c.PrevState, "", ""
		if !c.State.valid() {
			c.State = StateReceived
		}
		return []Event{
			{Type: EventCaseUnmerged, At: now, Actor: by.ID, Payload: p},
			{CaseID: parent, Type: EventCaseUnmerged, At: now, Actor: by.ID, Payload: p},
		}, nil
	})
}

// SweepDeadlines: a reminder when a quarter of the time (at most a day) is
// left, "overdue" once the deadline passes, "escalated" when it is overdue by
// as long again as the time it had.
func (s *SQLStore) SweepDeadlines(ctx context.Context, now time.Time) ([]Notice, error) {
	now = now.UTC()
	// The widest reminder window is one day; overdue ones are already inside it.
	cands, err := s.queryCases(ctx, `SELECT `+caseCols+` FROM cases WHERE state IN ('dispatched','signed','returned')
		AND deadline_us < $1 AND (NOT reminded OR escalation < 2) ORDER BY deadline_us LIMIT 1000`, now.Add(24*time.Hour).UnixMicro())
	if err != nil {
		return nil, err
	}
	var out []Notice
	for _, cand := range cands {
		var kind EventType
		_, err := s.mutate(ctx, cand.ID, cand.Version, func(c *Case, _ time.Time, _ *sql.Tx) ([]Event, error) {
			span := c.Deadline.Sub(c.DispatchedAt)
			window := min(span/4, 24*time.Hour)
			switch {
			case c.Escalation == 1 && now.After(c.Deadline.Add(span)):
				c.Escalation, kind = 2, EventCaseEscalated
			case c.Escalation == 0 && now.After(c.Deadline):
				c.Escalation, c.Reminded, kind = 1, true, EventCaseOverdue
			case !c.Reminded && !now.Before(c.Deadline.Add(-window)):
				c.Reminded, kind = true, EventCaseReminded
			default:
				kind = ""
				return nil, nil
			}
			p, _ := json.Marshal(map[string]any{"dept": c.LeadDept, "deadline": c.Deadline})
			return []Event{{Type: kind, At: now, Actor: SystemActor.ID, Payload: p}}, nil
		})
		if errors.Is(err, ErrConflict) {
			continue // someone acted on it meanwhile; the next sweep looks again
		}
		if err != nil {
			return out, err
		}
		if kind != "" {
			out = append(out, Notice{CaseID: cand.ID, Number: cand.Number, Kind: kind, Dept: cand.LeadDept, Deadline: cand.Deadline})
		}
	}
	return out, nil
}

// BulkLoad inserts generated cases and events fast (COPY on PostgreSQL),
// bypassing validation and the spool: it is for benchmarks and imports.
func (s *SQLStore) BulkLoad(ctx context.Context, cs []Case, evs []Event) error {
	if s.wmu != nil {
		s.wmu.Lock()
		defer s.wmu.Unlock()
	}
	return s.d.bulkLoad(ctx, s.db, cs, evs)
}
