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

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	if _, _, _, err := listenBoth(addr); err == nil || !strings.Contains(err.Error(), "listen tcp "+addr) {
		t.Fatalf("TCP port taken: err = %v", err)
	}
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("the UDP socket of the failed try was left open: %v", err)
	}
	udp.Close()
}
