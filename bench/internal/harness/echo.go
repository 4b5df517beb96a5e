package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// PacedEcho is the second B0 figure: the CPU a minimal Go UDP echo server spends per
// packet when its packets come the way a bridge's do: many 20 ms streams, one socket
// each on its side, from a sender in another process on the other core. MeasureFloor's echo loop
// keeps 32 packets in flight on one socket inside one thread, so it pays no wake-up
// of a sleeping reader, no network-poller round and no cross-core interrupt; this one
// pays all of them, as any server answering phones does.
type PacedEcho struct {
	Streams   int     // sockets, each receiving one 172-byte packet per 20 ms
	PPS       float64 // packets echoed per second, measured
	CPUPct    float64 // the echo server's CPU, % of one core
	USPerPkt  float64 // its CPU µs per packet echoed (one receive and one send), counted by the server
	Lost      int64   // packets sent in the window and not back (the sender's own drops included)
	WindowSec float64
	// OnWire is the time the first stream's packets spent in the echo server, seen on lo
	// as a bridge's are in B4 (from arrival at its socket to its reply's departure): the
	// latency floor of any program on this core at this load. Empty without the capture
	// (it needs root); OnWireErr says why.
	OnWire    EchoResidence
	OnWireErr string `json:",omitempty"`
}

// EchoResidence is the paced echo's per-packet time inside the server.
type EchoResidence struct {
	Packets       int
	P50, P99, Max time.Duration
}

func (p PacedEcho) String() string {
	s := fmt.Sprintf("minimal Go echo, %d streams of 20 ms from another process on the other core: %.0f packets/s, %.1f %% of a core, %.2f µs per packet echoed, %d not back in %.0f s",
		p.Streams, p.PPS, p.CPUPct, p.USPerPkt, p.Lost, p.WindowSec)
	if p.OnWire.Packets > 0 {
		s += fmt.Sprintf("; in the echo (lo capture, %d packets): p50 %.3f p99 %.3f max %.3f ms",
			p.OnWire.Packets, float64(p.OnWire.P50)/1e6, float64(p.OnWire.P99)/1e6, float64(p.OnWire.Max)/1e6)
	} else if p.OnWireErr != "" {
		s += "; in the echo: not measured (" + p.OnWireErr + ")"
	}
	return s
}

// echoMagic tags the paced echo's probe stream (B4's own probes use other values).
const echoMagic = 0x23

// echoResidence pairs each probe packet's arrival at the echo's port with its reply.
func echoResidence(seen []Sighting, port uint16) EchoResidence {
	in, out := map[int64]time.Time{}, map[int64]time.Time{}
	for _, s := range seen {
		i := TagDecode(s.Tag[2:8])
		if s.Tag[0] != echoMagic || i < 0 {
			continue
		}
		switch {
		case s.Dst == port:
			in[i] = s.At
		case s.Src == port:
			out[i] = s.At
		}
	}
	var ds []time.Duration
	for i, t := range in {
		if o, ok := out[i]; ok {
			ds = append(ds, o.Sub(t))
		}
	}
	r := EchoResidence{Packets: len(ds)}
	if len(ds) > 0 {
		r.P50, r.P99, r.Max = Percentile(ds, 50), Percentile(ds, 99), Percentile(ds, 100)
	}
	return r
}

// ServeMinimalEcho is the echo server: n sockets on 127.0.0.1, one goroutine each
// reading a datagram and sending it back, the shortest Go program that answers
// RTP. It prints the ports on one line, then its own CPU µs and the packets it has
// sent back so far each time a line arrives on in, and returns when in ends.
func ServeMinimalEcho(n int, in io.Reader, out io.Writer) error {
	ports := make([]string, 0, n)
	var echoed atomic.Int64
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadBuffer(1 << 20)
		ports = append(ports, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		go func() {
			buf := make([]byte, 1500)
			for {
				k, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if _, err := c.WriteToUDPAddrPort(buf[:k], from); err == nil {
					echoed.Add(1)
				}
			}
		}()
	}
	fmt.Fprintln(out, strings.Join(ports, ","))
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fmt.Fprintln(out, SelfCPU().Microseconds(), echoed.Load())
	}
	return nil
}

