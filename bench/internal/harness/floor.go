package harness

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"
)

// Floor is what the machine costs per loopback UDP packet with nothing else
// running: the yardstick for the server's CPU per packet (B0).
type Floor struct {
	SendUS        float64 // CPU µs per 172-byte sendto, kernel loopback delivery included, nobody reading
	PacketOpUS    float64 // CPU µs per packet operation (one send or one receive) in an echo loop
	EchoUS        float64 // CPU µs per packet echoed (client send + server recv + server send + client recv)
	GeneratorPPS  float64 // packets/s one core can send (1e6 / SendUS)
	Streams       float64 // 20 ms streams that ceiling feeds (GeneratorPPS / 50)
	PacketsPerRun int
}

func (f Floor) String() string {
	return fmt.Sprintf("send %.2f µs, echo %.2f µs/packet (%.2f µs per send or receive), generator ceiling %.0f packets/s = %.0f streams",
		f.SendUS, f.EchoUS, f.PacketOpUS, f.GeneratorPPS, f.Streams)
}

// MeasureFloor measures the Go loopback UDP floor in this process: run it pinned
// to one core with GOMAXPROCS=1. n packets per measurement; the median of runs.
func MeasureFloor(n, runs int) (Floor, error) {
	var sends, ops []float64
	for range runs {
		s, err := measureSend(n)
		if err != nil {
			return Floor{}, err
		}
		o, err := measureEcho(n)
		if err != nil {
			return Floor{}, err
		}
		sends = append(sends, s)
		ops = append(ops, o)
	}
	f := Floor{SendUS: Median(sends), PacketOpUS: Median(ops), PacketsPerRun: n}
	f.EchoUS = 4 * f.PacketOpUS
	f.GeneratorPPS = 1e6 / f.SendUS
	f.Streams = f.GeneratorPPS / 50
	return f, nil
}

// measureSend: sendto into a socket nobody reads (the kernel drops once its buffer
// fills, as a far end that is slower would), so only the send path is timed.
func measureSend(n int) (float64, error) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer sink.Close()
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	start := SelfCPU()
	for i := range n {
		pkt[3] = byte(i)
		if _, err := src.WriteToUDPAddrPort(pkt, dst); err != nil {
			return 0, err
		}
	}
	return float64((SelfCPU() - start).Microseconds()) / float64(n), nil
}

// measureEcho: a client keeps a window of packets in flight to an echo socket
// that sends each back; every packet costs two sends and two receives.
func measureEcho(n int) (float64, error) {
	echo, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer echo.Close()
	cl, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	_ = echo.SetReadBuffer(4 << 20)
	_ = cl.SetReadBuffer(4 << 20)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for range n {
			k, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				done <- err
				return
			}
			if _, err := echo.WriteToUDPAddrPort(buf[:k], from); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dst := echo.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 172)
	buf := make([]byte, 2048)
	const window = 32 // well under the socket buffers: no drops
	start := SelfCPU()
	sent, got := 0, 0
	_ = cl.SetReadDeadline(time.Now().Add(60 * time.Second))
	for got < n {
		for sent < n && sent-got < window {
			if _, err := cl.WriteToUDPAddrPort(pkt, dst); err != nil {
				return 0, err
			}
			sent++
		}
		if _, _, err := cl.ReadFromUDPAddrPort(buf); err != nil {
			return 0, fmt.Errorf("harness: echo: %w", err)
		}
		got++
	}
	cpu := SelfCPU() - start
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(cpu.Microseconds()) / float64(4*n), nil
}

// MeasureFloorPinned measures the B0 floor in a child of this program pinned to core 0
// with GOMAXPROCS=1, as the server runs: the program must answer `-floor-only` by
// printing the Floor as JSON.
func MeasureFloorPinned() (Floor, error) {
	self, err := os.Executable()
	if err != nil {
		return Floor{}, err
	}
	argv := append(Pin(0), self, "-floor-only")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	out, err := cmd.Output()
	if err != nil {
		return Floor{}, fmt.Errorf("b0 floor: %w", err)
	}
	var f Floor
	return f, json.Unmarshal(out, &f)
}
