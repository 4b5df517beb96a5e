package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EngineConfig configures the media engine. Zero values take the defaults named.
type EngineConfig struct {
	// BindIP is the local address of every RTP socket (default 127.0.0.1).
	BindIP netip.Addr
	// PortMin and PortMax bound the RTP port range (even ports; RTCP uses port+1).
	// Default 20000–29999.
	PortMin, PortMax int
	// JitterDelay is the inbound playout delay (default 40 ms).
	JitterDelay time.Duration
	// SocketBuffer is the receive and send buffer asked of the kernel per socket (default 4 MiB).
	SocketBuffer int
	// Pacers is the number of media clocks (default GOMAXPROCS); legs are spread over them.
	Pacers int
	// RTCPInterval is how often each leg sends a sender/receiver report (default 5 s).
	RTCPInterval time.Duration
	// Realtime runs each media clock on a thread of its own at SCHED_FIFO priority (needs
	// CAP_SYS_NICE; without it the clocks run as normal threads and a warning is logged).
	Realtime   bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Engine owns the RTP port range, the shared media clocks and the media metrics.
type Engine struct {
	cfg    EngineConfig
	log    *slog.Logger
	ports  *portPool
	pacers []*pacer
	// pollers read the SIP legs' inbound RTP, one beside each pacer.
	pollers []*poller
	next    atomic.Uint32
	m       *metrics
	closed  atomic.Bool
	// rtcpBufs lends the RTCP read buffer: each leg needs one for a moment every few
	// seconds, so legs do not each keep one.
	rtcpBufs sync.Pool
}

// NewEngine starts the media clocks. Close stops them.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if !cfg.BindIP.IsValid() {
		cfg.BindIP = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.PortMin == 0 && cfg.PortMax == 0 {
		cfg.PortMin, cfg.PortMax = 20000, 29999
	}
	if cfg.PortMin <= 0 || cfg.PortMax > 65535 || cfg.PortMax-cfg.PortMin < 1 {
		return nil, fmt.Errorf("media: RTP port range %d-%d is not valid", cfg.PortMin, cfg.PortMax)
	}
	if cfg.JitterDelay <= 0 {
		cfg.JitterDelay = 40 * time.Millisecond
	}
	if cfg.SocketBuffer <= 0 {
		cfg.SocketBuffer = 4 << 20
	}
	if cfg.Pacers <= 0 {
		cfg.Pacers = runtime.GOMAXPROCS(0)
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, ports: newPortPool(cfg.PortMin, cfg.PortMax), m: m}
	e.rtcpBufs.New = func() any { return new([1500]byte) }
	for i := 0; i < cfg.Pacers; i++ {
		pl, err := newPoller()
		if err != nil {
			e.Close()
			return nil, err
		}
		e.pollers = append(e.pollers, pl)
		pc, err := newPacer(e.log, m.lateness, pl, cfg.Realtime)
		if err != nil {
			e.Close()
			return nil, err
		}
		pc.frames.log, pc.frames.panics = e.log, m.legPanics
		pl.frames = pc.frames
		e.pacers = append(e.pacers, pc)
	}
	return e, nil
}

// Close stops the media clocks. Legs should be closed first.
func (e *Engine) Close() {
	if e.closed.Swap(true) {
		return
	}
	for _, p := range e.pacers {
		p.close()
	}
	for _, p := range e.pollers {
		p.close()
	}
}

// ActiveLegs is the number of legs being paced.
func (e *Engine) ActiveLegs() int {
	n := 0
	for _, p := range e.pacers {
		n += int(p.count.Load())
	}
	return n
}

// pickPacer chooses the clock (and the poller beside it) of a new leg, in turn.
func (e *Engine) pickPacer() (*pacer, *poller) {
	i := int(e.next.Add(1)) % len(e.pacers)
	return e.pacers[i], e.pollers[i]
}

// ErrNoPorts is returned when every port of the RTP range is in use.
var ErrNoPorts = errors.New("media: no free RTP port")

// listenPair binds an even RTP port (a raw socket the poller reads) and the RTCP port
// above it.
func (e *Engine) listenPair() (*udpTransport, error) {
	for tries := 0; tries < e.ports.size(); tries++ {
		port, ok := e.ports.get()
		if !ok {
			return nil, ErrNoPorts
		}
		fd, v6, err := udpSocket(netip.AddrPortFrom(e.cfg.BindIP, uint16(port)), e.cfg.SocketBuffer)
		if err != nil {
			e.ports.put(port) // taken by someone else; try the next
			continue
		}
		rfd, _, err := udpSocket(netip.AddrPortFrom(e.cfg.BindIP, uint16(port+1)), 0)
		if err != nil {
			syscall.Close(fd)
			e.ports.put(port)
			continue
		}
		return &udpTransport{fd: fd, rtcpFD: rfd, v6: v6, port: port, pool: e.ports}, nil
	}
	return nil, ErrNoPorts
}

