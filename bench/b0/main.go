// Command b0 measures the machine floor (B0 in BENCHMARKS.md): CPU per 172-byte
// loopback UDP packet for a minimal Go sender and echo, and the generator ceiling
// that follows. Every server figure is read against it. Run it pinned to one core
// (bench/run does: taskset -c 0, GOMAXPROCS=1).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/bench/internal/harness"
)

func main() {
	n := flag.Int("packets", 200000, "packets per measurement")
	runs := flag.Int("runs", 5, "measurements (the median is reported)")
	results := flag.String("results", "", "append the report to this markdown file")
	table := flag.String("table", "", "append summary rows to this file")
	pacedSteps := flag.String("paced", "400,2000", "stream counts for the paced echo floor ('' = none)")
	pacedWindow := flag.Duration("paced-window", 8*time.Second, "measurement window of each paced echo")
	echoServer := flag.String("paced-echo-server", "", "internal: the paced echo's server, with this many sockets")
	echoClient := flag.String("paced-echo", "", "internal: the paced echo's sender (streams,window), printing JSON")
	flag.Parse()
	if ok, err := harness.PacedEchoMain("-paced-echo-server", *echoServer, "-paced-echo", *echoClient); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "b0:", err)
			os.Exit(1)
		}
		return
	}

	harness.RaiseUDPBuffers()
	f, err := harness.MeasureFloor(*n, *runs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "b0:", err)
		os.Exit(1)
	}
	r := &harness.Report{
		LoadStart: harness.LoadAverage(),
		Title:     "B0: machine floor",
		Method: fmt.Sprintf("one Go process (GOMAXPROCS=%d), 172-byte UDP packets over loopback; "+
			"CPU from getrusage; send: %d sendto into an unread socket; echo: a window of 32 packets "+
			"to an echo socket and back (2 sends + 2 receives each); median of %d runs. Paced echo: a minimal Go echo server (a goroutine "+
			"per socket) on core 0, GOMAXPROCS=1, answering 20 ms streams of 172-byte packets, one socket each, sent from another process "+
			"on core 1 with their phases spread over the 20 ms (as a bridge's legs receive them); its CPU from getrusage over the window after 3 s.",
			runtime.GOMAXPROCS(0), *n, *runs),
	}
	r.Add("B0", "loopback UDP, 1 core", "CPU per send", fmt.Sprintf("%.2f µs", f.SendUS), "anchor 5–7 µs")
	r.Add("B0", "loopback UDP, 1 core", "CPU per send or receive (echo loop)", fmt.Sprintf("%.2f µs", f.PacketOpUS), "–")
	r.Add("B0", "loopback UDP, 1 core", "generator ceiling", fmt.Sprintf("%.0f packets/s (%.0f streams of 20 ms)", f.GeneratorPPS, f.Streams), "–")
	fmt.Fprintf(&r.Detail, "%s\n", f)
	for _, field := range strings.Split(*pacedSteps, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		n, err := strconv.Atoi(field)
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "b0: bad -paced step", field)
			os.Exit(2)
		}
		p, err := harness.MeasurePacedEchoPinned("-paced-echo", n, *pacedWindow)
		if err != nil {
			fmt.Fprintln(os.Stderr, "b0:", err)
			os.Exit(1)
		}
		r.Add("B0", fmt.Sprintf("paced echo, %d streams", n), "CPU per packet echoed (minimal Go echo, sender on the other core)",
			fmt.Sprintf("%.2f µs (%.0f packets/s, %.0f %% of a core)", p.USPerPkt, p.PPS, p.CPUPct), "–")
		fmt.Fprintf(&r.Detail, "%s\n", p)
	}
	if err := r.Finish(os.Stdout, *results, *table); err != nil {
		fmt.Fprintln(os.Stderr, "b0:", err)
		os.Exit(1)
	}
}
