package main

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority puts the disk helper below the server on a busy core: the helper's
// main goroutine, which serves every request, stays on this thread, whose nice
// value goes to 10 (a tenth of the server's share when both want the core, more
// than the helper needs: it has a 1 MiB pipe and the recorders' seconds of buffers
// to catch up in). The media goes first; the recordings take the time left.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, 10)
}
