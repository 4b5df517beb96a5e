package harness

import (
	"net"
	"testing"
	"time"
)

// The tap sees exactly the packets whose RTP payload carries the tag, with their
// ports and the kernel's times, in order.
func TestLoTapSeesTaggedPackets(t *testing.T) {
	tap, err := StartLoTap(0x20, 0xf0, 0x30)
	if err != nil {
		t.Fatal(err)
	}
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	to := b.LocalAddr().(*net.UDPAddr)
	send := func(first, second, n byte) {
		p := make([]byte, 12+160)
		p[0] = 0x80
		p[12], p[13], p[14] = first, second, n
		if _, err := a.WriteToUDP(p, to); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	send(0x21, 0x30, 1) // tagged
	send(0x21, 0x31, 2) // second byte differs
	send(0x31, 0x30, 3) // first byte differs under the mask
	send(0x2f, 0x30, 4) // tagged
	send(0x20, 0x30, 5) // tagged
	deadline := time.Now().Add(5 * time.Second)
	for {
		tap.mu.Lock()
		n := len(tap.seen)
		tap.mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything wrongly kept would be in by now
	seen, err := tap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Fatalf("saw %d packets, want the 3 tagged ones: %+v", len(seen), seen)
	}
	src, dst := uint16(a.LocalAddr().(*net.UDPAddr).Port), uint16(to.Port)
	for i, want := range []byte{1, 4, 5} {
		s := seen[i]
		if s.Tag[2] != want || s.Src != src || s.Dst != dst {
			t.Errorf("sighting %d: tag %x %d→%d, want packet %d %d→%d", i, s.Tag, s.Src, s.Dst, want, src, dst)
		}
		if s.At.Before(before.Add(-time.Second)) || s.At.After(time.Now()) {
			t.Errorf("sighting %d at %v, outside the test's %v..now", i, s.At, before)
		}
		if i > 0 && s.At.Before(seen[i-1].At) {
			t.Errorf("sighting %d earlier than the one before", i)
		}
	}
}
