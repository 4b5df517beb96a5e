package media

import (
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// A leg sends RTCP to the port above the peer's RTP port: a sender report with our
// SSRC, counts and a reception report of the peer's stream, and an SDES with the CNAME;
// a receiver report the peer sends back sets the loss it reports about our stream.
func TestLegSendsAndReadsRTCP(t *testing.T) {
	leg, peer, peerRTCP := startedLeg(t, EngineConfig{RTCPInterval: 100 * time.Millisecond})
	for i := 0; i < 20; i++ { // the peer talks, so the report has a block about it
		if _, err := peer.WriteToUDPAddrPort(rtpPacket(0, uint16(100+i), uint32(i*FrameSamples), 0xabcd, make([]byte, FrameSamples)), leg.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 1500)
	var sr *rtcp.SenderReport
	var cname string
	deadline := time.Now().Add(5 * time.Second)
	for (sr == nil || len(sr.Reports) == 0) && time.Now().Before(deadline) {
		_ = peerRTCP.SetReadDeadline(deadline)
		n, from, err := peerRTCP.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no RTCP from the leg: %v", err)
		}
		if from.Port() != leg.LocalAddr().Port()+1 {
			t.Errorf("RTCP from port %d, want %d", from.Port(), leg.LocalAddr().Port()+1)
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			t.Fatalf("the leg's RTCP does not parse: %v (% x)", err, buf[:n])
		}
		if len(pkts) != 2 {
			t.Fatalf("compound packet of %d packets, want SR and SDES", len(pkts))
		}
		sr, _ = pkts[0].(*rtcp.SenderReport)
		sdes, _ := pkts[1].(*rtcp.SourceDescription)
		if sr == nil || sdes == nil || len(sdes.Chunks) != 1 || len(sdes.Chunks[0].Items) != 1 {
			t.Fatalf("want SR then SDES with one CNAME, got %#v", pkts)
		}
		cname = sdes.Chunks[0].Items[0].Text
	}
	if sr == nil || len(sr.Reports) != 1 {
		t.Fatalf("no sender report with a reception report: %#v", sr)
	}
	if sr.SSRC != leg.ssrc || cname != rtcpCNAME {
		t.Errorf("SR SSRC %x CNAME %q, want %x %q", sr.SSRC, cname, leg.ssrc, rtcpCNAME)
	}
	if rr := sr.Reports[0]; rr.SSRC != 0xabcd || rr.LastSequenceNumber&0xffff != 119 {
		t.Errorf("reception report %+v, want SSRC abcd and highest sequence 119", rr)
	}
	if sr.PacketCount == 0 || sr.OctetCount != sr.PacketCount*FrameSamples {
		t.Errorf("SR counts %d packets %d octets", sr.PacketCount, sr.OctetCount)
	}

	// The peer reports a quarter of our packets lost.
	rrPkt, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0xabcd, Reports: []rtcp.ReceptionReport{{SSRC: leg.ssrc, FractionLost: 64}}}})
	if _, err := peerRTCP.WriteToUDPAddrPort(rrPkt, netip.AddrPortFrom(leg.LocalAddr().Addr(), leg.LocalAddr().Port()+1)); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) && leg.Stats().RemoteLossFrac != 0.25 {
		time.Sleep(10 * time.Millisecond)
	}
	if got := leg.Stats().RemoteLossFrac; got != 0.25 {
		t.Errorf("remote-reported loss %v, want 0.25", got)
	}
}

// Building the sender report allocates nothing.
func TestSenderReportAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 1500)
	rr := &rtcp.ReceptionReport{SSRC: 1, FractionLost: 2, TotalLost: 3}
	if n := testing.AllocsPerRun(100, func() { _ = appendSenderReport(buf[:0], 1, 2, 3, 4, 5, rr) }); n != 0 {
		t.Errorf("%.1f allocations per report", n)
	}
}

// startedLeg starts a PCMU leg on an engine of cfg (one pacer, ports 42000-42999)
// talking to a far end's RTP port and the RTCP port above it; all closed at the end.
func startedLeg(t *testing.T, cfg EngineConfig) (leg *RTPLeg, peer, peerRTCP *net.UDPConn) {
	t.Helper()
	cfg.PortMin, cfg.PortMax, cfg.Pacers = 42000, 42999, 1
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	peer, peerRTCP = peerPair(t)
	leg, err = e.NewRTPLeg(RTPLegOptions{ID: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leg.Close() })
	leg.Configure(Remote{Addr: addrOf(peer), Codec: PCMU, Send: true, Recv: true})
	if err := leg.Start(); err != nil {
		t.Fatal(err)
	}
	return leg, peer, peerRTCP
}

// peerPair binds a far end's RTP port and the RTCP port above it.
func peerPair(t *testing.T) (rtpConn, rtcpConn *net.UDPConn) {
	for port := 43000; port < 44000; port += 2 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			a.Close()
			continue
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	t.Fatal("no free port pair in 43000-43999")
	return nil, nil
}

// With Realtime the clock runs on a SCHED_FIFO thread where the process may (root or
// CAP_SYS_NICE), or says why not; either way it keeps pacing.
func TestRealtimeClock(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(b)
	}), nil))
	_, peer, _ := startedLeg(t, EngineConfig{Realtime: true, Logger: log})
	buf := make([]byte, 1500)
	for i := 0; i < 10; i++ {
		_ = peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := peer.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
	fifo := false
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 38 && f[38] == "1" { // policy (field 41): 1 = SCHED_FIFO
			fifo = true
		}
	}
	mu.Lock()
	warned := strings.Contains(logs.String(), "no real-time priority")
	mu.Unlock()
	t.Logf("SCHED_FIFO thread: %v, warning: %v", fifo, warned)
	if fifo == warned {
		t.Errorf("a SCHED_FIFO thread: %v; the warning logged: %v — want exactly one", fifo, warned)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
