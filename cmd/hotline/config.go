package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration: built-in defaults, then one YAML file, then flags.
type Config struct {
	DataDir      string            `yaml:"data_dir"`
	DB           string            `yaml:"db"`
	NodeID       int               `yaml:"node_id"`
	LogLevel     string            `yaml:"log_level"`
	TimeZone     string            `yaml:"time_zone"`
	DrainTimeout Duration          `yaml:"drain_timeout"`
	SIP          SIPConfig         `yaml:"sip"`
	Media        MediaConfig       `yaml:"media"`
	HTTP         HTTPConfig        `yaml:"http"`
	Numbers      []NumberConfig    `yaml:"numbers"`
	IVR          IVRConfig         `yaml:"ivr"`
	Destinations map[string]string `yaml:"destinations"`
	Recordings   RecordingsConfig  `yaml:"recordings"`
	Queue        QueueConfig       `yaml:"queue"`
	Callbacks    CallbacksConfig   `yaml:"callbacks"`
	ACD          acd.Config        `yaml:"acd"`
	Agents       []AgentConfig     `yaml:"agents"`
}

type QueueConfig struct {
	// AnnounceEvery: position and wait announcements over the hold music (0: none).
	AnnounceEvery    Duration `yaml:"announce_every"`
	OnlyWhenImproved bool     `yaml:"only_when_improved"`
}

type CallbacksConfig struct {
	// URI calls a citizen back through the trunk; {number} is replaced. Empty: no callbacks.
	URI string `yaml:"uri"`
	// From is the number the citizen sees.
	From string `yaml:"from"`
}

type RecordingsConfig struct {
	// Dir defaults to <data_dir>/recordings.
	Dir string `yaml:"dir"`
	// Retention: recordings older than this are removed (0: kept for ever).
	Retention Duration `yaml:"retention"`
}

type AgentConfig struct {
	ID        string         `yaml:"id"`
	Name      string         `yaml:"name"`
	Skills    map[string]int `yaml:"skills"`
	Contact   string         `yaml:"contact"`
	AutoReady bool           `yaml:"auto_ready"`
	// SIPPassword lets the agent's desk phone REGISTER (user = id) and dial feature codes.
	SIPPassword string `yaml:"sip_password"`
}

type IVRConfig struct {
	FlowsDir        string   `yaml:"flows_dir"`
	TransferTimeout Duration `yaml:"transfer_timeout"`
}

type SIPConfig struct {
	Listen          string        `yaml:"listen"`
	Host            string        `yaml:"host"`
	Codecs          []string      `yaml:"codecs"`
	MaxCalls        int           `yaml:"max_calls"`
	MaxCPS          float64       `yaml:"max_calls_per_second"`
	RetryAfter      Duration      `yaml:"retry_after"`
	MaxCallDuration Duration      `yaml:"max_call_duration"`
	RTPTimeout      Duration      `yaml:"rtp_timeout"`
	AnswerAfter     Duration      `yaml:"answer_after"`
	Trunks          []TrunkConfig `yaml:"trunks"`
}

