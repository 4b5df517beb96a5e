package recordings

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Disk does the store's disk work in another process (hotline's Helper): it creates
// the recording files, takes their writes, and runs the shared sync. Store.Disk.
type Disk interface {
	// Create makes a new recording file exclusively (mode 0640) and returns it.
	Create(path string) (File, error)
	// Sync makes everything written under the store's folder durable.
	Sync() error
}

// ErrHelperGone is wrapped by a Helper's errors once the helper process has ended:
// the store then does its disk work in the process.
var ErrHelperGone = errors.New("recordings: disk helper gone")

// Helper is a child process that does the recordings' disk work: it creates the
// files, writes them, and runs the store's shared syncfs.
//
// Why: a write to a file or a syncfs can block for milliseconds (ext4 waits for
// its journal, which the shared sync commits every round), and a Go program keeps
// its processor (P) through a blocking system call until the runtime's monitor
// thread notices, which when it is idle takes up to two of its 10 ms rounds. With
// one processor (GOMAXPROCS=1, as benchmarked) the media clock and the relays
// waited for that. Measured in B4 at 400 bridged calls: added latency p99 6–10 ms
// with syncfs in the process, 1.2 ms in a helper; at 960 bridged, 7.2 ms with the
// file writes in the process against 2.8 ms with recording off
// (bench/RESULTS-b3-b6.md). Here the writer only writes to a pipe with room in it
// (1 MiB), or parks its goroutine while the pipe is full, which frees the processor.
//
// A write is not answered: the helper reports a file's first failure, and the
// file's next Write, WriteAt or Close returns it (the recorder fails then, the
// call goes on). Create, Sync, a file's Sync and Close wait for the helper's
// answer, so a closed recording's bytes are all in the file.
type Helper struct {
	cmd *exec.Cmd
	in  *os.File // requests (pollable: a full pipe parks the goroutine)

	mu     sync.Mutex // one request at a time on in; guards msg and the order of waiting
	msg    []byte
	nextID atomic.Uint32

	rmu     sync.Mutex
	waiting []chan error // answers due, in request order
	files   map[uint32]*helperFile
	gone    atomic.Pointer[error]
	done    chan struct{} // the helper's output ended
}

// Requests: op, file id, offset, payload length, payload. Answers and reports: op,
// file id, errno (0: none or unknown), message length, message (empty: success).
const (
	opCreate    = 'o' // payload: the path
	opWrite     = 'w'
	opWriteAt   = 'p'
	opFileSync  = 'f'
	opClose     = 'c'
	opSync      = 's'
	opAnswer    = 'r'
	opFailed    = 'e'
	requestSize = 1 + 4 + 8 + 4
	answerSize  = 1 + 4 + 4 + 4
	// helperPipe is what the writer may get ahead of the helper: 1 MiB, Linux's
	// default limit for an unprivileged process, about 60 recordings' pumps.
	helperPipe = 1 << 20
)

// StartHelper starts cmd, which must run ServeHelper on its standard input and
// output (hotline runs itself with HOTLINE_INTERNAL_DISK_HELPER=DIR).
func StartHelper(cmd *exec.Cmd) (*Helper, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	growPipe(inW, helperPipe)
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("recordings: disk helper: %w", err)
	}
	h := &Helper{cmd: cmd, in: inW, files: make(map[uint32]*helperFile), done: make(chan struct{})}
	go h.read(outR)
	// The helper answers a first request once it has opened the folder: a helper that
	// cannot work fails here, at start, not at the first recording.
	if err := h.Sync(); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// Sync asks the helper for one syncfs and waits for its answer.
func (h *Helper) Sync() error { return h.call(opSync, 0, 0, nil) }

// Create asks the helper to create path exclusively (mode 0640) and returns the file.
func (h *Helper) Create(path string) (File, error) {
	f := &helperFile{h: h, id: h.nextID.Add(1)}
	h.rmu.Lock()
	h.files[f.id] = f
	h.rmu.Unlock()
	if err := h.call(opCreate, f.id, 0, []byte(path)); err != nil {
		h.forget(f.id)
		return nil, err
	}
	return f, nil
}

