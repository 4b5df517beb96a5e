package media

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// ticker is something the media clock drives once per 20 ms at its own phase.
type ticker interface {
	// tick is called when a frame may be due; now is the clock's reading.
	tick(now time.Time)
}

// slotCount is the number of 1 ms phases in a frame: each leg lives in the slot of the
// millisecond it started in, so that calls started at different times send at different
// instants instead of all at once.
const slotCount = int(FrameDuration / time.Millisecond)

// pacer is one shared media clock: a goroutine that wakes every millisecond and ticks the
// legs whose phase is due. There is no timer per call; a leg computes its due frames from
// its absolute start time, so lateness never accumulates.
//
// It wakes on a timerfd that expires at every wall-clock millisecond boundary, watched by
// Go's network poller: Go's own timers sleep in whole milliseconds when the process is
// idle (a 0.3 ms sleep lasts 1 ms), which would put up to a millisecond of jitter on
// every frame; the kernel's high-resolution timer wakes the poller within microseconds.
type pacer struct {
	poll   *poller   // its ticked legs are read at each tick, before frames go out
	frames *frameLog // relayed frames for logged sinks, handed over at each tick
	tick   *os.File
	tickRC syscall.RawConn
	wait   func(uintptr) bool // p.readTick, bound once
	tickN  [8]byte

	mu    sync.Mutex
	slots [slotCount]atomic.Pointer[[]ticker] // copy-on-write: the clock reads without locks
	count atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	log   *slog.Logger

	lateness prometheus.Observer
	warmed   uint64 // warmTick's sums: a plain store keeps its reads
	realtime bool   // run on a thread of its own at SCHED_FIFO priority (EngineConfig.Realtime)
}

func newPacer(log *slog.Logger, lateness prometheus.Observer, poll *poller, realtime bool) (*pacer, error) {
	p := &pacer{poll: poll, frames: newFrameLog(), stop: make(chan struct{}), done: make(chan struct{}), log: log, lateness: lateness, realtime: realtime}
	for i := range p.slots {
		p.slots[i].Store(&[]ticker{})
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media clock: timerfd: %w", err)
	}
	first := time.UnixMilli(time.Now().UnixMilli() + 1)
	spec := unix.ItimerSpec{
		Value:    unix.NsecToTimespec(first.UnixNano()),
		Interval: unix.NsecToTimespec(int64(time.Millisecond)),
	}
	if err := unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("media clock: timerfd: %w", err)
	}
	p.tick = os.NewFile(uintptr(fd), "media-clock") // non-blocking: joins Go's network poller
	if p.tickRC, err = p.tick.SyscallConn(); err != nil {
		p.tick.Close()
		return nil, fmt.Errorf("media clock: %w", err)
	}
	p.wait = p.readTick
	go p.run()
	return p, nil
}

// readTick consumes the timer's expirations; false (none yet) parks until it fires.
func (p *pacer) readTick(fd uintptr) bool {
	_, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p.tickN[0])), uintptr(len(p.tickN)))
	return errno != syscall.EAGAIN
}

func slotOf(t time.Time) int { return int(t.UnixMilli() % int64(slotCount)) }

func (p *pacer) add(t ticker, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[slotOf(start)]
	old := *s.Load()
	next := make([]ticker, len(old), len(old)+1)
	copy(next, old)
	next = append(next, t)
	s.Store(&next)
	p.count.Add(1)
}

func (p *pacer) remove(t ticker, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[slotOf(start)]
	old := *s.Load()
	next := make([]ticker, 0, len(old))
	for _, x := range old {
		if x != t {
			next = append(next, x)
		}
	}
	if len(next) != len(old) {
		p.count.Add(-1)
	}
	s.Store(&next)
}

// realtimePriority is the clock threads' SCHED_FIFO priority: above every normal thread,
// below the kernel's own real-time threads (50 for interrupts on PREEMPT_RT).
const realtimePriority = 10

// goRealtime locks the clock's goroutine to its thread and makes that thread SCHED_FIFO,
// so that the kernel runs it the moment its timer fires, ahead of the process's other
// threads (a system call's kernel work, a thread coming back from disk I/O) that share
// its core. Without the privilege (CAP_SYS_NICE) it logs once and runs as before.
func (p *pacer) goRealtime() {
	runtime.LockOSThread()
	param := struct{ prio int32 }{realtimePriority}
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, 1 /* SCHED_FIFO */, uintptr(unsafe.Pointer(&param)))
	if errno != 0 {
		runtime.UnlockOSThread()
		p.log.Warn("media clock: no real-time priority (needs CAP_SYS_NICE); running as a normal thread", "error", errno.Error())
	}
}

func (p *pacer) run() {
	defer close(p.done)
	if p.realtime {
		p.goRealtime()
	}
	last := time.Now().UnixMilli()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		now := time.Now()
		nowMs := now.UnixMilli()
		from := last + 1
		if nowMs-from >= int64(slotCount) { // stalled a whole frame: visit every slot once
			from = nowMs - int64(slotCount) + 1
		}
		// The frames logged since the last tick go first: a leg that stops relaying
		// taps its next frames from this tick, after them.
		p.frames.tryDrain()
		if p.poll != nil && p.count.Load() > 0 {
			p.poll.drainTicked()
		}
		for m := from; m <= nowMs; m++ {
			legs := *p.slots[m%int64(slotCount)].Load()
			if len(legs) == 0 {
				continue
			}
			if p.lateness != nil {
				p.lateness.Observe(now.Sub(time.UnixMilli(m)).Seconds())
			}
			// Each leg's memory has left the cache in the 20 ms since its last tick: read
			// every leg of the slot first, so that their misses overlap (see warmTick).
			var x uint64
			for _, l := range legs {
				if l, ok := l.(*RTPLeg); ok {
					x += warmTick(l)
				}
			}
			p.warmed = x
			for _, l := range legs {
				l.tick(now)
			}
		}
		last = nowMs
		if p.count.Load() == 0 { // idle: no need to wake every millisecond
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			last = time.Now().UnixMilli()
			continue
		}
		// Wait for the next millisecond boundary.
		if err := p.tickRC.Read(p.wait); err != nil {
			return // closed
		}
	}
}

func (p *pacer) close() {
	close(p.stop)
	p.tick.Close()
	<-p.done
}
