// Package harness holds what the benchmark programs (bench/b0, b1, b2) share:
// per-process CPU and memory from /proc, starting a pinned hotline server,
// the UDP floor measurement (B0), percentiles, and the results file.
//
// Benchmarks print figures; they never pass or fail on timing. Rules they follow
// are in bench/README.md: server pinned to core 0 with GOMAXPROCS=1, SIPp on core 1,
// per-process CPU from /proc/PID/stat, a run voided when the generator passes 70 %.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ: /proc reports CPU time in these units. It is 100 on every
// Linux architecture Go supports (the kernel ABI fixes it), and Go has no sysconf.
const clockTicks = 100

// procStat is /proc/PID/stat split into fields from field 3 (state) on: the command
// name (field 2) may hold spaces, so the fields count from its ')'.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("harness: malformed /proc stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

// ProcCPU is a process's user+system CPU time so far, from /proc/PID/stat.
func ProcCPU(pid int) (time.Duration, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	if len(f) < 13 {
		return 0, errors.New("harness: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 utime
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15 stime
	if err1 != nil || err2 != nil {
		return 0, errors.New("harness: bad /proc stat times")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// ProcTreeCPU is ProcCPU of a process plus that of its children (hotline's disk helper:
// work the server hands to another process is still the server's cost).
func ProcTreeCPU(pid int) (time.Duration, error) {
	total, err := ProcCPU(pid)
	if err != nil {
		return 0, err
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if procParent(child) == pid {
			if c, err := ProcCPU(child); err == nil {
				total += c
			}
		}
	}
	return total, nil
}

// procParent is a process's parent pid (field 4 of /proc/PID/stat), 0 if unknown.
func procParent(pid int) int {
	f, err := procStat(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// ProcRSS is a process's resident set (VmRSS) in bytes.
func ProcRSS(pid int) (int64, error) {
	return procStatusKB(pid, "VmRSS:")
}

func procStatusKB(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), key) {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 {
				kb, err := strconv.ParseInt(fs[1], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("harness: %s not in /proc/%d/status", key, pid)
}

// SelfCPU is this process's CPU time (getrusage), finer than /proc's 10 ms ticks.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// UDPRcvbufErrors is the kernel's count of UDP datagrams dropped for a full
// receive buffer (/proc/net/snmp), machine-wide (namespace-wide).
func UDPRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return -1
	}
	var head []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Udp: ") {
			continue
		}
		f := strings.Fields(l)
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				return n
			}
		}
	}
	return -1
}

// Percentile returns the p-th percentile (0..100) of d by nearest rank.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(len(s)-1, i))]
}

// Median of float64s.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Machine describes where the figures were taken.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	commit := "?"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	// The load average says whether anything else competed for the cores: figures
	// taken with it well above 2 on this 2-core machine are not comparable.
	load := LoadAverage()
	return fmt.Sprintf("%s, %d cores, Linux %s, %s, commit %s, load average %s", model, machineCores(), kernel, runtime.Version(), commit, load)
}

// machineCores counts the machine's CPUs; runtime.NumCPU reports only the ones
// this process may use, which is 1 under taskset.
func machineCores() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	return max(n, 1)
}

// LoadAverage is the 1-minute load average, as text.
func LoadAverage() string {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			return f[0]
		}
	}
	return "?"
}

// Row is one line of the summary table that bench/run prints.
type Row struct {
	Bench, Load, Figure, Value, Target string
}

// Report collects a benchmark's rows and free-form detail for RESULTS.md.
type Report struct {
	Title     string
	Method    string
	LoadStart string // load average when the run began (Machine gives it at the end)
	Rows      []Row
	Detail    bytes.Buffer
}

// Add appends a summary row.
func (r *Report) Add(bench, load, figure, value, target string) {
	r.Rows = append(r.Rows, Row{bench, load, figure, value, target})
}

// Markdown renders the rows as a table.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| bench | load | figure | value | target |\n| --- | --- | --- | --- | --- |\n")
	for _, x := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", x.Bench, x.Load, x.Figure, x.Value, x.Target)
	}
	return b.String()
}