// MeasurePacedEcho starts ServeMinimalEcho as a child of this program pinned to core 0
// with GOMAXPROCS=1 (argv: the program's flag that calls it, followed by the stream
// count) and sends it n streams of one 172-byte packet per 20 ms, their phases spread
// over the 20 ms, all from one socket
// in batches (sendmmsg, recvmmsg); after a 3 s warm-up it reads the child's
// CPU over window. Run it on the other core (MeasurePacedEchoPinned does).
func MeasurePacedEcho(serverFlag string, n int, window time.Duration) (PacedEcho, error) {
	self, err := os.Executable()
	if err != nil {
		return PacedEcho{}, err
	}
	argv := append(Pin(0), self, serverFlag, strconv.Itoa(n))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	toChild, err := cmd.StdinPipe()
	if err != nil {
		return PacedEcho{}, err
	}
	fromChild, err := cmd.StdoutPipe()
	if err != nil {
		return PacedEcho{}, err
	}
	if err := cmd.Start(); err != nil {
		return PacedEcho{}, err
	}
	defer func() {
		toChild.Close()
		_ = cmd.Wait()
	}()
	rd := bufio.NewReader(fromChild)
	line, err := rd.ReadString('\n')
	if err != nil {
		return PacedEcho{}, fmt.Errorf("harness: echo server: %w", err)
	}
	var dsts []netip.AddrPort
	for _, f := range strings.Split(strings.TrimSpace(line), ",") {
		port, err := strconv.Atoi(f)
		if err != nil {
			return PacedEcho{}, fmt.Errorf("harness: echo server said %q", line)
		}
		dsts = append(dsts, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)))
	}
	// One socket sends every stream and reads every reply: the cheapest sender, so that
	// the streams keep their pace at 100,000 packets/s, and a reader that is mostly awake,
	// which spares the echo server the cost of waking it: the floor errs low.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return PacedEcho{}, err
	}
	defer c.Close()
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	var sent, back atomic.Int64
	pc := ipv4.NewPacketConn(c)
	go CountReplies(pc, &back)
	stop := make(chan struct{})
	defer close(stop)
	// The first stream's packets carry a numbered tag for the lo capture.
	go PaceStreams(pc, dsts, stop, &sent, func(stream int, frame int64, b []byte) {
		clear(b)
		b[0] = 0x80
		if stream == 0 {
			b[12], b[13] = echoMagic, 0x30
			TagEncode(b[14:20], uint32(frame))
		}
	})
	// The server's CPU µs and packets echoed so far.
	server := func() (cpu, echoed int64, err error) {
		if _, err := fmt.Fprintln(toChild); err != nil {
			return 0, 0, err
		}
		l, err := rd.ReadString('\n')
		if err != nil {
			return 0, 0, err
		}
		if _, err := fmt.Sscan(l, &cpu, &echoed); err != nil {
			return 0, 0, fmt.Errorf("harness: echo server said %q", l)
		}
		return cpu, echoed, nil
	}
	time.Sleep(3 * time.Second)
	c0, e0, err := server()
	if err != nil {
		return PacedEcho{}, err
	}
	s0, b0 := sent.Load(), back.Load()
	tap, tapErr := StartLoTap(echoMagic, 0xff, 0x30)
	time.Sleep(window)
	c1, e1, err := server()
	if err != nil {
		if tap != nil {
			_, _ = tap.Stop()
		}
		return PacedEcho{}, err
	}
	time.Sleep(100 * time.Millisecond) // the window's last packets on their way back
	s1, b1 := sent.Load(), back.Load()
	var onWire EchoResidence
	if tap != nil {
		var seen []Sighting
		if seen, tapErr = tap.Stop(); tapErr == nil {
			onWire = echoResidence(seen, dsts[0].Port())
		}
	}
	onWireErr := ""
	if tapErr != nil {
		onWireErr = tapErr.Error()
	}
	pkts := e1 - e0
	if pkts <= 0 || b1 == b0 {
		return PacedEcho{}, fmt.Errorf("harness: no packet came back from the echo server")
	}
	sec := window.Seconds()
	return PacedEcho{
		Streams:   n,
		PPS:       float64(pkts) / sec,
		CPUPct:    float64(c1-c0) / sec / 1e4,
		USPerPkt:  float64(c1-c0) / float64(pkts),
		Lost:      max(0, (s1-s0)-(b1-b0)),
		WindowSec: sec,
		OnWire:    onWire,
		OnWireErr: onWireErr,
	}, nil
}

