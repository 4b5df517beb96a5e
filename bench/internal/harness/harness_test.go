package harness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProcReaders(t *testing.T) {
	// Burn a little CPU so that the tick counter moves.
	start := time.Now()
	for time.Since(start) < 50*time.Millisecond {
	}
	cpu, err := ProcCPU(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("cpu %v err %v", cpu, err)
	}
	rss, err := ProcRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("rss %d err %v", rss, err)
	}
	// A child that burns CPU counts in its parent's tree.
	child := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	if got := procParent(child.Process.Pid); got != os.Getpid() {
		t.Fatalf("parent of the child: %d, want %d", got, os.Getpid())
	}
	var childCPU time.Duration
	for deadline := time.Now().Add(5 * time.Second); childCPU < 30*time.Millisecond && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		childCPU, _ = ProcCPU(child.Process.Pid)
	}
	own, _ := ProcCPU(os.Getpid())
	tree, err := ProcTreeCPU(os.Getpid())
	if err != nil || tree < own+childCPU {
		t.Fatalf("tree %v (own %v, child %v) err %v", tree, own, childCPU, err)
	}
	if UDPRcvbufErrors() < 0 {
		t.Fatal("no Udp RcvbufErrors in /proc/net/snmp")
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if p := Percentile(d, 50); p != 5 {
		t.Fatalf("p50 %v", p)
	}
	if p := Percentile(d, 99); p != 10 {
		t.Fatalf("p99 %v", p)
	}
	if p := Percentile(nil, 50); p != 0 {
		t.Fatalf("empty %v", p)
	}
}

func TestMeasureFloorSmall(t *testing.T) {
	f, err := MeasureFloor(2000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if f.SendUS <= 0 || f.PacketOpUS <= 0 {
		t.Fatalf("floor %v", f)
	}
}

func TestProcUDPDrops(t *testing.T) {
	// A socket nobody reads, with a tiny buffer, flooded: its drops must show.
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	_ = sink.SetReadBuffer(1024)
	src, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	before, err := ProcUDPDrops(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		_, _ = src.Write(make([]byte, 172))
	}
	after, _ := ProcUDPDrops(os.Getpid())
	if after-before < 100 {
		t.Fatalf("drops %d → %d after flooding a 1 KiB buffer", before, after)
	}
}

func TestMetricsParse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP x\n# TYPE x counter\nhotline_rtp_packets_sent_total 12\n"+
			"hotline_calls_active{number=\"12345\"} 3\nhotline_calls_active{number=\"a b\"} 4\nbad line\n")
	}))
	defer srv.Close()
	h := &Hotline{HTTPAddr: strings.TrimPrefix(srv.URL, "http://")}
	m, err := h.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m["hotline_rtp_packets_sent_total"] != 12 || m["hotline_calls_active"] != 7 {
		t.Fatalf("parsed %v", m)
	}
}

func TestServeMinimalEcho(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeMinimalEcho(3, inR, outW) }()
	rd := bufio.NewReader(outR)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	ports := strings.Split(strings.TrimSpace(line), ",")
	if len(ports) != 3 {
		t.Fatalf("ports %q", line)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range ports {
		dst, err := net.ResolveUDPAddr("udp4", "127.0.0.1:"+p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WriteToUDP([]byte("tone-"+p), dst); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "tone-"+p || from.Port != dst.Port {
			t.Fatalf("echo from %v: %q", from, buf[:n])
		}
	}
	// The count moves just after each reply is sent: ask until it has all three.
	var us, echoed int64
	for deadline := time.Now().Add(5 * time.Second); ; {
		fmt.Fprintln(inW)
		l, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscan(l, &us, &echoed); err != nil || us <= 0 {
			t.Fatalf("server line %q (want CPU µs and packets echoed): %v", l, err)
		}
		if echoed == 3 {
			break
		}
		if echoed > 3 || time.Now().After(deadline) {
			t.Fatalf("the server counts %d packets echoed, want 3", echoed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// After PinSelf every thread of the process, old and new, runs on the one core.
func TestPinSelf(t *testing.T) {
	core := runtime.NumCPU() - 1 // on one core PinSelf does nothing and all holds anyway
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	defer func() { // give the test binary its cores back
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, tk := range tasks {
			if tid, err := strconv.Atoi(tk.Name()); err == nil {
				_ = unix.SchedSetaffinity(tid, &before)
			}
		}
	}()
	if err := PinSelf(core); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // a thread started after the pin
		runtime.LockOSThread()
		var s unix.CPUSet
		if err := unix.SchedGetaffinity(0, &s); err != nil || s.Count() != 1 || !s.IsSet(core) {
			t.Errorf("new thread's cores: %v (err %v), want only core %d", s, err, core)
		}
		close(done)
	}()
	<-done
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		tid, _ := strconv.Atoi(tk.Name())
		var s unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &s); err == nil && (s.Count() != 1 || !s.IsSet(core)) {
			t.Errorf("thread %d on %d cores, want only core %d", tid, s.Count(), core)
		}
	}
}

// Shield moves another process off the core and restore gives its cores back.
func TestShield(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &before); err != nil {
		t.Fatal(err)
	}
	// Only the child: the machine's other processes (other tests) keep their cores.
	restore, moved, _, err := Shield(0, func(pid int) bool { return pid == cmd.Process.Pid })
	if err != nil {
		t.Fatal(err)
	}
	var during unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &during); err != nil {
		t.Fatal(err)
	}
	restore()
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &after); err != nil {
		t.Fatal(err)
	}
	if runtime.NumCPU() >= 2 && before.IsSet(0) && before.Count() > 1 {
		if during.IsSet(0) || moved == 0 {
			t.Errorf("while shielded the child may still run on core 0 (%d threads moved)", moved)
		}
	}
	if after != before {
		t.Errorf("after restore the child's cores differ from before")
	}
}