type TrunkConfig struct {
	Name     string   `yaml:"name"`
	Sources  []string `yaml:"sources"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	DTMF     string   `yaml:"dtmf"`
}

type MediaConfig struct {
	Bind         string   `yaml:"bind"`
	RTPPorts     string   `yaml:"rtp_ports"`
	JitterBuffer Duration `yaml:"jitter_buffer"`
	SocketBuffer int      `yaml:"socket_buffer"`
	Realtime     bool     `yaml:"realtime"`
	PromptsDir   string   `yaml:"prompts_dir"`
}

type HTTPConfig struct {
	Listen     string `yaml:"listen"`
	AdminToken string `yaml:"admin_token"`
}

type NumberConfig struct {
	Number  string   `yaml:"number"`
	Name    string   `yaml:"name"`
	Aliases []string `yaml:"aliases"`
	Flow    string   `yaml:"flow"`
	Skill   string   `yaml:"skill"`
}

// Duration reads "30s", "4h" or a number of seconds.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if v, err := time.ParseDuration(s); err == nil {
		*d = Duration(v)
		return nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	return fmt.Errorf("line %d: %q is not a duration (e.g. 30s, 5m, 4h)", n.Line, s)
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Defaults is the built-in configuration: a working 12345 centre on loopback.
func Defaults() Config {
	return Config{
		DataDir:      "./hotline-data",
		LogLevel:     "info",
		TimeZone:     "Asia/Shanghai",
		DrainTimeout: Duration(30 * time.Second),
		SIP: SIPConfig{
			Listen: "127.0.0.1:5060", Codecs: []string{"PCMU", "PCMA"},
			MaxCalls: 2000, MaxCPS: 200, RetryAfter: Duration(5 * time.Second),
			MaxCallDuration: Duration(4 * time.Hour), RTPTimeout: Duration(30 * time.Second),
			Trunks: []TrunkConfig{{Name: "local", Sources: []string{"127.0.0.0/8", "::1/128"}, DTMF: "rfc4733"}},
		},
		Media:        MediaConfig{Bind: "127.0.0.1", RTPPorts: "20000-29999", JitterBuffer: Duration(40 * time.Millisecond), SocketBuffer: 4 << 20},
		HTTP:         HTTPConfig{Listen: "127.0.0.1:8080"},
		IVR:          IVRConfig{TransferTimeout: Duration(30 * time.Second)},
		Destinations: map[string]string{"emergency": "sip:110@127.0.0.1:5090"},
		Recordings:   RecordingsConfig{Retention: Duration(180 * 24 * time.Hour)},
		Queue:        QueueConfig{AnnounceEvery: Duration(45 * time.Second), OnlyWhenImproved: true},
		Callbacks:    CallbacksConfig{From: "12345"},
		ACD: acd.Config{MaxNoAnswer: 2, Queues: []acd.QueueConfig{
			{Name: "general", Skill: "general", WrapUp: 15 * time.Second, RingTimeout: 20 * time.Second},
			{Name: "environment", Skill: "environment", WrapUp: 15 * time.Second, RingTimeout: 20 * time.Second,
				Relax: []acd.RelaxStep{{After: 30 * time.Second, FallbackSkill: "general"}}},
			{Name: "prices", Skill: "prices", WrapUp: 15 * time.Second, RingTimeout: 20 * time.Second,
				Relax: []acd.RelaxStep{{After: 30 * time.Second, FallbackSkill: "general"}}},
			{Name: "housing", Skill: "housing", WrapUp: 15 * time.Second, RingTimeout: 20 * time.Second,
				Relax: []acd.RelaxStep{{After: 30 * time.Second, FallbackSkill: "general"}}},
		}},
		Numbers: []NumberConfig{
			{Number: "12345", Name: "12345 政务服务便民热线", Flow: "intake", Skill: "general"},
			{Number: "12369", Name: "12369 环保举报热线", Flow: "intake", Skill: "environment"},
			{Number: "12358", Name: "12358 价格举报热线", Flow: "intake", Skill: "prices"},
			{Number: "967111", Name: "967111 住房保障热线", Flow: "intake", Skill: "housing"},
		},
	}
}

// ConfigError names the file, the field and what is wrong.
type ConfigError struct {
	File  string
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

// LoadConfigFile reads a YAML file over the defaults. Unknown fields are errors.
func LoadConfigFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &ConfigError{File: path, Msg: err.Error()}
	}
	return ParseConfig(path, data, cfg)
}

// ParseConfig decodes YAML over cfg and validates the result.
func ParseConfig(name string, data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return &ConfigError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return cfg.Validate(name)
}

// Validate reports every problem at once, each naming the field.
func (c *Config) Validate(file string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{File: file, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		bad("db", "must be a postgres:// URL, or empty for the embedded store")
	}
	if c.NodeID < 0 || c.NodeID > 9 {
		bad("node_id", "must be 0 to 9 (one digit in case numbers), got %d", c.NodeID)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		bad("time_zone", "%q is not an IANA time zone such as Asia/Shanghai", c.TimeZone)
	}
	if c.DrainTimeout < 0 {
		bad("drain_timeout", "must not be negative")
	}
	if _, err := netip.ParseAddrPort(c.SIP.Listen); err != nil {
		bad("sip.listen", "%q is not an IP:port address (%v)", c.SIP.Listen, err)
	}
	if _, err := ParseCodecs(c.SIP.Codecs); err != nil {
		bad("sip.codecs", "%v", err)
	}
	if c.SIP.MaxCalls < 0 {
		bad("sip.max_calls", "must be 0 (no limit) or more, got %d", c.SIP.MaxCalls)
	}
	if c.SIP.MaxCPS < 0 {
		bad("sip.max_calls_per_second", "must be 0 (no limit) or more, got %v", c.SIP.MaxCPS)
	}
	if c.SIP.RetryAfter < 0 || c.SIP.MaxCallDuration < 0 || c.SIP.RTPTimeout < 0 || c.SIP.AnswerAfter < 0 {
		bad("sip", "retry_after, max_call_duration, rtp_timeout and answer_after must not be negative")
	}
	if len(c.SIP.Trunks) == 0 {
		bad("sip.trunks", "at least one trunk is needed, or no call can come in")
	}
	names := map[string]bool{}
	for i, t := range c.SIP.Trunks {
		f := fmt.Sprintf("sip.trunks[%d]", i)
		if t.Name == "" {
			bad(f+".name", "must not be empty")
		} else if names[t.Name] {
			bad(f+".name", "%q is used twice", t.Name)
		}
		names[t.Name] = true
		if len(t.Sources) == 0 {
			bad(f+".sources", "must list at least one address or CIDR")
		}
		for j, s := range t.Sources {
			if _, err := ParsePrefix(s); err != nil {
				bad(fmt.Sprintf("%s.sources[%d]", f, j), "%q is not an IP address or CIDR", s)
			}
		}
		if (t.Username == "") != (t.Password == "") {
			bad(f, "username and password go together")
		}
		switch t.DTMF {
		case "", "rfc4733", "inband", "info":
		default:
			bad(f+".dtmf", "%q is not one of rfc4733, inband, info", t.DTMF)
		}
	}
	if _, err := netip.ParseAddr(c.Media.Bind); err != nil {
		bad("media.bind", "%q is not an IP address", c.Media.Bind)
	}
	if _, _, err := ParsePortRange(c.Media.RTPPorts); err != nil {
		bad("media.rtp_ports", "%v", err)
	}
	if c.Media.JitterBuffer < 0 || time.Duration(c.Media.JitterBuffer) > 400*time.Millisecond {
		bad("media.jitter_buffer", "must be between 0 and 400ms, got %s", time.Duration(c.Media.JitterBuffer))
	}
	if c.Media.SocketBuffer < 0 {
		bad("media.socket_buffer", "must not be negative")
	}
	if c.Media.PromptsDir != "" {
		if st, err := os.Stat(c.Media.PromptsDir); err != nil || !st.IsDir() {
			bad("media.prompts_dir", "%q is not a folder", c.Media.PromptsDir)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not a host:port address", c.HTTP.Listen)
	}
	if len(c.Numbers) == 0 {
		bad("numbers", "at least one number is needed")
	}
	seen := map[string]bool{}
	for i, n := range c.Numbers {
		f := fmt.Sprintf("numbers[%d]", i)
		if n.Number == "" || strings.Trim(n.Number, "+0123456789") != "" {
			bad(f+".number", "%q is not a phone number (digits, optional leading +)", n.Number)
		}
		for _, k := range append([]string{n.Number}, n.Aliases...) {
			if seen[k] {
				bad(f, "%q is configured twice", k)
			}
			seen[k] = true
		}
		if n.Flow == "" {
			bad(f+".flow", "must name a flow (the built-in one is intake)")
		}
		if n.Skill == "" {
			bad(f+".skill", "must name a skill")
		}
	}
	if c.IVR.FlowsDir != "" {
		if st, err := os.Stat(c.IVR.FlowsDir); err != nil || !st.IsDir() {
			bad("ivr.flows_dir", "%q is not a folder", c.IVR.FlowsDir)
		}
	}
	if c.Queue.AnnounceEvery < 0 || (c.Queue.AnnounceEvery > 0 && c.Queue.AnnounceEvery.D() < 10*time.Second) {
		bad("queue.announce_every", "must be 0 (off) or at least 10s, got %s", c.Queue.AnnounceEvery.D())
	}
	if u := c.Callbacks.URI; u != "" && (!strings.HasPrefix(u, "sip:") || !strings.Contains(u, "{number}")) {
		bad("callbacks.uri", "%q must be a SIP URI with {number} in it, like sip:{number}@10.20.0.1:5060", u)
	}
	if c.Recordings.Retention < 0 {
		bad("recordings.retention", "must not be negative")
	}
	if c.IVR.TransferTimeout < 0 {
		bad("ivr.transfer_timeout", "must not be negative")
	}
	if err := c.ACD.Validate(); err != nil {
		bad("acd", "%v", err)
	}
	queueSkills := map[string]bool{}
	for _, q := range c.ACD.Queues {
		queueSkills[q.Skill] = true
	}
	for i, n := range c.Numbers {
		if len(c.ACD.Queues) > 0 && !queueSkills[n.Skill] {
			bad(fmt.Sprintf("numbers[%d].skill", i), "no queue in acd.queues serves skill %q", n.Skill)
		}
	}
	agentIDs := map[string]bool{}
	for i, a := range c.Agents {
		f := fmt.Sprintf("agents[%d]", i)
		if a.ID == "" || agentIDs[a.ID] {
			bad(f+".id", "%q is empty or used twice", a.ID)
		}
		agentIDs[a.ID] = true
		if len(a.Skills) == 0 {
			bad(f+".skills", "an agent needs at least one skill")
		}
		for sk, p := range a.Skills {
			if p < 1 || p > 5 {
				bad(f+".skills."+sk, "proficiency must be 1 to 5, got %d", p)
			}
		}
		if a.Contact != "" && a.Contact != "webrtc" && (!strings.HasPrefix(a.Contact, "sip:") || !strings.Contains(a.Contact, "@")) {
			bad(f+".contact", "%q is not a SIP URI like sip:1001@10.0.2.21, nor webrtc (the browser softphone)", a.Contact)
		}
		if a.AutoReady && a.Contact == "" {
			bad(f+".auto_ready", "an always-ready agent needs a static contact")
		}
	}
	for name, uri := range c.Destinations {
		if !strings.HasPrefix(uri, "sip:") || !strings.Contains(uri, "@") {
			bad("destinations."+name, "%q is not a SIP URI like sip:110@10.20.0.1:5060", uri)
		}
	}
	return errors.Join(errs...)
}

// ParseCodecs reads codec names in order of preference.
func ParseCodecs(names []string) ([]uint8, error) {
	if len(names) == 0 {
		return nil, errors.New("at least one codec (PCMU, PCMA) is needed")
	}
	var out []uint8
	for _, n := range names {
		switch strings.ToUpper(strings.TrimSpace(n)) {
		case "PCMU", "G711U", "ULAW":
			out = append(out, 0)
		case "PCMA", "G711A", "ALAW":
			out = append(out, 8)
		default:
			return nil, fmt.Errorf("%q is not a supported codec (PCMU, PCMA)", n)
		}
	}
	return out, nil
}

// ParsePrefix reads "10.0.0.0/8" or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePortRange reads "20000-29999".
func ParsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q is not a port range like 20000-29999", s)
	}
	if lo < 1024 || hi > 65535 || hi-lo < 3 {
		return 0, 0, fmt.Errorf("%q: ports must lie in 1024-65535 with room for two calls", s)
	}
	return lo, hi, nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