// MeasurePacedEchoPinned runs MeasurePacedEcho in a child of this program pinned to
// core 1 (argv: clientFlag followed by the stream count and the window), which prints
// the result as JSON; the echo server it starts is pinned to core 0, where the server
// under test runs.
func MeasurePacedEchoPinned(clientFlag string, n int, window time.Duration) (PacedEcho, error) {
	self, err := os.Executable()
	if err != nil {
		return PacedEcho{}, err
	}
	argv := append(Pin(1), self, clientFlag, fmt.Sprintf("%d,%s", n, window))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return PacedEcho{}, fmt.Errorf("paced echo: %w", err)
	}
	var p PacedEcho
	return p, json.Unmarshal(out, &p)
}

// PacedEchoMain serves the two internal flags of a program that measures the paced
// echo: the server side (the stream count) or the client side ("n,window", printing
// JSON). It reports whether it handled one of them.
func PacedEchoMain(serverFlag, serverArg, clientFlag, clientArg string) (bool, error) {
	switch {
	case serverArg != "":
		n, err := strconv.Atoi(serverArg)
		if err != nil {
			return true, fmt.Errorf("%s: %w", serverFlag, err)
		}
		return true, ServeMinimalEcho(n, os.Stdin, os.Stdout)
	case clientArg != "":
		nStr, wStr, _ := strings.Cut(clientArg, ",")
		n, err := strconv.Atoi(nStr)
		if err != nil {
			return true, fmt.Errorf("%s: %w", clientFlag, err)
		}
		w, err := time.ParseDuration(wStr)
		if err != nil {
			return true, fmt.Errorf("%s: %w", clientFlag, err)
		}
		p, err := MeasurePacedEcho(serverFlag, n, w)
		if err != nil {
			return true, err
		}
		return true, json.NewEncoder(os.Stdout).Encode(p)
	}
	return false, nil
}

// CountReplies reads what comes back to pc, in batches (recvmmsg), counting the packets
// in n, until pc is closed.
func CountReplies(pc *ipv4.PacketConn, n *atomic.Int64) {
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	for {
		k, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		n.Add(int64(k))
	}
}

// PaceStreams sends len(dsts) streams of one 172-byte packet per 20 ms (20 ms of PCMU
// behind an RTP header), their phases spread evenly over the 20 ms, all from pc's one
// socket, until stop closes: each millisecond, what fell due goes out in batches
// (sendmmsg), every packet to its own destination. fill writes stream's packet of
// frame into b (each packet has a buffer of its own until its batch has gone); sent
// counts what the kernel took.
func PaceStreams(pc *ipv4.PacketConn, dsts []netip.AddrPort, stop <-chan struct{}, sent *atomic.Int64, fill func(stream int, frame int64, b []byte)) {
	if len(dsts) == 0 {
		return
	}
	addrs := make([]*net.UDPAddr, len(dsts))
	for i, d := range dsts {
		addrs[i] = net.UDPAddrFromAddrPort(d)
	}
	batch := make([]ipv4.Message, 0, 256)
	bufs := make([][]byte, cap(batch))
	for i := range bufs {
		bufs[i] = make([]byte, 172)
	}
	flush := func() {
		for len(batch) > 0 {
			n, err := pc.WriteBatch(batch, 0)
			if err != nil {
				batch = batch[:0]
				return
			}
			sent.Add(int64(n))
			batch = batch[:copy(batch, batch[n:])]
		}
	}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	next, frame := 0, int64(0)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		elapsed := time.Since(start)
		for {
			due := time.Duration(frame)*20*time.Millisecond + time.Duration(next)*20*time.Millisecond/time.Duration(len(dsts))
			if due > elapsed {
				break
			}
			b := bufs[len(batch)]
			fill(next, frame, b)
			batch = append(batch, ipv4.Message{Buffers: [][]byte{b}, Addr: addrs[next]})
			if len(batch) == cap(batch) {
				flush()
			}
			if next++; next == len(dsts) {
				next, frame = 0, frame+1
			}
		}
		flush()
	}
}
