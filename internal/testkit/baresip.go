package testkit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BaresipOpts configures a softphone.
type BaresipOpts struct {
	// Source is an 8 kHz mono PCM16 WAV the softphone speaks into every call. It is
	// padded with silence to Talk, because baresip hangs up when its file ends.
	Source string
	// Tone, when Source is empty, makes the microphone a sine at this frequency
	// (baresip's ausine module). With neither, the phone sends silence.
	Tone float64
	Talk time.Duration // length of the padded source; default 120 s
	// Codecs lists the account's audio codecs; default "PCMU".
	Codecs string
	// User is the account's user part; default "test".
	User string
	// AutoAnswer answers incoming calls at once (an agent's phone set to auto-answer);
	// otherwise call Answer after CALL_INCOMING.
	AutoAnswer bool
}

// BaresipEvent is an event from baresip's ctrl_tcp ("CALL_ESTABLISHED", ...).
type BaresipEvent struct {
	Type      string `json:"type"`
	Class     string `json:"class"`
	Direction string `json:"direction"`
	PeerURI   string `json:"peeruri"`
	ID        string `json:"id"`
	Param     string `json:"param"`
	At        time.Time
}

type baresipResponse struct {
	Response bool   `json:"response"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
}

// Baresip is a running baresip 1.0 softphone with its own config folder, driven
// over ctrl_tcp with netstring JSON. Its sndfile module writes what it sent and
// what it heard as WAV files (see Recordings).
type Baresip struct {
	SIPPort int
	user    string
	dir     string
	recDir  string
	cmd     *exec.Cmd
	out     *lockedBuffer
	conn    net.Conn
	done    chan struct{}

	mu      sync.Mutex
	events  []BaresipEvent
	wake    chan struct{}
	pending map[string]chan baresipResponse
	token   int
	readErr error
	wg      sync.WaitGroup
}

// StartBaresip starts a softphone listening for SIP on 127.0.0.1 and stops it
// when the test ends.
func StartBaresip(t testing.TB, o BaresipOpts) *Baresip {
	t.Helper()
	NeedTool(t, "baresip")
	b, err := startBaresip(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func startBaresip(dir string, o BaresipOpts) (*Baresip, error) {
	cfgDir := filepath.Join(dir, "config")
	recDir := filepath.Join(dir, "recordings")
	for _, d := range []string{cfgDir, recDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	sipPort, err := freePorts(1, 1)
	if err != nil {
		return nil, err
	}
	ctlPort, err := freePorts(1, 1)
	if err != nil {
		return nil, err
	}
	rtpPort, err := freePorts(16, 2)
	if err != nil {
		return nil, err
	}
	talk := o.Talk
	if talk <= 0 {
		talk = 120 * time.Second
	}
	var source string
	switch {
	case o.Source != "":
		w, err := ReadWAVFile(o.Source)
		if err != nil {
			return nil, err
		}
		if w.Rate != 8000 || w.Channels != 1 {
			return nil, fmt.Errorf("testkit: baresip source %s is %d Hz %d ch, want 8000 Hz mono", o.Source, w.Rate, w.Channels)
		}
		pcm := w.Samples
		if n := int(talk.Seconds() * 8000); len(pcm) < n {
			pcm = append(pcm, make([]int16, n-len(pcm))...)
		}
		p := filepath.Join(cfgDir, "source.wav")
		if err := WriteWAVFile(p, 8000, 1, pcm); err != nil {
			return nil, err
		}
		source = "aufile," + p
	case o.Tone > 0:
		source = "ausine," + strconv.Itoa(int(o.Tone))
	default:
		p := filepath.Join(cfgDir, "silence.wav")
		if err := WriteWAVFile(p, 8000, 1, make([]int16, int(talk.Seconds()*8000))); err != nil {
			return nil, err
		}
		source = "aufile," + p
	}
	// ausine produces only 48 kHz stereo; baresip resamples to the codec's 8 kHz.
	srate, channels := 8000, 1
	if strings.HasPrefix(source, "ausine,") {
		srate, channels = 48000, 2
	}
	codecs := o.Codecs
	if codecs == "" {
		codecs = "PCMU"
	}
	user := o.User
	if user == "" {
		user = "test"
	}
	// alsa,null is a player that plays nowhere: the machine has no sound card and
	// sndfile records what arrives before the player.
	cfg := fmt.Sprintf(`poll_method		epoll
sip_listen		127.0.0.1:%d
net_interface		127.0.0.1
audio_player		alsa,null
audio_alert		alsa,null
audio_source		%s
ausrc_srate		%d
ausrc_channels		%d
rtp_ports		%d-%d
module_path		/usr/lib/baresip/modules
module			g711.so
module			alsa.so
module			aufile.so
module			ausine.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
`, sipPort, source, srate, channels, rtpPort, rtpPort+15, ctlPort, recDir)
	if err := os.WriteFile(filepath.Join(cfgDir, "config"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	acct := fmt.Sprintf("<sip:%s@127.0.0.1>;regint=0;audio_codecs=%s", user, codecs)
	if o.AutoAnswer {
		acct += ";answermode=auto"
	}
	acct += "\n"
	if err := os.WriteFile(filepath.Join(cfgDir, "accounts"), []byte(acct), 0o644); err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	cmd := exec.Command("baresip", "-f", cfgDir)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testkit: start baresip: %w", err)
	}
	b := &Baresip{
		SIPPort: sipPort, user: user, dir: dir, recDir: recDir, cmd: cmd, out: out,
		done: make(chan struct{}), wake: make(chan struct{}), pending: map[string]chan baresipResponse{},
	}
	go func() { _ = cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctlPort)), time.Second)
		if err == nil {
			b.conn = c
			break
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("testkit: baresip exited at start:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			b.kill()
			return nil, fmt.Errorf("testkit: baresip ctrl_tcp did not open: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.wg.Add(1)
	go b.readLoop()
	return b, nil
}

// SIPURI is the softphone's own address, for the server to call it.
func (b *Baresip) SIPURI() string { return fmt.Sprintf("sip:%s@127.0.0.1:%d", b.user, b.SIPPort) }

// Addr is the softphone's SIP host:port.
func (b *Baresip) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.SIPPort) }

// Output is baresip's log so far (for failure messages).
func (b *Baresip) Output() string { return b.out.String() }

func (b *Baresip) readLoop() {
	defer b.wg.Done()
	r := bufio.NewReader(b.conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			close(b.wake)
			b.wake = make(chan struct{})
			b.mu.Unlock()
			return
		}
		var probe struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &probe) != nil {
			continue
		}
		b.mu.Lock()
		switch {
		case probe.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) == nil {
				ev.At = time.Now()
				b.events = append(b.events, ev)
			}
		case probe.Response:
			var resp baresipResponse
			if json.Unmarshal(msg, &resp) == nil {
				if ch := b.pending[resp.Token]; ch != nil {
					ch <- resp
					delete(b.pending, resp.Token)
				}
			}
		}
		close(b.wake)
		b.wake = make(chan struct{})
		b.mu.Unlock()
	}
}

// readNetstring reads "len:payload," as ctrl_tcp frames its messages.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("testkit: baresip: bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, errors.New("testkit: baresip: netstring without ','")
	}
	return buf[:n], nil
}

// Command sends one ctrl_tcp command and waits for its response.
func (b *Baresip) Command(ctx context.Context, command, params string) (string, error) {
	b.mu.Lock()
	b.token++
	tok := strconv.Itoa(b.token)
	ch := make(chan baresipResponse, 1)
	b.pending[tok] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": tok})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(msg), msg); err != nil {
		return "", fmt.Errorf("testkit: baresip %s: %w", command, err)
	}
	select {
	case resp := <-ch:
		if !resp.OK {
			return resp.Data, fmt.Errorf("testkit: baresip %s %s: %s", command, params, resp.Data)
		}
		return resp.Data, nil
	case <-ctx.Done():
		return "", fmt.Errorf("testkit: baresip %s: %w", command, ctx.Err())
	case <-b.done:
		return "", fmt.Errorf("testkit: baresip exited during %s", command)
	}
}

// Dial calls uri (e.g. "sip:12345@127.0.0.1:5060").
func (b *Baresip) Dial(ctx context.Context, uri string) error {
	_, err := b.Command(ctx, "dial", uri)
	return err
}

// Answer answers an incoming call (when the server calls the softphone).
func (b *Baresip) Answer(ctx context.Context) error {
	_, err := b.Command(ctx, "accept", "")
	return err
}

// SendDigits presses keys one by one (RFC 4733 from baresip), 250 ms apart.
func (b *Baresip) SendDigits(ctx context.Context, keys string) error {
	for _, k := range keys {
		if _, err := b.Command(ctx, "sndcode", string(k)); err != nil {
			return err
		}
		if err := sleepUntil(ctx, time.Now().Add(250*time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}

// Hangup ends the current call.
func (b *Baresip) Hangup(ctx context.Context) error {
	_, err := b.Command(ctx, "hangup", "")
	return err
}

// Events returns the events received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.events)
}

// WaitEvent waits for the first event of type typ (e.g. "CALL_ESTABLISHED",
// "CALL_CLOSED", "CALL_INCOMING") received since the start, and returns it.
// A CALL_CLOSED while waiting for something else is an error that carries its reason.
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (BaresipEvent, error) {
	for {
		b.mu.Lock()
		evs, wake, rerr := b.events, b.wake, b.readErr
		b.mu.Unlock()
		for _, ev := range evs {
			if ev.Type == typ {
				return ev, nil
			}
		}
		if typ != "CALL_CLOSED" {
			for _, ev := range evs {
				if ev.Type == "CALL_CLOSED" {
					return ev, fmt.Errorf("testkit: baresip call closed (%s) while waiting for %s", ev.Param, typ)
				}
			}
		}
		if rerr != nil {
			return BaresipEvent{}, fmt.Errorf("testkit: baresip control connection: %w", rerr)
		}
		select {
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("testkit: baresip: no %s: %w", typ, ctx.Err())
		case <-wake:
		}
	}
}

// Recordings returns what the softphone sent (the encoder side) and what it heard
// (the decoder side) in its last call, from sndfile's WAVs. Call it after the call
// ended (CALL_CLOSED) or after Close, when the files are complete.
func (b *Baresip) Recordings() (sent, heard WAV, err error) {
	enc, _ := filepath.Glob(filepath.Join(b.recDir, "*-enc.wav"))
	dec, _ := filepath.Glob(filepath.Join(b.recDir, "*-dec.wav"))
	if len(enc) == 0 || len(dec) == 0 {
		return sent, heard, fmt.Errorf("testkit: baresip wrote no recordings in %s", b.recDir)
	}
	sort.Strings(enc)
	sort.Strings(dec)
	if sent, err = ReadWAVFile(enc[len(enc)-1]); err != nil {
		return sent, heard, err
	}
	heard, err = ReadWAVFile(dec[len(dec)-1])
	return sent, heard, err
}

// Close quits baresip (which closes its recordings), killing it after 5 s.
func (b *Baresip) Close() {
	select {
	case <-b.done:
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = b.Command(ctx, "quit", "")
		cancel()
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			b.kill()
			<-b.done
		}
	}
	if b.conn != nil {
		b.conn.Close()
	}
	b.wg.Wait()
}

func (b *Baresip) kill() { _ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) }
