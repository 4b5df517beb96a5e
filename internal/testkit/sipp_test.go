package testkit

import (
	"os"
	"strings"
	"testing"
	"time"
)

// These tests run SIPp against SIPp: they prove the scenarios are valid SIP and
// that the runner reads exit codes and statistics right, before any server exists.

func TestSIPpCallToUAS(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, RTPEcho: true, Calls: 3})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioCall, Target: uas.Addr(), Calls: 3, Rate: 27, Pause: 200 * time.Millisecond, TraceRTT: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if res.ExitCode != 0 || res.Successful != 3 || res.Failed != 0 || res.Created != 3 {
		t.Fatalf("exit %d, created %d, ok %d, failed %d", res.ExitCode, res.Created, res.Successful, res.Failed)
	}
	t.Logf("uac took %v, setup times %v", res.Elapsed, res.SetupTimes)
	if len(res.SetupTimes) != 3 {
		t.Fatalf("setup times: %v", res.SetupTimes)
	}
	if s := res.String(); !strings.HasPrefix(s, "exit 0: 3 created, 3 successful, 0 failed") {
		t.Fatalf("String: %s", s)
	}
	ures, err := uas.Wait()
	if err != nil || ures.Successful != 3 {
		t.Fatalf("uas: %v, %d ok\n%s", err, ures.Successful, ures.Output)
	}
}

func TestSIPpMediaToProbe(t *testing.T) {
	// The UAS answers with its media at an RTPProbe; the UAC plays a pcap of PCMU at
	// it, so the probe hears 20 ms packets from SIPp.
	NeedRawSocket(t)
	probe := NewRTPProbe(t)
	pcap := t.TempDir() + "/tone.pcap"
	if err := WritePCMUPcap(pcap, Tone(8000, 1000, 0.5, time.Second)); err != nil {
		t.Fatal(err)
	}
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, MediaPort: probe.Port()})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioCall, Target: uas.Addr(), Pause: 1500 * time.Millisecond,
		AudioPcap: pcap, AudioPcapLength: time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	pk := probe.Packets()
	if len(pk) < 45 {
		t.Fatalf("probe got %d packets, want ~50", len(pk))
	}
	if n := ToneFrames(Audio(pk), 8000, 1000, 0.9); n < 40 {
		t.Fatalf("1 kHz in %d of %d frames", n, len(pk))
	}
	t.Logf("pcap replay as received: %v", Gaps(pk))
}

func TestSIPpErrorExpected(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASReject, RejectCode: 503, RetryAfter: "5", Calls: 2})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioError, Target: uas.Addr(), ExpectCode: 503, CheckHeaders: []string{"Retry-After"}})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	// The same 503 without Retry-After must fail the check.
	uas2 := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASReject, RejectCode: 503})
	res, err = RunSIPp(t, SIPpOpts{Scenario: ScenarioError, Target: uas2.Addr(), ExpectCode: 503, CheckHeaders: []string{"Retry-After"}})
	if err == nil || res.ExitCode != 1 || res.Failed != 1 {
		t.Fatalf("missing Retry-After passed: exit %d failed %d err %v", res.ExitCode, res.Failed, err)
	}
	// A 486 where 404 is expected fails too.
	uas3 := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASReject, RejectCode: 486})
	res, err = RunSIPp(t, SIPpOpts{Scenario: ScenarioError, Target: uas3.Addr(), ExpectCode: 404})
	if err == nil || res.ExitCode != 1 {
		t.Fatalf("wrong code passed: exit %d err %v", res.ExitCode, err)
	}
}

func TestSIPpUASHangsUp(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, Hangup: 300 * time.Millisecond})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioWaitBye, Target: uas.Addr(), Wait: 5 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	if ures, err := uas.Wait(); err != nil {
		t.Fatalf("uas: %v\n%s", err, ures.Output)
	}
}

