package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hotline-12345/hotline/internal/testkit"
)

// ChildCPU is the CPU time of every child process waited for so far (getrusage
// RUSAGE_CHILDREN): the delta around a SIPp run is SIPp's own CPU, exactly.
func ChildCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RunSIPp runs SIPp pinned to core 1 in a fresh folder under dir and returns its
// result and its CPU time.
func RunSIPp(ctx context.Context, dir, name string, o testkit.SIPpOpts) (testkit.SIPpResult, time.Duration, error) {
	o.Dir = filepath.Join(dir, name)
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return testkit.SIPpResult{}, 0, err
	}
	o.Wrapper = Pin(1)
	before := ChildCPU()
	s, err := testkit.StartSIPpProcess(ctx, o)
	if err != nil {
		return testkit.SIPpResult{}, 0, err
	}
	res, err := s.Wait()
	return res, ChildCPU() - before, err
}

// StartSIPp starts SIPp pinned to core 1 in a fresh folder under dir.
func StartSIPp(ctx context.Context, dir, name string, o testkit.SIPpOpts) (*testkit.SIPp, error) {
	o.Dir = filepath.Join(dir, name)
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	o.Wrapper = Pin(1)
	s, err := testkit.StartSIPpProcess(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("harness: sipp %s: %w", name, err)
	}
	return s, nil
}