func TestCoreTimes(t *testing.T) {
	stat := []byte("cpu  10 0 10 100 0 0 0 5 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 10 0 20 60 0 0 0 10 0 0\nintr 1\n")
	a, err := parseCoreTimes(stat, 1)
	if err != nil || a.Total != 100 || a.Steal != 10 {
		t.Fatalf("cpu1 = %+v, %v; want total 100 steal 10", a, err)
	}
	if c0, err := parseCoreTimes(stat, 0); err != nil || c0.Total != 36 || c0.Steal != 8 || c0.Idle != 9 || c0.Softirq != 7 {
		t.Fatalf("cpu0 = %+v, %v; want total 36 steal 8 idle 9 softirq 7 (guest time not counted twice)", c0, err)
	}
	b := CoreTimes{Total: 300, Steal: 20, Idle: 160, Softirq: 30}
	if got := BusyPct(a, b); got != 45 { // 200 ticks: 100 idle, 10 stolen
		t.Errorf("BusyPct = %v, want 45", got)
	}
	if got := SoftirqPct(a, b); got != 15 {
		t.Errorf("SoftirqPct = %v, want 15", got)
	}
	if _, err := parseCoreTimes(stat, 2); err == nil {
		t.Error("cpu2 read from a two-core /proc/stat")
	}
	if _, err := parseCoreTimes([]byte("cpu1 1 2 x 4 5 6 7 8\n"), 1); err == nil {
		t.Error("a malformed line read without error")
	}
	if got := StealPct(a, CoreTimes{Total: 300, Steal: 20}); got != 5 {
		t.Errorf("StealPct = %v, want 5", got)
	}
	live, err := ReadCoreTimes(0)
	if err != nil || live.Total <= 0 {
		t.Fatalf("this machine's core 0: %+v, %v", live, err)
	}
}

func TestEchoResidence(t *testing.T) {
	at := func(ms float64) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms * 1e6)) }
	sight := func(ms float64, src, dst uint16, i uint32, magic byte) Sighting {
		s := Sighting{At: at(ms), Src: src, Dst: dst}
		s.Tag[0], s.Tag[1] = magic, 0x30
		TagEncode(s.Tag[2:8], i)
		return s
	}
	const echo, client = 40000, 50000
	seen := []Sighting{
		sight(0, client, echo, 1, echoMagic), sight(0.1, echo, client, 1, echoMagic),
		sight(20, client, echo, 2, echoMagic), sight(23, echo, client, 2, echoMagic),
		sight(40, client, echo, 3, echoMagic),                              // never answered: not counted
		sight(60, client, echo, 4, 0x21), sight(61, echo, client, 4, 0x21), // another probe's tag
		sight(80, client, 40001, 5, echoMagic), sight(80.2, 40001, client, 5, echoMagic), // another stream
	}
	r := echoResidence(seen, echo)
	if r.Packets != 2 || r.Max != 3*time.Millisecond || r.P50 != 100*time.Microsecond {
		t.Fatalf("residence %+v; want 2 packets, p50 0.1 ms, max 3 ms", r)
	}
	var b [6]byte
	TagEncode(b[:], 0xabc123)
	if got := TagDecode(b[:]); got != 0xabc123 {
		t.Errorf("tag round trip: %x", got)
	}
	if got := TagDecode([]byte{0x40, 0x7f}); got != -1 {
		t.Errorf("a non-tag decoded as %d", got)
	}
}

// A process pinned to one core still pins its children to the core asked for: the
// paced echo's client runs on core 1 and starts its echo server on core 0.
func TestPinFromAPinnedProcess(t *testing.T) {
	if os.Getenv("HARNESS_PIN_HELPER") == "1" { // the pinned process: say what Pin(0) gives
		fmt.Printf("pin=%q\n", strings.Join(Pin(0), " "))
		return
	}
	if machineCores() < 2 {
		t.Fatal("the benchmarks need two cores; this machine has one")
	}
	cmd := exec.Command("taskset", "-c", "1", os.Args[0], "-test.run=^TestPinFromAPinnedProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HARNESS_PIN_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), `pin="taskset -c 0"`) {
		t.Errorf("a process pinned to core 1 pins its children with %s, want taskset -c 0", out)
	}
}