// Pid is the helper process's id.
func (h *Helper) Pid() int { return h.cmd.Process.Pid }

// Close ends the helper (it writes what it was sent, closes its files and exits when
// its input closes) and waits for it.
func (h *Helper) Close() error {
	h.in.Close()
	err := h.cmd.Wait()
	<-h.done
	return err
}

// send writes one request; the caller holds h.mu.
func (h *Helper) send(op byte, id uint32, off int64, p []byte) error {
	if e := h.gone.Load(); e != nil {
		return *e
	}
	h.msg = append(h.msg[:0], op)
	h.msg = binary.LittleEndian.AppendUint32(h.msg, id)
	h.msg = binary.LittleEndian.AppendUint64(h.msg, uint64(off))
	h.msg = binary.LittleEndian.AppendUint32(h.msg, uint32(len(p)))
	h.msg = append(h.msg, p...)
	if _, err := h.in.Write(h.msg); err != nil {
		return fmt.Errorf("%w: %v", ErrHelperGone, err)
	}
	return nil
}

// post sends a request nobody waits for.
func (h *Helper) post(op byte, id uint32, off int64, p []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(op, id, off, p)
}

// call sends a request and waits for its answer.
func (h *Helper) call(op byte, id uint32, off int64, p []byte) error {
	ch := make(chan error, 1)
	h.mu.Lock()
	h.rmu.Lock()
	h.waiting = append(h.waiting, ch)
	h.rmu.Unlock()
	err := h.send(op, id, off, p)
	h.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-h.done:
		select { // an answer that came just before the helper's output ended
		case err := <-ch:
			return err
		default:
			return *h.gone.Load()
		}
	}
}

// read takes the helper's answers and failure reports until its output ends.
func (h *Helper) read(out *os.File) {
	defer close(h.done)
	defer out.Close()
	r := bufio.NewReader(out)
	var hdr [answerSize]byte
	err := func() error {
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return err
			}
			id := binary.LittleEndian.Uint32(hdr[1:])
			msg := make([]byte, binary.LittleEndian.Uint32(hdr[9:]))
			if _, err := io.ReadFull(r, msg); err != nil {
				return err
			}
			var err error
			if len(msg) > 0 {
				err = &helperError{string(msg), syscall.Errno(binary.LittleEndian.Uint32(hdr[5:]))}
			}
			if err := h.deliver(hdr[0], id, err); err != nil {
				return err
			}
		}
	}()
	if errors.Is(err, io.EOF) {
		err = errors.New("exited")
	}
	gone := fmt.Errorf("%w: %v", ErrHelperGone, err)
	h.gone.Store(&gone)
}

// deliver hands an answer to the oldest waiting call, or a failure report to its file.
func (h *Helper) deliver(op byte, id uint32, err error) error {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	switch op {
	case opAnswer:
		if len(h.waiting) == 0 {
			return errors.New("an answer nobody asked for")
		}
		h.waiting[0] <- err
		h.waiting = h.waiting[1:]
	case opFailed:
		if f := h.files[id]; f != nil && err != nil {
			f.err.CompareAndSwap(nil, &err)
		}
	}
	return nil
}

func (h *Helper) forget(id uint32) {
	h.rmu.Lock()
	delete(h.files, id)
	h.rmu.Unlock()
}

// helperError is a failure the helper reported, with its errno when it had one
// (errors.Is(err, os.ErrExist), syscall.ENOSPC hold as in the process).
type helperError struct {
	msg   string
	errno syscall.Errno
}

func (e *helperError) Error() string { return "recordings: disk helper: " + e.msg }

