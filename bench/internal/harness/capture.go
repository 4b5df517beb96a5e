package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SIPCapture records SIP on loopback with tshark (pinned to the generator's core)
// so that INVITE→200 can be timed from kernel timestamps, with microsecond
// resolution, instead of SIPp's millisecond clock.
type SIPCapture struct {
	file string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSIPCapture captures UDP to and from port on lo. Needs root (or CAP_NET_RAW).
func StartSIPCapture(dir string, port int) (*SIPCapture, error) {
	if _, err := exec.LookPath("tshark"); err != nil {
		return nil, err
	}
	c := &SIPCapture{file: filepath.Join(dir, fmt.Sprintf("sip-%d.pcapng", port)), done: make(chan struct{})}
	argv := append(Pin(1), "tshark", "-q", "-n", "-i", "lo", "-B", "64", "-f", fmt.Sprintf("udp port %d", port), "-w", c.file)
	c.cmd = exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	c.cmd.Stderr = &stderr
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	// tshark says "Capturing on 'Loopback: lo'" once the capture runs.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Capturing on") {
		select {
		case <-c.done:
			return nil, fmt.Errorf("harness: tshark exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			c.Stop()
			return nil, fmt.Errorf("harness: tshark did not start: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, nil
}

// Stop ends the capture.
func (c *SIPCapture) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// SetupTimes stops the capture and returns, per call, the time from the first
// INVITE to the first 200 for it (both as seen on the wire), and how many INVITEs
// got no 200.
func (c *SIPCapture) SetupTimes(ctx context.Context) ([]time.Duration, int, error) {
	c.Stop()
	cmd := exec.CommandContext(ctx, "tshark", "-n", "-r", c.file, "-d", "udp.port==0,sip",
		"-Y", `sip.CSeq.method == "INVITE"`, "-T", "fields", "-E", "separator=;",
		"-e", "frame.time_epoch", "-e", "sip.Call-ID", "-e", "sip.Method", "-e", "sip.Status-Code")
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("harness: tshark read: %w", err)
	}
	invite := map[string]float64{}
	answered := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ";")
		if len(f) < 4 {
			continue
		}
		t, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		id := f[1]
		switch {
		case f[2] == "INVITE":
			if _, ok := invite[id]; !ok {
				invite[id] = t
			}
		case f[3] == "200":
			if _, ok := answered[id]; !ok {
				answered[id] = t
			}
		}
	}
	var d []time.Duration
	missing := 0
	for id, t0 := range invite {
		t1, ok := answered[id]
		if !ok {
			missing++
			continue
		}
		d = append(d, time.Duration((t1-t0)*float64(time.Second)))
	}
	_ = os.Remove(c.file)
	return d, missing, nil
}
