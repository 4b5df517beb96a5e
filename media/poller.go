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

// poller reads every SIP leg's inbound RTP on one goroutine. The legs' sockets sit in
// an epoll set of the poller's own (level-triggered); that set's descriptor is handed
// to Go's network poller, which wakes this goroutine once for whatever batch of
// packets arrived, not a goroutine per leg per packet. Each ready socket gives one
// datagram per visit (level triggering reports it again while more are queued), read
// with a raw non-blocking recvfrom into one shared buffer: no goroutine, stack or read
// buffer per leg, no extra recvfrom that ends in EAGAIN, and a relayed packet is
// forwarded the moment its batch is read.
type poller struct {
	epfd int
	file *os.File
	rc   syscall.RawConn
	poll func(uintptr) bool // p.pollOnce, bound once (a method value allocates)

	mu     sync.Mutex
	legs   map[uint64]*RTPLeg // by registration id (the epoll event's data)
	nextID uint64

	// only the poller goroutine touches these
	events [64]syscall.EpollEvent // a batch: the clock waits at most for one
	buf    [1500]byte
	sa     syscall.RawSockaddrAny
	h      rtp.Header

	done chan struct{}
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins Go's network poller.
	f := os.NewFile(uintptr(epfd), "rtp-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("media: epoll: %w", err)
	}
	p := &poller{epfd: epfd, file: f, rc: rc, legs: map[uint64]*RTPLeg{}, done: make(chan struct{})}
	p.poll = p.pollOnce
	go p.run()
	return p, nil
}

// add starts reading the leg's socket.
func (p *poller) add(l *RTPLeg, fd int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	id := p.nextID
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("media: epoll add: %w", err)
	}
	p.legs[id] = l
	l.pollID = id
	return nil
}

// remove stops reading the leg's socket. A batch already read may still hold the leg:
// the caller then waits for the leg's rxMu before it closes the socket.
func (p *poller) remove(l *RTPLeg, fd int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.legs[l.pollID]; !ok {
		return
	}
	delete(p.legs, l.pollID)
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
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

// pollOnce handles what is ready now; false (nothing ready) parks the goroutine until
// the epoll set becomes readable.
func (p *poller) pollOnce(uintptr) bool {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.epfd),
		uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
	if errno != 0 {
		return errno != syscall.EAGAIN // EINTR: try again at once
	}
	if n == 0 {
		return false
	}
	for i := range p.events[:n] {
		ev := &p.events[i]
		id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		p.mu.Lock()
		l := p.legs[id]
		p.mu.Unlock()
		if l != nil {
			p.serve(l)
		}
	}
	return true
}

// serve reads one datagram of the leg's and hands it to the leg.
func (p *poller) serve(l *RTPLeg) {
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
	n, from, ok := recvFrom(u.fd, p.buf[:], &p.sa)
	if !ok {
		return
	}
	l.receive(p.buf[:n], from, time.Now(), &p.h)
}

func (p *poller) close() {
	p.file.Close() // ends run's Read
	<-p.done
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