// Finish prints the report and appends it to the results file (if not empty) and
// the summary rows to the table file (if not empty; bench/run concatenates them).
func (r *Report) Finish(stdout io.Writer, resultsFile, tableFile string) error {
	fmt.Fprintf(stdout, "\n%s\n\n%s", r.Title, r.Markdown())
	if r.Detail.Len() > 0 {
		fmt.Fprintf(stdout, "\n%s", r.Detail.String())
	}
	if tableFile != "" {
		f, err := os.OpenFile(tableFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		for _, x := range r.Rows {
			fmt.Fprintf(f, "| %s | %s | %s | %s | %s |\n", x.Bench, x.Load, x.Figure, x.Value, x.Target)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if resultsFile == "" {
		return nil
	}
	f, err := os.OpenFile(resultsFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	start := ""
	if r.LoadStart != "" {
		start = " (" + r.LoadStart + " at the start)"
	}
	fmt.Fprintf(f, "\n## %s — %s\n\nMachine: %s%s.\n\nMethod: %s\n\n%s", r.Title, time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine(), start, r.Method, r.Markdown())
	if r.Detail.Len() > 0 {
		fmt.Fprintf(f, "\n```\n%s```\n", r.Detail.String())
	}
	return f.Close()
}

// Pin returns the command prefix that pins a process to one core, or nothing
// when taskset is missing or the machine has one core.
//
// The machine's cores, not runtime.NumCPU: that counts the cores this process may use,
// so a process started pinned (the paced echo's client, on core 1) saw one core and
// left its echo server on its own core instead of the server's.
func Pin(core int) []string {
	if machineCores() < 2 {
		return nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil
	}
	return []string{"taskset", "-c", strconv.Itoa(core)}
}

// FreePort returns a port free on 127.0.0.1 for UDP and TCP.
func FreePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", l.Addr().String())
		l.Close()
		if err == nil {
			u.Close()
			return p, nil
		}
	}
	return 0, errors.New("harness: no free port")
}

// Hotline is a hotline server started for a benchmark.
type Hotline struct {
	SIPAddr  string
	HTTPAddr string
	Dir      string
	cmd      *exec.Cmd
	log      *os.File
	exited   chan struct{}
}

// BuildHotline compiles ./cmd/hotline from the module root into dir.
func BuildHotline(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "hotline")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hotline")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("harness: go build ./cmd/hotline: %v\n%s", err, out)
	}
	return bin, nil
}

// healthWait is how long StartHotline waits for /healthz.
const healthWait = 2 * time.Minute

// StartHotline runs `hotline serve` pinned to core 0 with GOMAXPROCS=1 and waits
// for /healthz.
func StartHotline(ctx context.Context, bin, config, dir string) (*Hotline, error) {
	sipPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	h := &Hotline{
		SIPAddr:  fmt.Sprintf("127.0.0.1:%d", sipPort),
		HTTPAddr: fmt.Sprintf("127.0.0.1:%d", httpPort),
		Dir:      dir,
	}
	if h.log, err = os.Create(filepath.Join(dir, "hotline.log")); err != nil {
		return nil, err
	}
	argv := append(Pin(0), bin, "serve", "--sip", h.SIPAddr, "--http", h.HTTPAddr,
		"--data", filepath.Join(dir, "data"), "--log-level", "warn")
	if config != "" {
		argv = append(argv, "--config", config)
	}
	h.cmd = exec.Command(argv[0], argv[1:]...)
	// One processor for one core, as the benchmarks define the server's share;
	// B_GOMAXPROCS overrides it for experiments (still on core 0).
	procs := "1"
	if v := os.Getenv("B_GOMAXPROCS"); v != "" {
		procs = v
	}
	h.cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs, "HOTLINE_ADMIN_TOKEN=bench")
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	h.exited = exited
	go func() { _ = h.cmd.Wait(); close(exited) }()
	// A first start with many agents creates their users (a password hash each) on the
	// one core the server has: 1,650 agents took over 30 s on the AMD VM.
	deadline := time.Now().Add(healthWait)
	for {
		resp, err := http.Get("http://" + h.HTTPAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return h, nil
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("harness: hotline exited at start:\n%s", h.LogTail())
		case <-ctx.Done():
			h.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.Stop()
			return nil, fmt.Errorf("harness: hotline not healthy after %v:\n%s", healthWait, h.LogTail())
		}
	}
}