// portPool hands out even ports first-in first-out, so that a port just released is the
// last to be reused and stray packets of an ended call reach nobody.
type portPool struct {
	mu   sync.Mutex
	free []int
	head int
	n    int
}

func newPortPool(min, max int) *portPool {
	if min%2 == 1 {
		min++
	}
	p := &portPool{}
	for port := min; port+1 <= max; port += 2 {
		p.free = append(p.free, port)
	}
	p.n = len(p.free)
	return p
}

func (p *portPool) size() int { return len(p.free) }

func (p *portPool) get() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return 0, false
	}
	port := p.free[p.head]
	p.head = (p.head + 1) % len(p.free)
	p.n--
	return port, true
}

func (p *portPool) put(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free[(p.head+p.n)%len(p.free)] = port
	p.n++
}

// metrics are the engine's Prometheus series, resolved once so the packet path only adds.
type metrics struct {
	rx, tx, lost, latch                   prometheus.Counter
	dropMalformed, dropSource, dropPT     prometheus.Counter
	dropLate                              prometheus.Counter
	legs                                  prometheus.Gauge
	lateness, jitter                      prometheus.Histogram
	digitRFC, digitINFO, digitInband      prometheus.Counter
	dtmfIgnored, digitOverflow, legPanics prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	drops := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_rtp_packets_dropped_total", Help: "Inbound RTP packets dropped, by reason.",
	}, []string{"reason"})
	digits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hotline_dtmf_digits_total", Help: "DTMF digits received, by how they came.",
	}, []string{"source"})
	m := &metrics{
		rx:    prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_packets_received_total", Help: "RTP packets received."}),
		tx:    prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_packets_sent_total", Help: "RTP packets sent."}),
		lost:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_packets_lost_total", Help: "Inbound RTP packets missing by sequence number."}),
		latch: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_rtp_latching_changes_total", Help: "Times a leg latched to a remote address other than the signalled one."}),
		legs:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "hotline_media_legs", Help: "RTP legs being paced."}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_media_clock_lateness_seconds",
			Help:    "How late the shared media clock visits a phase slot.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05}}),
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_rtp_jitter_seconds",
			Help:    "Inbound interarrival jitter (RFC 3550), sampled per leg at each RTCP interval.",
			Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16}}),
		dtmfIgnored:   prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_dtmf_ignored_total", Help: "Telephone-event packets ignored as malformed or absurd."}),
		digitOverflow: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_dtmf_overflow_total", Help: "Digits dropped because nobody read them."}),
		legPanics:     prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_media_leg_panics_total", Help: "Panics in the media path: a leg's, which ends the leg, or a recording tap's, which loses a frame."}),
	}
	m.dropMalformed = drops.WithLabelValues("malformed")
	m.dropSource = drops.WithLabelValues("unexpected_source")
	m.dropPT = drops.WithLabelValues("unknown_payload_type")
	m.dropLate = drops.WithLabelValues("late")
	m.digitRFC = digits.WithLabelValues("rfc4733")
	m.digitINFO = digits.WithLabelValues("info")
	m.digitInband = digits.WithLabelValues("inband")
	kernelDrops := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hotline_udp_receive_buffer_errors_total",
		Help: "UDP datagrams the kernel dropped for full receive buffers (RcvbufErrors in /proc/net/snmp).",
	}, func() float64 { return float64(UDPRcvbufErrors()) })
	for _, c := range []prometheus.Collector{drops, digits, m.rx, m.tx, m.lost, m.latch, m.legs, m.lateness,
		m.jitter, m.dtmfIgnored, m.digitOverflow, m.legPanics, kernelDrops} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("media metrics: %w", err)
		}
	}
	return m, nil
}

// UDPRcvbufErrors reads the kernel's count of UDP datagrams dropped for full buffers
// (network namespace wide). It returns 0 where /proc/net/snmp is not readable.
func UDPRcvbufErrors() uint64 {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var header []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 || string(f[0]) != "Udp:" {
			continue
		}
		if header == nil {
			for _, x := range f {
				header = append(header, string(x))
			}
			continue
		}
		for i, x := range f {
			if i < len(header) && header[i] == "RcvbufErrors" {
				v, _ := strconv.ParseUint(string(x), 10, 64)
				return v
			}
		}
	}
	return 0
}
