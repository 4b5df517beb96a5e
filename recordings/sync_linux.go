package recordings

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncfs flushes a whole filesystem in one call (Linux 2.6.39; errors reported
// since 5.8), which is what makes per-second durability cheap for many calls.
func syncfs(fd int) error { return unix.Syncfs(fd) }

const haveSyncfs = true

// growPipe raises a pipe's buffer to n bytes where the system allows it; best effort.
func growPipe(f *os.File, n int) {
	if c, err := f.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, n) })
	}
}
