package call

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/media"
	"go.uber.org/goleak"
)

// partyLeg is a fake leg whose party says one constant level, so that what another
// party hears (a mix) tells exactly who is in it.
type partyLeg struct {
	name  string
	level int16

	mu   sync.Mutex
	out  media.Source
	taps []media.Sink // FromParty taps
	done chan struct{}
	once sync.Once
}

func newPartyLeg(name string, level int16) *partyLeg {
	return &partyLeg{name: name, level: level, done: make(chan struct{})}
}

type levelSource struct{ level int16 }

func (s levelSource) ReadFrame(c media.Codec, p []byte) bool {
	var pcm [media.FrameSamples]int16
	for i := range pcm {
		pcm[i] = s.level
	}
	media.EncodeFrame(c, p[:media.FrameSamples], pcm[:])
	return true
}

func (l *partyLeg) Inbound() media.Source { return levelSource{l.level} }
func (l *partyLeg) SetOutbound(src media.Source) {
	l.mu.Lock()
	l.out = src
	l.mu.Unlock()
}
func (l *partyLeg) Tap(dir media.Direction, s media.Sink) func() {
	if dir != media.FromParty {
		return func() {}
	}
	l.mu.Lock()
	l.taps = append(l.taps, s)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, x := range l.taps {
			if x == s {
				l.taps = append(l.taps[:i], l.taps[i+1:]...)
				return
			}
		}
	}
}
func (l *partyLeg) Digits() <-chan media.Digit { return nil }
func (l *partyLeg) Done() <-chan struct{}      { return l.done }
func (l *partyLeg) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *partyLeg) nTaps() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.taps)
}

