package media

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

// poller reads every SIP leg's inbound RTP without a goroutine per leg. The legs'
// sockets sit in one of two epoll sets of the poller's own (level-triggered):
//
//   - live: legs whose packets are relayed to another leg as they come (a bridge of one
//     codec). Go's network poller watches this set's descriptor and wakes the poller's
//     goroutine once for whatever batch arrived, so a relayed packet goes out at once.
//   - ticked: every other leg (IVR, queue, paced bridges). Their packets only feed the
//     jitter buffer, so the media clock drains this set itself at each millisecond tick:
//     one epoll_wait for all of them and one recvfrom per packet, no wake-up, no
//     goroutine switch, no second recvfrom that ends in EAGAIN.
//
// Each ready socket gives one datagram per visit (level triggering reports it again
// while more are queued), read with a raw non-blocking recvfrom into a buffer of the
// reader's: no goroutine, stack or read buffer per leg. Before it serves a batch of
// more than one, it reads each leg's memory and its bridged leg's (warmLeg), so that
// their cache misses overlap.
type poller struct {
	epfd   int // the live set
	tickfd int // the ticked set
	file   *os.File
	rc     syscall.RawConn
	poll   func(uintptr) bool // p.pollOnce, bound once (a method value allocates)
	frames *frameLog          // its media clock's: the batch's logged frames are handed over after it

	mu     sync.Mutex
	legs   map[uint64]*pollEntry // by registration id (the epoll event's data)
	nextID uint64

	live rxScratch // only the poller's goroutine uses it
	tick rxScratch // only the clock's goroutine uses it

	done chan struct{}
}

type pollEntry struct {
	l    *RTPLeg
	fd   int  // the leg's socket, kept here: the leg's own copy changes at close under its locks
	live bool // in the live set (else the ticked one)
}

