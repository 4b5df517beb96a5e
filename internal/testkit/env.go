package testkit

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI, where a missing tool is a failure.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// IsRoot reports whether the process runs as uid 0. SIPp's play_pcap_audio and
// play_dtmf need a raw socket: root, CAP_NET_RAW, or a user namespace (unshare -r).
func IsRoot() bool { return os.Geteuid() == 0 }

// InNetNS reports whether we run in a network namespace whose only interface is
// loopback, as scripts/test arranges.
func InNetNS() bool {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return false
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return false
		}
	}
	return true
}

// CanRawSocket reports whether this process may open a raw socket (needed by SIPp's
// pcap and DTMF players). Root in a user namespace counts.
func CanRawSocket() bool {
	rawOnce.Do(func() {
		c, err := net.ListenPacket("ip4:udp", "127.0.0.1")
		if err == nil {
			c.Close()
			rawOK = true
		}
	})
	return rawOK
}

var (
	rawOnce sync.Once
	rawOK   bool
)

// NeedTool returns the path of an external program, or ends the test: Fatal in CI
// (scripts/test installs every tool, so absence is a broken machine), Skip elsewhere.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Unavailable(t, fmt.Sprintf("%s not found in PATH (run scripts/test, which installs it)", name))
	return ""
}

// Unavailable ends a test whose precondition does not hold: Fatal in CI, Skip elsewhere.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("testkit: %s", why)
	}
	t.Skipf("testkit: %s", why)
}

// NeedRawSocket ends the test (Fatal in CI, Skip elsewhere) unless raw sockets work.
func NeedRawSocket(t testing.TB) {
	t.Helper()
	if !CanRawSocket() {
		Unavailable(t, "raw sockets are not allowed (SIPp pcap/DTMF playback needs root, CAP_NET_RAW or unshare -r -n)")
	}
}

var errNoPort = errors.New("testkit: no free port")
