package recordings

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Syncer makes everything written under the store's folder durable; Store.Syncer.
type Syncer interface {
	Sync() error
}

// SyncHelper runs the store's shared syncfs in a child process.
//
// Why: syncfs blocks for milliseconds while the disk catches up, and a Go program
// keeps its processor (P) through a blocking system call until the runtime's monitor
// thread notices, which when it is idle takes up to two of its 10 ms rounds. With one
// processor (GOMAXPROCS=1, as benchmarked) the media clock and the relays waited
// for that: measured in B4 at 400 bridged calls, the bridge's added latency p99
// 6–10 ms with syncfs in the process, 1.2 ms without. In a child process the
// writer only waits on a pipe, which parks its goroutine and frees the processor.
type SyncHelper struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// StartSyncHelper starts cmd, which must run ServeSyncHelper on its standard input
// and output (hotline runs itself with HOTLINE_INTERNAL_SYNC_HELPER=DIR).
func StartSyncHelper(cmd *exec.Cmd) (*SyncHelper, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("recordings: sync helper: %w", err)
	}
	h := &SyncHelper{cmd: cmd, in: in, out: bufio.NewReader(out)}
	// The helper answers a first request once it has opened the folder: a helper that
	// cannot work fails here, at start, not at the first recording.
	if err := h.Sync(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Sync asks the helper for one syncfs and waits for its answer.
func (h *SyncHelper) Sync() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.in.Write([]byte{'s'}); err != nil {
		return fmt.Errorf("recordings: sync helper: %w", err)
	}
	line, err := h.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("recordings: sync helper: %w", err)
	}
	if line = strings.TrimSuffix(line, "\n"); line != "" {
		return fmt.Errorf("recordings: sync helper: %s", line)
	}
	return nil
}

// Close ends the helper (it exits when its input closes) and waits for it.
func (h *SyncHelper) Close() error {
	h.in.Close()
	return h.cmd.Wait()
}

// ServeSyncHelper is the helper process: for each byte read from in, one syncfs of
// dir's filesystem, answered on out with an empty line, or the error on one line.
// It returns nil when in ends.
func ServeSyncHelper(dir string, in io.Reader, out io.Writer) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	var b [1]byte
	for {
		if _, err := in.Read(b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		msg := "\n"
		if err := syncfs(int(d.Fd())); err != nil {
			msg = strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
		}
		if _, err := io.WriteString(out, msg); err != nil {
			return err
		}
	}
}