func TestSIPpScenariosRender(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []SIPpOpts{
		{Scenario: ScenarioCall, Pause: time.Second},
		{Scenario: ScenarioLateOffer, Pause: time.Second, MediaPort: 40000},
		{Scenario: ScenarioError, ExpectCode: 488, SDP: "v=0\nm=audio [media_port] RTP/AVP 18\na=rtpmap:18 G729/8000"},
		{Scenario: ScenarioCancel, Pause: 500 * time.Millisecond},
		{Scenario: ScenarioHold, Pause: time.Second},
		{Scenario: ScenarioWaitBye},
		{Scenario: ScenarioDTMFPcap, Digits: "19*#"},
		{Scenario: ScenarioDTMFPlay, Digits: "123#"},
		{Scenario: ScenarioUASEcho, Ring: time.Second, Hangup: time.Second},
		{Scenario: ScenarioUASReject, RejectCode: 503, RetryAfter: "3"},
	} {
		p, err := RenderScenario(tc, dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.Scenario, err)
		}
		b, _ := os.ReadFile(p)
		s := string(b)
		if strings.Contains(s, "{{") || strings.Contains(s, "<no value>") {
			t.Fatalf("%s: unrendered template:\n%s", tc.Scenario, s)
		}
		switch tc.Scenario {
		case ScenarioLateOffer:
			if !strings.Contains(s, "m=audio 40000 RTP/AVP 0") {
				t.Fatalf("late offer answer lacks the media port:\n%s", s)
			}
		case ScenarioDTMFPcap:
			if !strings.Contains(s, "dtmf_2833_star.pcap") || !strings.Contains(s, "a=rtpmap:101 telephone-event") {
				t.Fatalf("dtmf pcap scenario:\n%s", s)
			}
		case ScenarioDTMFPlay:
			if !strings.Contains(s, `play_dtmf="123#"`) || !strings.Contains(s, "a=rtpmap:96 telephone-event") {
				t.Fatalf("play_dtmf scenario:\n%s", s)
			}
		case ScenarioError:
			if !strings.Contains(s, "RTP/AVP 18") {
				t.Fatalf("SDP override lost:\n%s", s)
			}
		}
	}
	if _, err := RenderScenario(SIPpOpts{Scenario: ScenarioDTMFPcap, Digits: "x"}, dir); err == nil {
		t.Fatal("bad digit accepted")
	}
}

func TestSIPpLateOffer(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioLateOffer, Target: uas.Addr(), Pause: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
}

func TestSIPpDTMFToProbe(t *testing.T) {
	NeedRawSocket(t)
	for _, tc := range []struct {
		scenario string
		pt       uint8
	}{
		{ScenarioDTMFPcap, 101},
		{ScenarioDTMFPlay, 96},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			probe := NewRTPProbe(t)
			uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, MediaPort: probe.Port()})
			res, err := RunSIPp(t, SIPpOpts{Scenario: tc.scenario, Target: uas.Addr(), Digits: "19#"})
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Output)
			}
			pk := probe.Packets()
			if got := Keys(pk, tc.pt); got != "19#" {
				t.Fatalf("keys %q from %d packets, want 19#", got, len(pk))
			}
		})
	}
}

func TestSIPpOptionsAndInfo(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, Calls: 2})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioOptions, Target: uas.Addr()})
	if err != nil {
		t.Fatalf("options: %v\n%s", err, res.Output)
	}
	res, err = RunSIPp(t, SIPpOpts{Scenario: ScenarioDTMFInfo, Target: uas.Addr(), Digits: "5#"})
	if err != nil {
		t.Fatalf("info: %v\n%s", err, res.Output)
	}
}

func TestSIPpScenariosRenderVariants(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		o    SIPpOpts
		want []string
	}{
		{SIPpOpts{Scenario: ScenarioHold, Hold: "zero"}, []string{"c=IN IP[media_ip_type] 0.0.0.0", "a=sendonly"}},
		{SIPpOpts{Scenario: ScenarioHold, Hold: "inactive"}, []string{"a=inactive"}},
		{SIPpOpts{Scenario: ScenarioDTMFInfo, Digits: "1*"}, []string{"Signal=1", "Signal=*", "CSeq: 3 INFO"}},
		{SIPpOpts{Scenario: ScenarioCall, AuthUser: "trunk", AuthPassword: "pw"}, []string{`auth="true"`, "[authentication]", "CSeq: 2 INVITE", "CSeq: 2 ACK"}},
	} {
		p, err := RenderScenario(tc.o, dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.o.Scenario, err)
		}
		b, _ := os.ReadFile(p)
		for _, w := range tc.want {
			if !strings.Contains(string(b), w) {
				t.Fatalf("%s %+v lacks %q:\n%s", tc.o.Scenario, tc.o, w, b)
			}
		}
	}
	if _, err := RenderScenario(SIPpOpts{Scenario: ScenarioHold, Hold: "sideways"}, dir); err == nil {
		t.Fatal("bad hold style accepted")
	}
}

func TestSIPpOverTCP(t *testing.T) {
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, Transport: "t1"})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioCall, Target: uas.Addr(), Transport: "t1", Pause: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
}

func TestSIPpRTPStreamToProbe(t *testing.T) {
	probe := NewRTPProbe(t)
	ul := t.TempDir() + "/tone.ul"
	if err := WriteUL(ul, Tone(8000, 1000, 0.5, 500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, MediaPort: probe.Port()})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioCall, Target: uas.Addr(), Pause: 1500 * time.Millisecond, AudioUL: ul})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	pk := probe.Packets()
	// Looped: 1.5 s of a 0.5 s file is three rounds.
	if n := ToneFrames(Audio(pk), 8000, 1000, 0.9); n < 50 {
		t.Fatalf("1 kHz in %d frames of %d packets", n, len(pk))
	}
	t.Logf("rtp_stream as received: %v", Gaps(pk))
}
