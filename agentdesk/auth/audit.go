package auth

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// Entry is one line of the audit log.
type Entry struct {
	Time   time.Time  `json:"time"`
	User   string     `json:"user,omitempty"`
	Role   cases.Role `json:"role,omitempty"`
	IP     string     `json:"ip,omitempty"`
	Action string     `json:"action"`
	Target string     `json:"target,omitempty"` // a call, a recording, an agent, a user, a route
	Result string     `json:"result"`
	Detail string     `json:"detail,omitempty"` // why it failed or was refused
}

// Actions written by this package, and those the rest of the server should use.
const (
	ActionLogin          = "login"
	ActionLogout         = "logout"
	ActionLogoutAll      = "logout_all"
	ActionPasswordChange = "password_change"
	ActionPasswordReset  = "password_reset"
	ActionUserCreate     = "user_create"
	ActionUserUpdate     = "user_update"
	ActionAccess         = "access" // a request refused by Require or Check
	ActionCSRF           = "csrf"   // a state-changing request without a valid token or from another origin
	ActionListen         = "listen"
	ActionWhisper        = "whisper"
	ActionBarge          = "barge"
	ActionForceState     = "force_state"
	ActionRecording      = "recording" // a recording played or downloaded
)

// Results.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultDenied  = "denied"
	ResultLimited = "rate_limited"
)

// AuditLog is an append-only JSON-lines file: one line per entry, fsynced before Append
// returns, so an entry that was acknowledged survives a crash. Past MaxBytes the file is
// renamed to audit-<time>.jsonl and a new one started; old files are kept (retention of
// audit records is a legal matter, not this package's).
type AuditLog struct {
	dir      string
	maxBytes int64
	now      func() time.Time
	log      *slog.Logger

	mu   sync.Mutex
	f    *os.File
	size int64
}

// AuditOptions configure OpenAuditLog.
type AuditOptions struct {
	MaxBytes int64 // rotate past this size; 0 means 64 MiB
	Now      func() time.Time
	Logger   *slog.Logger
}

const auditFileName = "audit.jsonl"

// OpenAuditLog opens (or starts) dir/audit.jsonl for appending.
func OpenAuditLog(dir string, o AuditOptions) (*AuditLog, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: audit log: %w", err)
	}
	a := &AuditLog{dir: dir, maxBytes: o.MaxBytes, now: o.Now, log: o.Logger}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

// Path is the current file.
func (a *AuditLog) Path() string { return filepath.Join(a.dir, auditFileName) }

func (a *AuditLog) open() error {
	f, err := os.OpenFile(a.Path(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("auth: audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("auth: audit log: %w", err)
	}
	a.f, a.size = f, st.Size()
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Append writes e as one line and fsyncs it. A zero Time is set to now.
func (a *AuditLog) Append(e Entry) error {
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	e.Time = e.Time.UTC()
	// Fields can come from outside (a user name typed at sign-in, a path): bounded so
	// that nobody can bloat the log, and JSON-escaped so nobody can forge a line.
	e.User, e.Target, e.Detail, e.IP = clip(e.User, 128), clip(e.Target, 512), clip(e.Detail, 1024), clip(e.IP, 64)
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("auth: audit log is closed")
	}
	if a.size > 0 && a.size+int64(len(b)) > a.maxBytes {
		if err := a.rotateLocked(); err != nil {
			a.log.Error("audit log not rotated; still appending to the current file", "err", err)
		}
	}
	n, err := a.f.Write(b)
	a.size += int64(n)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("auth: audit entry not written: %w", err)
	}
	return nil
}

func (a *AuditLog) rotateLocked() error {
	name := filepath.Join(a.dir, "audit-"+a.now().UTC().Format("20060102T150405.000000000Z")+".jsonl")
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); os.IsNotExist(err) {
			break
		}
		name = filepath.Join(a.dir, fmt.Sprintf("audit-%s-%d.jsonl", a.now().UTC().Format("20060102T150405.000000000Z"), i))
	}
	if err := os.Rename(a.Path(), name); err != nil {
		return err
	}
	old := a.f
	if err := a.open(); err != nil {
		// Keep writing to the renamed file rather than lose entries.
		return err
	}
	old.Close()
	if d, err := os.Open(a.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Close closes the file; later Appends fail.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