// Pid of the server (taskset execs it, so this is hotline itself).
func (h *Hotline) Pid() int { return h.cmd.Process.Pid }

// LogTail is the end of the server's log.
func (h *Hotline) LogTail() string {
	b, _ := os.ReadFile(h.log.Name())
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// Stop sends SIGTERM and waits up to 15 s, then kills.
func (h *Hotline) Stop() {
	if h.cmd.Process == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(15 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.exited
	}
	h.log.Close()
}

// RaiseUDPBuffers sets net.core.{r,w}mem_max to 4 MiB when allowed (BENCHMARKS.md),
// and the defaults too: SIPp does not size its media sockets, so its -rtp_echo
// socket (every agent's audio in B4) would otherwise drop bursts at 208 KiB.
func RaiseUDPBuffers() {
	for _, k := range []string{"rmem_max", "wmem_max", "rmem_default", "wmem_default"} {
		_ = os.WriteFile("/proc/sys/net/core/"+k, []byte("4194304"), 0o644)
	}
}

// ModuleRoot finds the directory holding go.mod, from the working directory up.
func ModuleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("harness: go.mod not found above the working directory")
		}
		d = p
	}
}

// ProcUDPDrops sums the kernel's per-socket drop counters (/proc/net/udp, last
// column) over the UDP sockets that process pid holds: drops at the server itself,
// unlike RcvbufErrors, which also counts SIPp's unread media socket.
func ProcUDPDrops(pid int) (int64, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var total int64
	for _, table := range []string{"udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 13 || !inodes[f[9]] {
				continue
			}
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			total += n
		}
	}
	return total, nil
}

// fallbackConfig is what the benchmarks run with until bench/hotline-bench.yaml
// exists: the built-in configuration with admission limits above the loads
// (BENCHMARKS measure the server, not its admission control).
const fallbackConfig = `# written by bench: bench/hotline-bench.yaml was missing
sip:
  max_calls: 5000
  max_calls_per_second: 1000
`

// ResolveConfig returns the config file for the server: config (relative to the
// module root) if it exists, else a fallback written into dir. The description
// names it for the report.
func ResolveConfig(root, config, dir string) (path, description string, err error) {
	if config != "" {
		if !filepath.IsAbs(config) {
			config = filepath.Join(root, config)
		}
		if _, err := os.Stat(config); err == nil {
			return config, filepath.Base(config), nil
		}
	}
	path = filepath.Join(dir, "hotline-bench-fallback.yaml")
	if err := os.WriteFile(path, []byte(fallbackConfig), 0o644); err != nil {
		return "", "", err
	}
	return path, "built-in with sip.max_calls 5000, max_calls_per_second 1000 (" + config + " missing)", nil
}

// Metrics scrapes the server's /metrics and sums every sample by metric name
// (labels folded together): enough for counters such as packets sent.
func (h *Hotline) Metrics() (map[string]float64, error) {
	resp, err := http.Get("http://" + h.HTTPAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value follows the closing brace.
			j := strings.LastIndexByte(line, '}')
			name, rest, ok = line[:i], strings.TrimSpace(line[j+1:]), j > 0
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// PinSelf moves every thread of this process to core (threads started later inherit
// it): the bench's own work (probes, captures, scrapes) shares the load generator's
// core and never takes the server's. Measured in B4 before this: the bench process,
// unpinned, ran on the server's core for up to 4.8 ms at a time while the server's
// threads waited, which showed as the server's own latency. No-op on one core.
func PinSelf(core int) error {
	if machineCores() < 2 {
		return nil
	}
	var set unix.CPUSet
	set.Set(core)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("harness: pin thread %d to core %d: %w", tid, core, err)
		}
	}
	return nil
}