// rxScratch is one reader's buffers.
type rxScratch struct {
	events [64]syscall.EpollEvent // a batch: the clock waits at most for one
	legs   [64]*RTPLeg            // the batch's legs, looked up under one lock
	buf    [1500]byte
	sa     syscall.RawSockaddrAny
	h      rtp.Header
	warmed uint64 // warmLeg's sums: a plain store keeps its reads
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	tickfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		syscall.Close(tickfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins Go's network poller.
	f := os.NewFile(uintptr(epfd), "rtp-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		syscall.Close(tickfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	p := &poller{epfd: epfd, tickfd: tickfd, file: f, rc: rc, legs: map[uint64]*pollEntry{}, done: make(chan struct{})}
	p.poll = p.pollOnce
	go p.run()
	return p, nil
}

// readable is the epoll registration of a leg's socket; its data is the leg's id.
func readable(id uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

// registration is the leg id an event carries (see readable).
func registration(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func (p *poller) set(live bool) int {
	if live {
		return p.epfd
	}
	return p.tickfd
}

// add starts reading the leg's socket, in the live set if it relays already.
func (p *poller) add(l *RTPLeg, fd int, live bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	id := p.nextID
	ev := readable(id)
	if err := syscall.EpollCtl(p.set(live), syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("media: epoll add: %w", err)
	}
	p.legs[id] = &pollEntry{l: l, fd: fd, live: live}
	l.pollID = id
	return nil
}

// setLive moves a leg between the sets: live while its packets are relayed.
func (p *poller) setLive(l *RTPLeg, live bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.legs[l.pollID]
	if !ok || e.live == live {
		return
	}
	ev := readable(l.pollID)
	if err := syscall.EpollCtl(p.set(live), syscall.EPOLL_CTL_ADD, e.fd, &ev); err != nil {
		return // stays where it is: still read, a tick later at worst
	}
	_ = syscall.EpollCtl(p.set(e.live), syscall.EPOLL_CTL_DEL, e.fd, nil)
	e.live = live
}

// remove stops reading the leg's socket. A batch already read may still hold the leg:
// the caller then waits for the leg's rxMu before it closes the socket.
func (p *poller) remove(l *RTPLeg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.legs[l.pollID]
	if !ok {
		return
	}
	delete(p.legs, l.pollID)
	_ = syscall.EpollCtl(p.set(e.live), syscall.EPOLL_CTL_DEL, e.fd, nil)
}

func (p *poller) run() {
	defer close(p.done)
	for {
		// Read calls poll at once and again each time Go's poller reports the epoll
		// descriptor readable; it returns when poll has handled a batch.
		if err := p.rc.Read(p.poll); err != nil {
			return // closed
		}
		// A batch is done: let the media clock (and anything else due) run before the
		// next one. Under a steady stream of packets this goroutine would otherwise not
		// park for long, and a timer that fell due would wait for preemption (10 ms).
		runtime.Gosched()
	}
}

// pollOnce handles what is ready now in the live set; false (nothing ready) parks the
// goroutine until the set becomes readable.
func (p *poller) pollOnce(uintptr) bool {
	n, ok := p.batch(p.epfd, &p.live)
	if !ok {
		return true // EINTR: try again at once
	}
	if n > 0 && p.frames != nil {
		// The frames this batch relayed go to the recordings now, while they are in the
		// cache, in a piece of work as small as the batch: left to the clock's next tick,
		// a tick that came late found milliseconds of them and held the processor as long.
		p.frames.tryDrain()
	}
	return n > 0
}

// drainTicked reads what the ticked legs received since the last tick; the clock calls
// it at each tick, before the frames go out.
func (p *poller) drainTicked() {
	for {
		n, ok := p.batch(p.tickfd, &p.tick)
		if ok && n < len(p.tick.events) {
			return
		}
	}
}

// batch waits for nothing: it takes the ready events of one set and serves each leg
// once. ok is false on EINTR.
func (p *poller) batch(epfd int, s *rxScratch) (n int, ok bool) {
	r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&s.events[0])), uintptr(len(s.events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno != syscall.EINTR
	}
	n = int(r)
	p.mu.Lock()
	for i := range s.events[:n] {
		s.legs[i] = nil
		if e := p.legs[registration(&s.events[i])]; e != nil {
			s.legs[i] = e.l
		}
	}
	p.mu.Unlock()
	if n > 1 {
		var x uint64
		for _, l := range s.legs[:n] {
			if l != nil {
				x += warmLeg(l)
			}
		}
		s.warmed = x
	}
	for i, l := range s.legs[:n] {
		if l != nil {
			s.legs[i] = nil // no leg kept alive by a stale batch
			p.serve(l, s)
		}
	}
	return n, true
}

// serve reads one datagram of the leg's and hands it to the leg.
func (p *poller) serve(l *RTPLeg, s *rxScratch) {
	l.rxMu.Lock()
	defer l.rxMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			l.e.m.legPanics.Inc()
			l.log.Error("media: panic receiving RTP; ending the leg", "panic", fmt.Sprint(r))
			go l.Close()
		}
	}()
	u := l.udp
	if u.fd < 0 {
		return
	}
	n, from, ok := recvFrom(u.fd, s.buf[:], &s.sa)
	if !ok {
		return
	}
	l.receive(s.buf[:n], from, time.Now(), &s.h)
}

func (p *poller) close() {
	p.file.Close() // ends run's Read
	<-p.done
	syscall.Close(p.tickfd)
}

// recvFrom reads one datagram without blocking; false when none is waiting (or on a
// socket error, which the read clears).
func recvFrom(fd int, b []byte, sa *syscall.RawSockaddrAny) (int, netip.AddrPort, bool) {
	salen := uint32(syscall.SizeofSockaddrAny)
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd),
		uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, netip.AddrPort{}, false
	}
	switch sa.Addr.Family {
	case syscall.AF_INET:
		s := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&s.Port))
		return int(n), netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(port[0])<<8|uint16(port[1])), true
	case syscall.AF_INET6:
		s := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := (*[2]byte)(unsafe.Pointer(&s.Port))
		return int(n), netip.AddrPortFrom(netip.AddrFrom16(s.Addr).Unmap(), uint16(port[0])<<8|uint16(port[1])), true
	}
	return int(n), netip.AddrPort{}, true
}

var errSocketClosed = errors.New("media: RTP socket closed")

// sendTo sends one datagram without blocking.
func sendTo(fd int, b []byte, dst netip.AddrPort, v6 bool) error {
	if fd < 0 {
		return errSocketClosed
	}
	var errno syscall.Errno
	port := dst.Port()
	if !v6 {
		var sa syscall.RawSockaddrInet4
		sa.Family = syscall.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.Addr = dst.Addr().Unmap().As4()
		_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet4)
	} else {
		var sa syscall.RawSockaddrInet6
		sa.Family = syscall.AF_INET6
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.Addr = dst.Addr().As16()
		_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd),
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet6)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// udpSocket opens a non-blocking UDP socket bound to addr, outside Go's network poller
// (the engine's poller reads it).
func udpSocket(addr netip.AddrPort, buffer int) (fd int, v6 bool, err error) {
	family := syscall.AF_INET
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().Unmap().As4()}
	if !addr.Addr().Unmap().Is4() {
		family, v6 = syscall.AF_INET6, true
		sa = &syscall.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	}
	fd, err = syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return -1, false, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return -1, false, err
	}
	if buffer > 0 {
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, buffer)
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, buffer)
	}
	return fd, v6, nil
}