func (e *helperError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// helperFile is a recording file the helper holds open.
type helperFile struct {
	h   *Helper
	id  uint32
	err atomic.Pointer[error] // the first failure the helper reported
}

func (f *helperFile) failed() error {
	if e := f.err.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *helperFile) Write(p []byte) (int, error) {
	if err := f.failed(); err != nil {
		return 0, err
	}
	if err := f.h.post(opWrite, f.id, 0, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *helperFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.failed(); err != nil {
		return 0, err
	}
	if err := f.h.post(opWriteAt, f.id, off, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (f *helperFile) Sync() error {
	if err := f.h.call(opFileSync, f.id, 0, nil); err != nil {
		return err
	}
	return f.failed()
}

func (f *helperFile) Close() error {
	err := f.h.call(opClose, f.id, 0, nil)
	f.h.forget(f.id)
	return errors.Join(f.failed(), err)
}

// ServeHelper is the helper process: it serves the requests read from in, for
// files under dir only, answering on out. It returns nil when in ends, after
// closing its files.
func ServeHelper(dir string, in io.Reader, out io.Writer) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	sv := &helperServer{dir: filepath.Clean(dir), d: d, out: out, files: make(map[uint32]*servedFile)}
	defer func() {
		for _, f := range sv.files {
			f.f.Close()
		}
	}()
	r := bufio.NewReaderSize(in, helperPipe)
	var hdr [requestSize]byte
	var p []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(binary.LittleEndian.Uint32(hdr[13:]))
		if cap(p) < n {
			p = make([]byte, n)
		}
		p = p[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return err
		}
		op, id := hdr[0], binary.LittleEndian.Uint32(hdr[1:])
		if err := sv.serve(op, id, int64(binary.LittleEndian.Uint64(hdr[5:])), p); err != nil {
			return err
		}
	}
}

// helperServer is ServeHelper's state: the folder and the files it holds open.
type helperServer struct {
	dir   string
	d     *os.File
	out   io.Writer
	files map[uint32]*servedFile
}

type servedFile struct {
	f      *os.File
	failed bool // a write failed and was reported: the file takes no more
}

// serve carries out one request; an error ends the helper (its output is gone, or
// the request is not one it knows).
func (sv *helperServer) serve(op byte, id uint32, off int64, p []byte) error {
	f := sv.files[id]
	switch op {
	case opSync:
		return sv.answer(opAnswer, 0, syncfs(int(sv.d.Fd())))
	case opCreate:
		path := filepath.Clean(string(p))
		if !strings.HasPrefix(path, sv.dir+string(filepath.Separator)) {
			return sv.answer(opAnswer, id, fmt.Errorf("%s is not under %s", path, sv.dir))
		}
		nf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if err == nil {
			sv.files[id] = &servedFile{f: nf}
		}
		return sv.answer(opAnswer, id, err)
	case opWrite, opWriteAt:
		if f == nil || f.failed {
			return nil
		}
		var err error
		if op == opWrite {
			_, err = f.f.Write(p)
		} else {
			_, err = f.f.WriteAt(p, off)
		}
		if err == nil {
			return nil
		}
		f.failed = true
		return sv.answer(opFailed, id, err)
	case opFileSync, opClose:
		if f == nil {
			return sv.answer(opAnswer, id, errors.New("no such file"))
		}
		if op == opFileSync {
			return sv.answer(opAnswer, id, f.f.Sync())
		}
		delete(sv.files, id)
		return sv.answer(opAnswer, id, f.f.Close())
	}
	return fmt.Errorf("recordings: disk helper: unknown request %q", op)
}

// answer sends an answer or a failure report, with err's errno when it has one.
func (sv *helperServer) answer(op byte, id uint32, err error) error {
	msg, errno := "", syscall.Errno(0)
	if err != nil {
		msg = err.Error()
		errors.As(err, &errno)
	}
	b := make([]byte, answerSize, answerSize+len(msg))
	b[0] = op
	binary.LittleEndian.PutUint32(b[1:], id)
	binary.LittleEndian.PutUint32(b[5:], uint32(errno))
	binary.LittleEndian.PutUint32(b[9:], uint32(len(msg)))
	_, err = sv.out.Write(append(b, msg...))
	return err
}
