package harness

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/hotline-12345/hotline/internal/testkit"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Sighting is one tagged RTP packet seen on loopback: when the kernel delivered it
// (lo's receive path, which runs in the sender's system call, just before the packet
// is queued on the receiving socket) and between which UDP ports.
type Sighting struct {
	At       time.Time
	Src, Dst uint16
	Tag      [8]byte // the first 8 bytes of the RTP payload
}

// LoTap captures, on lo, the IPv4 UDP packets whose RTP payload (after a 12-byte RTP
// header) starts with a probe's tag: first byte&mask == first, second byte == second.
// A packet socket with a kernel filter, so that the tap costs the rest of the traffic
// one filter run (and a clone of each packet) in the kernel and nothing in user space.
// It times a packet's passage through a server from the wire's point of view: the
// time between the sighting of a packet sent to the server and the sighting of the
// same packet sent on by it, which no client-side measurement can separate from the
// client's and the far end's own delays. Needs root (CAP_NET_RAW).
type LoTap struct {
	fd   int
	mu   sync.Mutex
	seen []Sighting
	stop chan struct{}
	done chan struct{}
	err  error
}

// StartLoTap starts a capture; Stop ends it and returns what it saw.
func StartLoTap(first, mask, second byte) (*LoTap, error) {
	prog, err := bpf.Assemble(rtpTagFilter(first, mask, second))
	if err != nil {
		return nil, err
	}
	// Protocol 0: the socket receives nothing until the filter is on and it is bound.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("harness: packet socket (needs root): %w", err)
	}
	fail := func(err error) (*LoTap, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("harness: lo tap: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	lo, err := loIndex()
	if err != nil {
		return fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lo}); err != nil {
		return fail(err)
	}
	t := &LoTap{fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go t.read()
	return t, nil
}

func loIndex() (int, error) {
	ifs, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(ifs)
	req, err := unix.NewIfreq("lo")
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(ifs, unix.SIOCGIFINDEX, req); err != nil {
		return 0, err
	}
	return int(req.Uint32()), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// rtpTagFilter keeps unfragmented IPv4 UDP frames (lo's link layer is Ethernet) whose
// UDP payload's bytes 12 and 13 match.
func rtpTagFilter(first, mask, second byte) []bpf.Instruction {
	const eth, udpHdr, rtpHdr = 14, 8, 12
	const snap = 128 // headers and the tag
	// Jump offsets count the instructions to skip; the last instruction drops.
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},                            // 0 EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 10}, // 1
		bpf.LoadAbsolute{Off: eth + 9, Size: 1},                       // 2 IP protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.IPPROTO_UDP, SkipTrue: 8},
		bpf.LoadAbsolute{Off: eth + 6, Size: 2}, // 4 flags and fragment offset
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 6},
		bpf.LoadMemShift{Off: eth}, // 6 X = IP header length
		bpf.LoadIndirect{Off: eth + udpHdr + rtpHdr + 1, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(second), SkipTrue: 3},
		bpf.LoadIndirect{Off: eth + udpHdr + rtpHdr, Size: 1}, // 9
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(mask)},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(first & mask), SkipTrue: 1},
		bpf.RetConstant{Val: 0},    // 12: drop (reached by the skips above, or by a mismatch)
		bpf.RetConstant{Val: snap}, // 13: keep
	}
}

func (t *LoTap) read() {
	defer close(t.done)
	buf := make([]byte, 256)
	oob := make([]byte, 128)
	for {
		select {
		case <-t.stop:
			return
		default:
		}
		n, oobn, _, from, err := unix.Recvmsg(t.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			t.err = err
			return
		}
		// lo shows each packet twice, leaving and arriving; keep the arrival, as
		// libpcap does (it is when the receiver's socket gets it).
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		s, ok := parseSighting(buf[:n], oob[:oobn])
		if !ok {
			continue
		}
		t.mu.Lock()
		t.seen = append(t.seen, s)
		t.mu.Unlock()
	}
}

// parseSighting reads an Ethernet/IPv4/UDP/RTP frame and its SCM_TIMESTAMPNS.
func parseSighting(frame, oob []byte) (Sighting, bool) {
	var s Sighting
	if len(frame) < 14+20 {
		return s, false
	}
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl+8+12+len(s.Tag) {
		return s, false
	}
	udp := ip[ihl:]
	s.Src, s.Dst = binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:])
	copy(s.Tag[:], udp[8+12:])
	s.At = testkit.KernelTime(oob) // SO_TIMESTAMPNS is on: the kernel's time
	return s, true
}

// Stop ends the capture and returns the sightings in the order of their kernel times,
// and the error that ended the capture early, if any. The times are taken as each
// packet is queued, in the sender's system call; with two cores receiving, the tap can
// be handed a later packet before an earlier one, so the order of arrival at the tap
// is not the order of the times (CI saw it once).
func (t *LoTap) Stop() ([]Sighting, error) {
	close(t.stop)
	<-t.done
	unix.Close(t.fd)
	t.mu.Lock()
	defer t.mu.Unlock()
	sort.SliceStable(t.seen, func(i, j int) bool { return t.seen[i].At.Before(t.seen[j].At) })
	return t.seen, t.err
}

// TagEncode writes v as six base-16 digits in μ-law bytes 0x40..0x4f (mid-level
// negative samples, far from the two encodings of zero): a probe packet's number, in a
// payload that survives a server's decode and encode unchanged.
func TagEncode(b []byte, v uint32) {
	for i := 5; i >= 0; i-- {
		b[i] = 0x40 | byte(v&0xf)
		v >>= 4
	}
}

// TagDecode reads TagEncode's number back; -1 when the bytes are not a tag.
func TagDecode(b []byte) int64 {
	var v int64
	for _, c := range b {
		if c&0xf0 != 0x40 {
			return -1
		}
		v = v<<4 | int64(c&0x0f)
	}
	return v
}
