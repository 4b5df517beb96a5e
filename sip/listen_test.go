package sip

import (
	"net"
	"strings"
	"testing"
)

// Port 0 gives UDP and TCP the same port; a fixed port whose TCP side is taken fails
// with an error that says so, and leaves no UDP socket behind.
func TestListenBoth(t *testing.T) {
	pc, ln, ap, err := listenBoth("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	if ln.Addr().(*net.TCPAddr).Port != int(ap.Port()) || pc.LocalAddr().(*net.UDPAddr).Port != int(ap.Port()) {
		t.Fatalf("udp %v, tcp %v, reported %v", pc.LocalAddr(), ln.Addr(), ap)
	}

	// A TCP port taken by someone; its UDP twin may be taken too (other tests run RTP on
	// loopback at the same time), which is not the case under test: take another.
	for try := 0; ; try++ {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := taken.Addr().String()
		_, _, _, err = listenBoth(addr)
		if err != nil && strings.Contains(err.Error(), "listen udp "+addr) && try < 20 {
			taken.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "listen tcp "+addr) {
			taken.Close()
			t.Fatalf("TCP port taken: err = %v", err)
		}
		udp, err := net.ListenPacket("udp", addr)
		taken.Close()
		if err != nil {
			t.Fatalf("the UDP socket of the failed try was left open: %v", err)
		}
		udp.Close()
		return
	}
}