// Shield moves every other process's threads off core for a benchmark's run, as a
// media server's core is kept for it in production (cpuset, isolcpus): on the
// benchmark machine, kernel threads such as kdamond and other services' schedulers
// (RabbitMQ's ran 3 ms slices) otherwise take the server's core for milliseconds at a
// time, which then shows as the server's latency. Threads bound to core alone
// (per-core kernel threads) stay. restore gives every moved thread its cores back.
// Processes started later are not touched: the benchmark pins those itself. only, when
// set, limits Shield to the processes it accepts (tests).
func Shield(core int, only func(pid int) bool) (restore func(), moved, kept int, err error) {
	restore = func() {}
	if machineCores() < 2 {
		return restore, 0, 0, nil
	}
	type saved struct {
		tid int
		set unix.CPUSet
	}
	var undo []saved
	self := os.Getpid()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return restore, 0, 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self || only != nil && !only(pid) {
			continue
		}
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue // gone
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			var set unix.CPUSet
			if unix.SchedGetaffinity(tid, &set) != nil || !set.IsSet(core) {
				continue
			}
			to := set
			to.Clear(core)
			if to.Count() == 0 || unix.SchedSetaffinity(tid, &to) != nil {
				kept++ // bound to this core, or may not move (PF_NO_SETAFFINITY)
				continue
			}
			undo = append(undo, saved{tid, set})
			moved++
		}
	}
	restore = func() {
		for _, u := range undo {
			_ = unix.SchedSetaffinity(u.tid, &u.set)
		}
	}
	return restore, moved, kept, nil
}

// CoreTimes is one core's time by kind, from /proc/stat, in clock ticks.
type CoreTimes struct{ Total, Steal, Idle, Softirq int64 }

// BusyPct is the share of the interval from a to b the core spent running anything
// (neither idle nor stolen); SoftirqPct the share in softirq context (on loopback: the
// delivery of packets sent from this core, before any reader wakes).
func BusyPct(a, b CoreTimes) float64 {
	return sharePct(a, b, (b.Total-a.Total)-(b.Idle-a.Idle)-(b.Steal-a.Steal))
}

func SoftirqPct(a, b CoreTimes) float64 { return sharePct(a, b, b.Softirq-a.Softirq) }

// sharePct is part, clock ticks of the interval from a to b, as a share of it (0 when
// the interval is empty).
func sharePct(a, b CoreTimes, part int64) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return 100 * float64(part) / float64(b.Total-a.Total)
}

// ReadCoreTimes reads the core's line of /proc/stat. Steal is time the hypervisor ran
// something else while this virtual core had work: on a VM it adds to every latency
// measured on that core and no program inside can change it.
func ReadCoreTimes(core int) (CoreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CoreTimes{}, err
	}
	return parseCoreTimes(b, core)
}

func parseCoreTimes(b []byte, core int) (CoreTimes, error) {
	prefix := fmt.Sprintf("cpu%d ", core)
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		var t CoreTimes
		for i, s := range f {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return CoreTimes{}, fmt.Errorf("harness: /proc/stat %s: %w", prefix, err)
			}
			if i < 8 { // user nice system idle iowait irq softirq steal; guest time is inside user
				t.Total += v
			}
			switch i {
			case 3, 4: // idle, iowait
				t.Idle += v
			case 6:
				t.Softirq = v
			case 7:
				t.Steal = v
			}
		}
		if len(f) < 8 {
			return CoreTimes{}, fmt.Errorf("harness: /proc/stat %s: %d fields", prefix, len(f))
		}
		return t, nil
	}
	return CoreTimes{}, fmt.Errorf("harness: no %s line in /proc/stat", strings.TrimSpace(prefix))
}

// StealPct is the share of the interval from a to b that the hypervisor stole.
func StealPct(a, b CoreTimes) float64 { return sharePct(a, b, b.Steal-a.Steal) }
