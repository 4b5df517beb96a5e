package testkit

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// FreePort returns a port that is free on 127.0.0.1 for both UDP and TCP at the
// time of the call (SIP listens on both). The port is released before returning,
// so another process could take it; inside the test namespace nothing else runs.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePorts(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreeUDPPortPair returns an even port p such that p and p+1 (RTP and RTCP) are
// both free for UDP on 127.0.0.1.
func FreeUDPPortPair(t testing.TB) (rtp, rtcp int) {
	t.Helper()
	p, err := freePorts(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	return p, p + 1
}

// freePorts finds base such that base..base+n-1 are all free (UDP and TCP) and base
// is a multiple of align. It probes random ports in 10000-19999: below hotline's
// default RTP range (20000-29999) and the kernel's ephemeral range (32768-60999),
// so that ports the server or the kernel hand out rarely collide with ours.
func freePorts(n, align int) (int, error) {
	for range 200 {
		base := 10000 + rand.IntN(10000-n)
		base -= base % align
		ok := true
		var held []interface{ Close() error }
		for i := range n {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i))
			u, err := net.ListenPacket("udp4", addr)
			if err != nil {
				ok = false
				break
			}
			held = append(held, u)
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, h := range held {
			h.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errNoPort
}
