package main

import (
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// lowerPriority puts the disk helper below the server on a busy core: every thread of
// the helper goes to SCHED_IDLE, which runs only on a core that nothing else wants
// (the helper has a 1 MiB pipe and the recorders' seconds of buffers to catch up in,
// and an idle moment comes at least every 20 ms below saturation). nice 10 was not
// enough: a niced thread that wakes still runs a scheduler slice (milliseconds) ahead
// of the server, and at 80 % of a core that leaves a backlog of relayed packets for
// several times as long (B4 at 880 bridged calls, helper and server on one core, five
// pairs: added latency p99 7.6–58.2 ms at nice 10, 3.6–18.7 ms as SCHED_IDLE, lower in
// every pair; bench/RESULTS-b3-b6.md). The media goes first; the recordings take the
// time left. Where SCHED_IDLE is refused the helper stays at nice 10.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 10)
	idle := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE, Nice: 10}
	// A thread the runtime starts later is cloned from one of these and keeps its policy.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		_ = unix.SchedSetAttr(0, &idle, 0)
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetAttr(tid, &idle, 0)
		}
	}
}