// hears reads one frame of what the leg's party hears and names the parties in it:
// the level heard is the sum of the levels of those mixed.
func (l *partyLeg) hears(t *testing.T, parties ...*partyLeg) string {
	t.Helper()
	l.mu.Lock()
	src := l.out
	l.mu.Unlock()
	if src == nil {
		return "nothing"
	}
	var buf [media.FrameSamples]byte
	if !src.ReadFrame(media.PCMU, buf[:]) {
		return "nothing"
	}
	var pcm [media.FrameSamples]int16
	media.DecodeFrame(media.PCMU, pcm[:], buf[:])
	got := int(pcm[0])
	best, bestD := "nothing", 1<<30
	for mask := 1; mask < 1<<len(parties); mask++ {
		sum := 0
		var names []string
		for i, p := range parties {
			if mask&(1<<i) != 0 {
				sum += int(p.level)
				names = append(names, p.name)
			}
		}
		if d := abs(sum - got); d < bestD {
			sort.Strings(names)
			best, bestD = strings.Join(names, "+"), d
		}
	}
	if bestD > 250 { // μ-law steps at these levels are 64 to 256
		t.Fatalf("%s hears level %d, not a sum of parties", l.name, got)
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

type countSink struct{}

func (countSink) WriteFrame(media.Codec, []byte) {}

// monitorFixture is a bridged call (fake legs) and a supervisor whose leg the registry
// gets from a fake SupervisorLeg.
type monitorFixture struct {
	m                   *monitors
	caller, agent, sup  *partyLeg
	end                 func()
	released            chan struct{}
	ended               chan string
	recStreams, getLegs int
	mu                  sync.Mutex
}

func newMonitorFixture(t *testing.T) *monitorFixture {
	f := &monitorFixture{m: &monitors{},
		caller: newPartyLeg("caller", 1000), agent: newPartyLeg("agent", 2000), sup: newPartyLeg("supervisor", 4000),
		released: make(chan struct{}, 4), ended: make(chan string, 4)}
	media.Bridge(f.caller, f.agent) // fake legs: each hears the other's inbound
	f.end = f.m.add("c1", "1001", f.caller, f.agent, func() media.Sink {
		f.mu.Lock()
		f.recStreams++
		f.mu.Unlock()
		return countSink{}
	})
	f.m.legs = func(ctx context.Context, req agentdesk.MonitorRequest) (media.Leg, func(), error) {
		f.mu.Lock()
		f.getLegs++
		f.mu.Unlock()
		return f.sup, func() { f.released <- struct{}{} }, nil
	}
	t.Cleanup(f.end)
	return f
}

func (f *monitorFixture) req(mode agentdesk.MonitorMode) agentdesk.MonitorRequest {
	return agentdesk.MonitorRequest{CallID: "c1", Supervisor: "s1", Mode: mode,
		Ended: func(reason string) { f.ended <- reason }}
}

// check asserts what each party hears.
func (f *monitorFixture) check(t *testing.T, step, caller, agent, sup string) {
	t.Helper()
	all := []*partyLeg{f.caller, f.agent, f.sup}
	if got := f.caller.hears(t, all...); got != caller {
		t.Errorf("%s: the caller hears %s, want %s", step, got, caller)
	}
	if got := f.agent.hears(t, all...); got != agent {
		t.Errorf("%s: the agent hears %s, want %s", step, got, agent)
	}
	if got := f.sup.hears(t, all...); got != sup {
		t.Errorf("%s: the supervisor hears %s, want %s", step, got, sup)
	}
}

func TestMonitorModesMixExactlyWhatEachPartyHears(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	ctx := context.Background()
	f.check(t, "bridged", "agent", "caller", "nothing")

	st, err := f.m.monitor(ctx, f.req(agentdesk.MonitorListen), nil)
	if err != nil || st.Agent != "1001" || st.Previous != "" || st.Mode != agentdesk.MonitorListen {
		t.Fatalf("listen: %+v %v", st, err)
	}
	f.check(t, "listen", "agent", "caller", "agent+caller")

	st, err = f.m.monitor(ctx, f.req(agentdesk.MonitorWhisper), nil)
	if err != nil || st.Previous != agentdesk.MonitorListen {
		t.Fatalf("whisper: %+v %v", st, err)
	}
	f.check(t, "whisper", "agent", "caller+supervisor", "agent+caller")
	if n := f.sup.nTaps(); n != 0 {
		t.Errorf("whisper: the supervisor is in the recording (%d taps)", n)
	}

	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorBarge), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "barge", "agent+supervisor", "caller+supervisor", "agent+caller")
	if n := f.sup.nTaps(); n != 1 || f.recStreams != 1 {
		t.Errorf("barge: the supervisor is not in the recording's right channel (%d taps, %d streams)", n, f.recStreams)
	}

	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorWhisper), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "barge→whisper", "agent", "caller+supervisor", "agent+caller")
	if n := f.sup.nTaps(); n != 0 {
		t.Errorf("whisper after barge: the supervisor is still recorded (%d taps)", n)
	}

	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorBarge), nil); err != nil {
		t.Fatal(err)
	}
	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorListen), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "barge→listen", "agent", "caller", "agent+caller")

	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorBarge), nil); err != nil {
		t.Fatal(err)
	}
	st, err = f.m.unmonitor("c1", "s1")
	if err != nil || st.Previous != agentdesk.MonitorBarge {
		t.Fatalf("leave: %+v %v", st, err)
	}
	f.check(t, "left", "agent", "caller", "nothing")
	if n := f.sup.nTaps(); n != 0 {
		t.Errorf("left: the supervisor is still recorded (%d taps)", n)
	}
	select {
	case <-f.released:
	case <-time.After(5 * time.Second):
		t.Fatal("the supervisor's leg was not released on leaving")
	}
	if f.getLegs != 1 {
		t.Errorf("the supervisor's phone was rung %d times for one session; mode switches must not ring again", f.getLegs)
	}
	select {
	case r := <-f.ended:
		t.Errorf("Ended called (%q) for a leave the supervisor asked for", r)
	default:
	}
	// A new session after leaving rings again.
	if _, err = f.m.monitor(ctx, f.req(agentdesk.MonitorWhisper), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "whisper again", "agent", "caller+supervisor", "agent+caller")
	f.end()
	<-f.released
	if r := <-f.ended; r != "the call ended" {
		t.Errorf("ended: %q", r)
	}
}

