// Package kit holds what benchmarks B3–B6 share beyond bench/internal/harness: a
// hotline configuration written at run time (a straight-to-queue intake, many SIP
// agents on one SIPp UAS), the admin API and /metrics read over HTTP, and
// Prometheus text parsing (counters, histogram quantiles).
package kit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Token is the admin token harness.StartHotline sets (HOTLINE_ADMIN_TOKEN).
const Token = "bench"

// QueueFlow is a straight-to-queue intake: no prompt, the caller is queued at once with
// skill general; after the agent hangs up, a short survey (as cmd/hotline's test flow).
const QueueFlow = `flow: intake
language: zh
start: route
entries: [survey]
nodes:
  route:
    set: {skill: general}
    next: agent
  agent:
    queue: {}
  survey:
    survey: [survey]
    scale: 3
    into: call_rating
    timeout: 2s
    tries: 1
    on_timeout: {next: goodbye}
    next: goodbye
  goodbye:
    hangup: []
`

// Options shape the configuration.
type Options struct {
	Dir         string // where to write the config, flows and recordings
	Flow        string // the intake flow (QueueFlow by default)
	Agents      int    // agents 1000.. with a static contact
	AgentAddr   string // host:port of the SIPp UAS every agent points at
	WrapUp      time.Duration
	RingTimeout time.Duration
	MaxNoAnswer int
	RecordDir   string        // recordings.dir ("" = data dir)
	Jitter      time.Duration // media.jitter_buffer (0: hotline's default, 40 ms)
	RTPTimeout  time.Duration // sip.rtp_timeout (0: 60 s)
	Extra       string        // appended YAML (top-level keys not otherwise written)
}

// WriteConfig writes hotline.yaml (and flows/intake.yaml) into o.Dir and returns its path.
func WriteConfig(o Options) (string, error) {
	flows := filepath.Join(o.Dir, "flows")
	if err := os.MkdirAll(flows, 0o755); err != nil {
		return "", err
	}
	flow := o.Flow
	if flow == "" {
		flow = QueueFlow
	}
	if err := os.WriteFile(filepath.Join(flows, "intake.yaml"), []byte(flow), 0o644); err != nil {
		return "", err
	}
	ring := o.RingTimeout
	if ring == 0 {
		ring = 20 * time.Second
	}
	mna := o.MaxNoAnswer
	if mna == 0 {
		mna = 1000
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# written by bench (B3-B6)
sip:
  max_calls: 10000
  max_calls_per_second: 2000
  rtp_timeout: %s
media:
  rtp_ports: 20000-39999
%snumbers:
  - {number: "12345", name: "12345", flow: intake, skill: general}
ivr:
  flows_dir: %s
queue:
  announce_every: 0s
recordings:
  dir: %q
  retention: 0s
acd:
  max_no_answer: %d
  queues:
    - name: general
      skill: general
      wrap_up: %s
      ring_timeout: %s
`, rtpTimeout(o.RTPTimeout), jitterLine(o.Jitter), flows, o.RecordDir, mna, o.WrapUp, ring)
	if o.Agents > 0 {
		b.WriteString("agents:\n")
		for i := 0; i < o.Agents; i++ {
			fmt.Fprintf(&b, "  - {id: \"%d\", skills: {general: 5}, contact: \"sip:%d@%s\", auto_ready: true}\n", 1000+i, 1000+i, o.AgentAddr)
		}
	}
	b.WriteString(o.Extra)
	path := filepath.Join(o.Dir, "hotline.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// Get fetches an admin API path (or /metrics) from the server at httpAddr.
func Get(httpAddr, path string) ([]byte, error) {
	req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+Token)
	c := http.Client{Timeout: 20 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s %.200s", path, res.Status, b)
	}
	return b, err
}

// GetJSON decodes an admin API answer.
func GetJSON(httpAddr, path string, v any) error {
	b, err := Get(httpAddr, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Metrics is one scrape of /metrics: series (name{labels}) → value.
type Metrics map[string]float64

// Scrape reads /metrics.
func Scrape(httpAddr string) (Metrics, error) {
	b, err := Get(httpAddr, "/metrics")
	if err != nil {
		return nil, err
	}
	m := Metrics{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		m[l[:i]] = v
	}
	return m, nil
}

// Sum adds every series of a metric name (all labels) that contains each filter.
func (m Metrics) Sum(name string, filters ...string) float64 {
	var s float64
next:
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, f := range filters {
			if !strings.Contains(k, f) {
				continue next
			}
		}
		s += v
	}
	return s
}

// Histogram is a cumulative bucket count by upper bound.
type Histogram struct {
	Bounds []float64
	Counts []float64 // cumulative
	Count  float64
	Sum    float64
}

// Hist extracts histogram name (summed over labels).
func (m Metrics) Hist(name string) Histogram {
	by := map[float64]float64{}
	for k, v := range m {
		if !strings.HasPrefix(k, name+"_bucket{") {
			continue
		}
		i := strings.Index(k, `le="`)
		if i < 0 {
			continue
		}
		le := k[i+4:]
		le = le[:strings.IndexByte(le, '"')]
		b, err := strconv.ParseFloat(le, 64)
		if err != nil {
			continue
		}
		by[b] += v
	}
	var h Histogram
	for b := range by {
		h.Bounds = append(h.Bounds, b)
	}
	sort.Float64s(h.Bounds)
	for _, b := range h.Bounds {
		h.Counts = append(h.Counts, by[b])
	}
	h.Count = m.Sum(name + "_count")
	h.Sum = m.Sum(name + "_sum")
	return h
}

// Minus is the histogram of observations made between before and h.
func (h Histogram) Minus(before Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Count: h.Count - before.Count, Sum: h.Sum - before.Sum}
	for i, c := range h.Counts {
		if i < len(before.Counts) {
			c -= before.Counts[i]
		}
		out.Counts = append(out.Counts, c)
	}
	return out
}

// Quantile estimates the q-quantile (0..1) by linear interpolation inside the bucket,
// as Prometheus' histogram_quantile does. NaN when empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count <= 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.Count
	prevB, prevC := 0.0, 0.0
	for i, b := range h.Bounds {
		c := h.Counts[i]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevB
			}
			if c == prevC {
				return b
			}
			return prevB + (b-prevB)*(rank-prevC)/(c-prevC)
		}
		prevB, prevC = b, c
	}
	return prevB
}

// LoadAvg is the 1-minute load average.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func jitterLine(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("  jitter_buffer: %s\n", d)
}

func rtpTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 60 * time.Second
	}
	return d
}
