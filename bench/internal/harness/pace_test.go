package harness

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestPaceStreams: every stream reaches its own destination, one packet a frame in
// order, filled for that stream and frame, and the streams' phases are spread over the
// 20 ms rather than sent together.
func TestPaceStreams(t *testing.T) {
	const n = 4
	var dsts []netip.AddrPort
	var socks []*net.UDPConn
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		socks = append(socks, c)
		dsts = append(dsts, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stop := make(chan struct{})
	var sent atomic.Int64
	var filled [n][16]time.Time // when each stream's frame was filled (frames 0..15)
	done := make(chan struct{})
	go func() {
		defer close(done)
		PaceStreams(ipv4.NewPacketConn(src), dsts, stop, &sent, func(stream int, frame int64, b []byte) {
			b[12] = byte(stream)
			binary.BigEndian.PutUint32(b[13:], uint32(frame))
			if frame < 16 {
				filled[stream][frame] = time.Now()
			}
		})
	}()
	time.Sleep(205 * time.Millisecond)
	close(stop)
	<-done
	if sent.Load() < 4*n {
		t.Fatalf("sent %d packets in 205 ms for %d streams", sent.Load(), n)
	}
	// Stream 3 falls due 15 ms into each frame, stream 0 at its start.
	spread := 0
	for f := range 8 {
		if d := filled[3][f].Sub(filled[0][f]); d >= 9*time.Millisecond && d <= 20*time.Millisecond {
			spread++
		}
	}
	if spread < 4 {
		t.Errorf("stream 3 was sent 9-20 ms after stream 0 in %d of 8 frames, want their phases spread", spread)
	}
	for i, c := range socks {
		buf := make([]byte, 1500)
		frames := 0
		for {
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			if k != 172 || buf[12] != byte(i) {
				t.Fatalf("stream %d got a %d-byte packet filled for stream %d", i, k, buf[12])
			}
			if f := binary.BigEndian.Uint32(buf[13:]); int(f) != frames {
				t.Fatalf("stream %d: frame %d arrived as packet %d", i, f, frames)
			}
			frames++
		}
		if frames < 8 || frames > 12 {
			t.Errorf("stream %d: %d frames in 205 ms, want about 10", i, frames)
		}
	}
}
