package media

import (
	"bytes"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowTicker stands for a leg whose tick takes long (a busy core, many taps). The
// first of them, once armed, sends a packet into a bridge; each one after it looks
// whether the bridge's far end has it yet.
type slowTicker struct {
	i    int
	run  *slowRun
	busy time.Duration
}

type slowRun struct {
	armed   atomic.Bool
	send    func()
	arrived func() bool
	started bool // the armed slot's first ticker has run (only the clock's goroutine uses it)
	seenAt  int  // index of the first ticker that saw the packet at the far end; -1 until then
	ticked  int  // tickers that ran in the armed tick
	done    chan struct{}
}

func (s *slowTicker) tick(time.Time) {
	r := s.run
	if !r.armed.Load() {
		return
	}
	if s.i == 0 {
		r.started = true
		r.send()
	} else if !r.started { // armed in the middle of the slot: wait for its next turn
		return
	} else if r.seenAt < 0 && r.arrived() {
		r.seenAt = s.i
	}
	for t0 := time.Now(); time.Since(t0) < s.busy; { // busy, as real work is: no scheduling point
	}
	r.ticked++
	if r.ticked == cap(r.done) {
		r.armed.Store(false)
		close(r.done)
	}
}

// A packet that reaches a bridged leg while the clock is in the middle of a long tick is
// relayed by the clock between its legs, not after the tick. With one P the poller's
// own goroutine cannot run until the clock's goroutine parks, so only the clock can
// have relayed it before the tick ended.
func TestClockRelaysLivePacketsMidTick(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newTestEngine(t)
	peerA, peerB := newPeer(t), newPeer(t)
	a, _ := e.NewRTPLeg(RTPLegOptions{ID: "a"})
	b, _ := e.NewRTPLeg(RTPLegOptions{ID: "b"})
	defer a.Close()
	defer b.Close()
	a.Configure(Remote{Addr: addrOf(peerA), Codec: PCMU, Send: true, Recv: true})
	b.Configure(Remote{Addr: addrOf(peerB), Codec: PCMU, Send: true, Recv: true})
	a.Start()
	b.Start()
	Bridge(a, b)

	payload := bytes.Repeat([]byte{0x5a}, FrameSamples)
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	rc, err := peerB.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	arrived := func() bool { // reads peer B without blocking and without Go's poller
		found := false
		rc.Control(func(fd uintptr) {
			for {
				n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
				if err != nil {
					return
				}
				if n == 12+FrameSamples && bytes.Equal(buf[12:n], payload) {
					found = true
				}
			}
		})
		return found
	}
	const legs = 32
	run := &slowRun{seenAt: -1, done: make(chan struct{}, legs), arrived: arrived,
		send: func() { peerA.WriteToUDP(rtpPacket(0, 7, 1600, 0xa11ce, payload), dst) }}
	p := e.pacers[0]
	start := time.Now()
	tickers := make([]*slowTicker, legs)
	for i := range tickers {
		tickers[i] = &slowTicker{i: i, run: run, busy: 100 * time.Microsecond}
		p.add(tickers[i], start)
	}
	defer func() {
		for _, s := range tickers {
			p.remove(s, start)
		}
	}()
	arrived() // what b sent before: its fill-in silence
	run.armed.Store(true)
	select {
	case <-run.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the slow slot never ran")
	}
	if run.seenAt < 0 {
		t.Fatalf("the relayed packet reached the far end only after a %d-leg tick of %v", legs, legs*100*time.Microsecond)
	}
	if run.seenAt > legs/2 {
		t.Errorf("the relayed packet reached the far end after %d of %d slow legs, want within the first half", run.seenAt, legs)
	}
}