func TestMonitorSupervisorHangsUpDuringBarge(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	if _, err := f.m.monitor(context.Background(), f.req(agentdesk.MonitorBarge), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "barge", "agent+supervisor", "caller+supervisor", "agent+caller")
	f.sup.Close() // the supervisor's phone hangs up
	select {
	case r := <-f.ended:
		if !strings.Contains(r, "hung up") {
			t.Errorf("ended: %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end when the supervisor hung up")
	}
	<-f.released
	f.check(t, "after the hang-up", "agent", "caller", "nothing")
	if n := f.sup.nTaps(); n != 0 {
		t.Errorf("the supervisor is still recorded (%d taps)", n)
	}
	if _, err := f.m.unmonitor("c1", "s1"); !errors.Is(err, agentdesk.ErrNotMonitoring) {
		t.Errorf("leave after hang-up: %v", err)
	}
}

func TestMonitorCallEndsEndsTheSession(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	if _, err := f.m.monitor(context.Background(), f.req(agentdesk.MonitorWhisper), nil); err != nil {
		t.Fatal(err)
	}
	f.end()
	select {
	case <-f.released:
	case <-time.After(5 * time.Second):
		t.Fatal("the supervisor's leg was not released when the call ended")
	}
	if r := <-f.ended; r != "the call ended" {
		t.Errorf("ended: %q", r)
	}
	if got := f.sup.hears(t, f.caller, f.agent); got != "nothing" {
		t.Errorf("after the call: the supervisor hears %s", got)
	}
	if _, err := f.m.monitor(context.Background(), f.req(agentdesk.MonitorListen), nil); !errors.Is(err, agentdesk.ErrNotBridged) {
		t.Errorf("monitor an ended call: %v", err)
	}
	if _, err := f.m.agentOf("c1"); !errors.Is(err, agentdesk.ErrNotBridged) {
		t.Errorf("agentOf an ended call: %v", err)
	}
}

func TestMonitorRefusals(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	ctx := context.Background()
	if _, err := f.m.monitor(ctx, agentdesk.MonitorRequest{CallID: "nope", Supervisor: "s1", Mode: agentdesk.MonitorListen}, nil); !errors.Is(err, agentdesk.ErrNotBridged) {
		t.Errorf("unknown call: %v", err)
	}
	if _, err := f.m.monitor(ctx, agentdesk.MonitorRequest{CallID: "c1", Supervisor: "s1", Mode: "spy"}, nil); err == nil {
		t.Error("a bad mode was accepted")
	}
	if _, err := f.m.unmonitor("c1", "s1"); !errors.Is(err, agentdesk.ErrNotMonitoring) {
		t.Errorf("leave before joining: %v", err)
	}
	if _, err := f.m.monitor(ctx, f.req(agentdesk.MonitorListen), nil); err != nil {
		t.Fatal(err)
	}
	other := f.req(agentdesk.MonitorBarge)
	other.Supervisor = "s2"
	if _, err := f.m.monitor(ctx, other, nil); !errors.Is(err, agentdesk.ErrMonitorBusy) {
		t.Errorf("a second supervisor: %v", err)
	}
	f.check(t, "after a refused barge", "agent", "caller", "agent+caller")
	if _, err := f.m.unmonitor("c1", "s2"); !errors.Is(err, agentdesk.ErrNotMonitoring) {
		t.Errorf("another supervisor's leave: %v", err)
	}
	if _, err := f.m.unmonitor("c1", "s1"); err != nil {
		t.Fatal(err)
	}
	<-f.released
}

// The call ending while the supervisor's phone rings: the phone is hung up as soon as
// it answers, and the request fails with ErrNotBridged.
func TestMonitorCallEndsWhileRinging(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	ringing := make(chan struct{})
	f.m.legs = func(ctx context.Context, req agentdesk.MonitorRequest) (media.Leg, func(), error) {
		close(ringing)
		<-ctx.Done() // the dial gives up when the call ends
		return nil, nil, ctx.Err()
	}
	errc := make(chan error, 1)
	go func() {
		_, err := f.m.monitor(context.Background(), f.req(agentdesk.MonitorListen), nil)
		errc <- err
	}()
	<-ringing
	if _, err := f.m.monitor(context.Background(), f.req(agentdesk.MonitorBarge), nil); !errors.Is(err, agentdesk.ErrMonitorBusy) {
		t.Errorf("a second request while ringing: %v", err)
	}
	f.end()
	select {
	case err := <-errc:
		if !errors.Is(err, agentdesk.ErrNotBridged) {
			t.Errorf("monitor: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dial did not give up when the call ended")
	}
	f.check(t, "after", "agent", "caller", "nothing")
}

// The call's owner puts the caller on hold during a barge: the hold stands (the
// supervisor drops to listening), whisper and barge are refused until the plain bridge
// is back, and leaving does not undo the hold.
func TestMonitorRerouteByTheCallsOwner(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	ctx := context.Background()
	music := newPartyLeg("music", 8000)
	if _, err := f.m.monitor(ctx, f.req(agentdesk.MonitorBarge), nil); err != nil {
		t.Fatal(err)
	}
	all := []*partyLeg{f.caller, f.agent, f.sup, music}
	hold := func() {
		f.caller.SetOutbound(music.Inbound())
		f.agent.SetOutbound(nil)
	}
	f.m.reroute("c1", false, hold)
	if got := f.caller.hears(t, all...); got != "music" {
		t.Errorf("on hold during a barge: the caller hears %s", got)
	}
	if got := f.agent.hears(t, all...); got != "nothing" {
		t.Errorf("on hold during a barge: the agent hears %s", got)
	}
	if got := f.sup.hears(t, all...); got != "agent+caller" {
		t.Errorf("on hold: the supervisor hears %s", got)
	}
	if n := f.sup.nTaps(); n != 0 {
		t.Errorf("on hold: the supervisor is still recorded (%d taps)", n)
	}
	for _, mode := range []agentdesk.MonitorMode{agentdesk.MonitorWhisper, agentdesk.MonitorBarge} {
		if _, err := f.m.monitor(ctx, f.req(mode), nil); !errors.Is(err, ErrMonitorRerouted) || !errors.Is(err, agentdesk.ErrMonitorBusy) {
			t.Errorf("%s on hold: %v", mode, err)
		}
	}
	if st, err := f.m.monitor(ctx, f.req(agentdesk.MonitorListen), nil); err != nil || st.Previous != agentdesk.MonitorListen {
		t.Errorf("listen on hold: %+v %v", st, err)
	}
	// Unhold: the plain bridge is back, and a whisper works again.
	f.m.reroute("c1", true, func() { media.Bridge(f.caller, f.agent) })
	if _, err := f.m.monitor(ctx, f.req(agentdesk.MonitorWhisper), nil); err != nil {
		t.Fatal(err)
	}
	f.check(t, "whisper after unhold", "agent", "caller+supervisor", "agent+caller")
	// Hold again, then leave: the hold stays.
	f.m.reroute("c1", false, hold)
	if _, err := f.m.unmonitor("c1", "s1"); err != nil {
		t.Fatal(err)
	}
	<-f.released
	if got := f.caller.hears(t, all...); got != "music" {
		t.Errorf("left during a hold: the caller hears %s", got)
	}
	// No bridged call registered: the route simply runs.
	ran := false
	f.m.reroute("other", true, func() { ran = true })
	if !ran {
		t.Error("reroute without a bridged call did not route")
	}
}

// fakeSoftphone is a supervisor's browser softphone: connected or not.
type fakeSoftphone struct {
	connected bool
	leg       *partyLeg
	rung      []RingInfo
	hungUp    int
}

type softLeg struct{ *partyLeg }

func (softLeg) SendDTMF(string, time.Duration) error { return nil }
func (softLeg) Gone() bool                           { return false }
func (softLeg) Controls() <-chan Control             { return nil }

func (f *fakeSoftphone) Connected(id string) bool { return f.connected }
func (f *fakeSoftphone) Ring(ctx context.Context, id string, info RingInfo) (AgentLeg, error) {
	f.rung = append(f.rung, info)
	return softLeg{f.leg}, nil
}
func (f *fakeSoftphone) Hangup(id string) { f.hungUp++ }

// A supervisor with a connected browser softphone is joined through it; without one,
// their phone is rung (the next way).
func TestMonitorSupervisorSoftphoneFirst(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := newMonitorFixture(t)
	sp := &fakeSoftphone{leg: newPartyLeg("supervisor", 4000)}
	f.m.legs = SupervisorSoftphone(sp)
	phone := newPartyLeg("supervisor", 4000)
	rungPhone := 0
	dial := func(ctx context.Context, req agentdesk.MonitorRequest) (media.Leg, func(), error) {
		rungPhone++
		return phone, func() {}, nil
	}
	ctx := context.Background()
	if _, err := f.m.monitor(ctx, f.req(agentdesk.MonitorListen), dial); err != nil {
		t.Fatal(err)
	}
	if rungPhone != 1 || len(sp.rung) != 0 {
		t.Errorf("no softphone: phone rung %d, softphone %d", rungPhone, len(sp.rung))
	}
	if _, err := f.m.unmonitor("c1", "s1"); err != nil {
		t.Fatal(err)
	}
	sp.connected = true
	if _, err := f.m.monitor(ctx, f.req(agentdesk.MonitorWhisper), dial); err != nil {
		t.Fatal(err)
	}
	if rungPhone != 1 || len(sp.rung) != 1 || sp.rung[0].Line != "monitor" {
		t.Errorf("softphone: phone rung %d, softphone %+v", rungPhone, sp.rung)
	}
	if got := f.agent.hears(t, f.caller, f.agent, sp.leg); got != "caller+supervisor" {
		t.Errorf("whisper through the softphone: the agent hears %s", got)
	}
	if _, err := f.m.unmonitor("c1", "s1"); err != nil {
		t.Fatal(err)
	}
	if sp.hungUp != 1 {
		t.Errorf("the softphone's monitor call was hung up %d times", sp.hungUp)
	}
}
