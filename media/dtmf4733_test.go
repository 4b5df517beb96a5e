package media

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tracePacket is one RTP packet of a capture in testdata (see the files' headers).
type tracePacket struct {
	file    string
	at      time.Duration // since the capture's first packet
	ssrc    uint32
	seq     uint16
	ts      uint32
	pt      uint8
	marker  bool
	payload []byte
}

func loadTrace(t testing.TB, name string, withFile bool) []tracePacket {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var pkts []tracePacket
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Fields(line)
		var p tracePacket
		if withFile {
			p.file, c = c[0], c[1:]
		}
		if len(c) != 7 {
			t.Fatalf("%s: bad line %q", name, line)
		}
		sec, err1 := strconv.ParseFloat(c[0], 64)
		ssrc, err2 := strconv.ParseUint(strings.TrimPrefix(c[1], "0x"), 16, 32)
		seq, err3 := strconv.ParseUint(c[2], 10, 16)
		ts, err4 := strconv.ParseUint(c[3], 10, 32)
		pt, err5 := strconv.ParseUint(c[4], 10, 8)
		payload, err6 := hex.DecodeString(c[6])
		for _, err := range []error{err1, err2, err3, err4, err5, err6} {
			if err != nil {
				t.Fatalf("%s: line %q: %v", name, line, err)
			}
		}
		p.at = time.Duration(sec * float64(time.Second))
		p.ssrc, p.seq, p.ts, p.pt = uint32(ssrc), uint16(seq), uint32(ts), uint8(pt)
		p.marker, p.payload = c[5] == "1", payload
		pkts = append(pkts, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no packets", name)
	}
	return pkts
}

// sippPcaps returns the packets of each stock SIPp DTMF pcap by key.
func sippPcaps(t testing.TB) map[byte][]tracePacket {
	byKey := map[byte][]tracePacket{}
	for _, p := range loadTrace(t, "sipp_dtmf_2833_pcaps.txt", true) {
		name := strings.TrimSuffix(strings.TrimPrefix(p.file, "dtmf_2833_"), ".pcap")
		key := map[string]byte{"star": '*', "pound": '#'}[name]
		if key == 0 {
			key = name[0]
		}
		byKey[key] = append(byKey[key], p)
	}
	if len(byKey) != 12 {
		t.Fatalf("want 12 pcaps in the trace, got %d", len(byKey))
	}
	return byKey
}

var testEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// playTrace feeds packets to r as if they arrived at start+their capture offset, and
// returns the keys reported and the digits.
func playTrace(r *DTMFReceiver, pkts []tracePacket, start time.Time) (string, []Digit) {
	var keys []byte
	var digits []Digit
	for _, p := range pkts {
		if d, ok := r.Handle(p.payload, p.ssrc, p.seq, p.ts, start.Add(p.at)); ok {
			keys = append(keys, d.Key)
			digits = append(digits, d)
		}
	}
	return string(keys), digits
}

func TestParseTelephoneEvent(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want TelephoneEvent
	}{
		{"010a0000", TelephoneEvent{Event: 1, Volume: 10}},
		{"018a08c0", TelephoneEvent{Event: 1, End: true, Volume: 10, Duration: 2240}},
		{"0b4a0320", TelephoneEvent{Event: 11, Volume: 10, Duration: 800}}, // SIPp sets R
		{"0bca0640", TelephoneEvent{Event: 11, End: true, Volume: 10, Duration: 1600}},
		{"0f3fffff", TelephoneEvent{Event: 15, Volume: 63, Duration: 0xFFFF}},
		{"1000000000", TelephoneEvent{Event: 16}}, // padding ignored
	} {
		b, _ := hex.DecodeString(tc.hex)
		got, err := ParseTelephoneEvent(b)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.hex, got, err, tc.want)
		}
		var out [4]byte
		if n := got.MarshalTo(out[:]); n != 4 {
			t.Fatalf("MarshalTo = %d", n)
		}
		again, _ := ParseTelephoneEvent(out[:])
		if again != got {
			t.Errorf("%s: round trip %+v != %+v", tc.hex, again, got)
		}
		if out[1]&0x40 != 0 {
			t.Errorf("%s: MarshalTo set the reserved bit", tc.hex)
		}
	}
	for _, short := range [][]byte{nil, {1}, {1, 2, 3}} {
		if _, err := ParseTelephoneEvent(short); err != ErrShortTelephoneEvent {
			t.Errorf("%x: err %v, want ErrShortTelephoneEvent", short, err)
		}
	}
	if n := (TelephoneEvent{}).MarshalTo(make([]byte, 3)); n != 0 {
		t.Errorf("MarshalTo into 3 bytes = %d, want 0", n)
	}
}

func TestEventKeys(t *testing.T) {
	for code := 0; code < 256; code++ {
		k, ok := EventKey(uint8(code))
		if ok != (code < 16) {
			t.Fatalf("EventKey(%d) ok = %t", code, ok)
		}
		if !ok {
			continue
		}
		back, ok := KeyEvent(k)
		if !ok || back != uint8(code) {
			t.Errorf("KeyEvent(%q) = %d, %t; want %d", k, back, ok, code)
		}
	}
	if c, ok := KeyEvent('d'); !ok || c != 15 {
		t.Errorf("KeyEvent('d') = %d, %t", c, ok)
	}
	for _, k := range []byte("eE,+ p") {
		if _, ok := KeyEvent(k); ok {
			t.Errorf("KeyEvent(%q) accepted", k)
		}
	}
}

// Each stock SIPp pcap gives its digit exactly once, on its first packet, and the
// two repeated end packets are counted as duplicates.
func TestDTMFReceiverSIPpPcaps(t *testing.T) {
	for key, pkts := range sippPcaps(t) {
		var r DTMFReceiver
		got, digits := playTrace(&r, pkts, testEpoch)
		if got != string(key) {
			t.Errorf("pcap %q: got %q", key, got)
			continue
		}
		d := digits[0]
		if d.At != testEpoch || d.Duration != 0 || d.Source != DigitRFC4733 {
			t.Errorf("pcap %q: digit %+v, want at the first packet with duration 0", key, d)
		}
		st := r.Stats()
		if st.Digits != 1 || st.Duplicates != 2 || st.Ignored() != 0 || st.FromEnd != 0 {
			t.Errorf("pcap %q: stats %+v", key, st)
		}
	}
}

// Replaying identical pcaps ("11", "1#1") must give every press, however soon the
// next play starts after the previous one's length (SIPp needs a pause of at least
// the file's length, 140 ms), and even when SIPp cuts a play short.
func TestDTMFReceiverSIPpReplays(t *testing.T) {
	pcaps := sippPcaps(t)
	for _, tc := range []struct {
		name  string
		keys  string
		pause time.Duration // between play starts
		cut   int           // packets of each play that are sent (0: all)
	}{
		{"11 pause 1s", "11", time.Second, 0},
		{"111 pause 300ms", "111", 300 * time.Millisecond, 0},
		{"11 pause = file length", "11", 140 * time.Millisecond, 0},
		{"1111 pause 150ms", "1111", 150 * time.Millisecond, 0},
		{"1#1", "1#1", 200 * time.Millisecond, 0},
		{"11 first playTrace cut before its end", "11", 140 * time.Millisecond, 7},
		{"5555 every playTrace cut", "5555", 200 * time.Millisecond, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r DTMFReceiver
			var got string
			for i := 0; i < len(tc.keys); i++ {
				pkts := pcaps[tc.keys[i]]
				if tc.cut > 0 {
					pkts = pkts[:tc.cut]
				}
				k, _ := playTrace(&r, pkts, testEpoch.Add(time.Duration(i)*tc.pause))
				got += k
			}
			if got != tc.keys {
				t.Fatalf("got %q, want %q (stats %+v)", got, tc.keys, r.Stats())
			}
		})
	}
}

// SIPp play_dtmf: PT 97 filler then PT 96 events on one SSRC, R bit set at random.
func TestDTMFReceiverSIPpPlayDTMF(t *testing.T) {
	var r DTMFReceiver
	var events []tracePacket
	for _, p := range loadTrace(t, "sipp_play_dtmf_1pound11.txt", false) {
		if p.pt == 96 {
			events = append(events, p)
		}
	}
	got, digits := playTrace(&r, events, testEpoch)
	if got != "1#11" {
		t.Fatalf("got %q, want \"1#11\"", got)
	}
	for _, d := range digits {
		if d.Duration != 0 {
			t.Errorf("digit %q reported with duration %v, want it on the start packet", d.Key, d.Duration)
		}
	}
	if st := r.Stats(); st.Duplicates != 8 || st.Ignored() != 0 {
		t.Errorf("stats %+v", st)
	}
}

// baresip sends its telephone-events interleaved with audio, starting at duration
// 160, with new timestamps per press.
func TestDTMFReceiverBaresip(t *testing.T) {
	var r DTMFReceiver
	got, digits := playTrace(&r, loadTrace(t, "baresip_dtmf_1pound11.txt", false), testEpoch)
	if got != "1#11" {
		t.Fatalf("got %q, want \"1#11\"", got)
	}
	for _, d := range digits {
		if d.Duration != 20*time.Millisecond {
			t.Errorf("digit %q reported with duration %v, want the first packet's 20 ms", d.Key, d.Duration)
		}
	}
	if st := r.Stats(); st.Duplicates != 8 || st.Ignored() != 0 || st.Rearmed != 0 || st.FromEnd != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A new SSRC with the same timestamp is a new press (SIPp's play_dtmf after pcaps).
func TestDTMFReceiverSSRCSwitch(t *testing.T) {
	var r DTMFReceiver
	pkts := sippPcaps(t)['1']
	playTrace(&r, pkts, testEpoch)
	moved := make([]tracePacket, len(pkts))
	copy(moved, pkts)
	for i := range moved {
		moved[i].ssrc = 0x01020305
	}
	// Arrives at once after the first: only the SSRC tells it apart.
	if got, _ := playTrace(&r, moved, testEpoch.Add(145*time.Millisecond)); got != "1" {
		t.Fatalf("after SSRC switch got %q, want \"1\"", got)
	}
	if st := r.Stats(); st.SSRCChanges != 1 || st.Digits != 2 {
		t.Errorf("stats %+v", st)
	}
}

func teBytes(code uint8, end bool, dur uint16) []byte {
	var b [4]byte
	TelephoneEvent{Event: code, End: end, Volume: 10, Duration: dur}.MarshalTo(b[:])
	return b[:]
}

// tePkt is one packet in a hand-written scenario.
type tePkt struct {
	ms   int // arrival, ms after testEpoch
	code uint8
	end  bool
	dur  uint16
	seq  uint16
	ts   uint32
	ssrc uint32
}

func runTEPkts(r *DTMFReceiver, ps []tePkt) (string, []Digit) {
	var keys []byte
	var ds []Digit
	for _, p := range ps {
		if p.ssrc == 0 {
			p.ssrc = 42
		}
		if d, ok := r.Handle(teBytes(p.code, p.end, p.dur), p.ssrc, p.seq, p.ts, testEpoch.Add(time.Duration(p.ms)*time.Millisecond)); ok {
			keys = append(keys, d.Key)
			ds = append(ds, d)
		}
	}
	return string(keys), ds
}

// rfcPress4733 builds the packets an RFC 4733 sender makes for one press: updates
// every 20 ms starting at duration 160, then three end packets.
func rfcPress4733(startMS int, code uint8, frames int, seq uint16, ts uint32) []tePkt {
	var ps []tePkt
	for k := 0; k < frames-1; k++ {
		ps = append(ps, tePkt{ms: startMS + 20*k, code: code, dur: uint16(160 * (k + 1)), seq: seq, ts: ts})
		seq++
	}
	for k := 0; k < 3; k++ {
		ps = append(ps, tePkt{ms: startMS + 20*(frames-1+k), code: code, end: true, dur: uint16(160 * frames), seq: seq, ts: ts})
		seq++
	}
	return ps
}

func TestDTMFReceiverLoss(t *testing.T) {
	press := rfcPress4733(0, 7, 5, 100, 8000) // 4 updates + 3 ends
	t.Run("start lost", func(t *testing.T) {
		var r DTMFReceiver
		got, ds := runTEPkts(&r, press[2:])
		if got != "7" || ds[0].Duration != 60*time.Millisecond || ds[0].At != testEpoch.Add(40*time.Millisecond) {
			t.Fatalf("got %q %+v", got, ds)
		}
		if r.Stats().FromEnd != 0 {
			t.Errorf("stats %+v", r.Stats())
		}
	})
	t.Run("only ends", func(t *testing.T) {
		var r DTMFReceiver
		got, ds := runTEPkts(&r, press[4:])
		if got != "7" || ds[0].Duration != 100*time.Millisecond || r.Stats().FromEnd != 1 {
			t.Fatalf("got %q %+v, stats %+v", got, ds, r.Stats())
		}
	})
	t.Run("only the last end", func(t *testing.T) {
		var r DTMFReceiver
		if got, _ := runTEPkts(&r, press[6:]); got != "7" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("every end lost, next press new timestamp", func(t *testing.T) {
		var r DTMFReceiver
		ps := append(append([]tePkt{}, press[:4]...), rfcPress4733(200, 7, 5, 107, 9600)...)
		if got, _ := runTEPkts(&r, ps); got != "77" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("ends retransmitted late and reordered", func(t *testing.T) {
		var r DTMFReceiver
		ps := append([]tePkt{}, press...)
		// The ends again, and an update sent at 60 ms arriving 65 ms late.
		ps = append(ps, press[5], press[3], press[6])
		ps[len(ps)-3].ms, ps[len(ps)-2].ms, ps[len(ps)-1].ms = 122, 125, 130
		if got, _ := runTEPkts(&r, ps); got != "7" {
			t.Fatalf("got %q", got)
		}
		if st := r.Stats(); st.Duplicates != 5 || st.Ignored() != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("reordered updates", func(t *testing.T) {
		var r DTMFReceiver
		ps := append([]tePkt{}, press...)
		ps[1], ps[2] = ps[2], ps[1]
		ps[1].ms, ps[2].ms = 20, 40
		if got, _ := runTEPkts(&r, ps); got != "7" {
			t.Fatalf("got %q", got)
		}
		if st := r.Stats(); st.Duplicates != 3 || st.Ignored() != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("previous key's end after the next key began", func(t *testing.T) {
		var r DTMFReceiver
		two := rfcPress4733(140, 2, 5, 107, 9600)
		ps := append(append(append([]tePkt{}, press[:5]...), two[:2]...), press[5:]...)
		for i := 7; i < len(ps); i++ {
			ps[i].ms = 170 + i
		}
		ps = append(ps, two[2:]...)
		if got, _ := runTEPkts(&r, ps); got != "72" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestDTMFReceiverDistinctPresses(t *testing.T) {
	var r DTMFReceiver
	var ps []tePkt
	var ts uint32 = 1000
	var seq uint16 = 65530 // wraps
	want := "0123456789*#ABCD"
	for i := 0; i < len(want); i++ {
		code, _ := KeyEvent(want[i])
		ps = append(ps, rfcPress4733(i*200, code, 5, seq, ts)...)
		seq += 7
		ts += 1600
	}
	if got, _ := runTEPkts(&r, ps); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDTMFReceiverAbsurd(t *testing.T) {
	var r DTMFReceiver
	ps := []tePkt{
		{ms: 0, code: 16, dur: 0, seq: 1, ts: 100},     // flash: not a key
		{ms: 20, code: 200, dur: 160, seq: 2, ts: 100}, // nonsense code
		{ms: 40, code: 3, dur: 800, seq: 3, ts: 500},   // press '3'
		{ms: 60, code: 3, dur: 320, seq: 4, ts: 500},   // newer packet, duration went backwards
		{ms: 80, code: 3, dur: 960, seq: 5, ts: 500},   // fine again
		{ms: 100, code: 3, end: true, dur: 1120, seq: 6, ts: 500},
	}
	got, _ := runTEPkts(&r, ps)
	if got != "3" {
		t.Fatalf("got %q", got)
	}
	if _, ok := r.Handle([]byte{1, 2, 3}, 42, 7, 900, testEpoch); ok {
		t.Fatal("short payload gave a digit")
	}
	st := r.Stats()
	if st.NotDTMF != 2 || st.BadDuration != 1 || st.Malformed != 1 || st.Digits != 1 || st.Ignored() != 4 {
		t.Errorf("stats %+v", st)
	}
}

// A press past MaxDuration (a stuck key) is reported once and its later packets and
// segments are ignored and counted.
func TestDTMFReceiverLongEvents(t *testing.T) {
	t.Run("segments continue one press", func(t *testing.T) {
		var r DTMFReceiver
		// 12 s of '9' in 50 ms updates: segment 1 runs to 0xFFFF, segment 2 starts at ts+0xFFFF.
		var ps []tePkt
		var seq uint16
		for d := 400; d <= 0xFFFF; d += 400 {
			ps = append(ps, tePkt{ms: d / 8, code: 9, dur: uint16(min(d, 0xFFFF)), seq: seq, ts: 0})
			seq++
		}
		ps = append(ps, tePkt{ms: 0xFFFF/8 + 10, code: 9, dur: 0xFFFF, seq: seq, ts: 0})
		seq++
		for d := 400; d <= 30000; d += 400 {
			ps = append(ps, tePkt{ms: (0xFFFF + d) / 8, code: 9, dur: uint16(d), seq: seq, ts: 0xFFFF})
			seq++
		}
		pastMax := uint64(0) // packets of segment 2 beyond 10 s in all
		for _, p := range ps {
			if p.ts == 0xFFFF && 0xFFFF+int(p.dur) > 80000 {
				pastMax++
			}
		}
		got, _ := runTEPkts(&r, ps)
		st := r.Stats()
		if got != "9" || st.Continued != 1 || st.BadDuration != pastMax || pastMax == 0 {
			t.Fatalf("got %q, stats %+v, want %d packets past 10 s ignored", got, st, pastMax)
		}
	})
	t.Run("short max", func(t *testing.T) {
		r := DTMFReceiver{MaxDuration: time.Second}
		got, _ := runTEPkts(&r, []tePkt{
			{ms: 0, code: 1, dur: 4000, seq: 1, ts: 10},
			{ms: 600, code: 1, dur: 8800, seq: 2, ts: 10}, // 1.1 s
			{ms: 620, code: 1, end: true, dur: 8800, seq: 3, ts: 10},
			{ms: 640, code: 1, end: true, dur: 8800, seq: 4, ts: 10}, // retransmitted end
			{ms: 1000, code: 1, dur: 0, seq: 1, ts: 10},              // identical replay: a new press
			{ms: 1020, code: 1, end: true, dur: 160, seq: 2, ts: 10},
		})
		if st := r.Stats(); got != "11" || st.BadDuration != 2 || st.Duplicates != 1 {
			t.Fatalf("got %q stats %+v", got, st)
		}
		// First seen already past the limit: nothing, now or from its later packets.
		got, _ = runTEPkts(&r, []tePkt{
			{ms: 2000, code: 2, dur: 8500, seq: 9, ts: 50000},
			{ms: 2020, code: 2, dur: 8660, seq: 10, ts: 50000},
			{ms: 2040, code: 2, end: true, dur: 8800, seq: 11, ts: 50000},
		})
		if st := r.Stats(); got != "" || st.BadDuration != 5 {
			t.Fatalf("got %q stats %+v", got, st)
		}
	})
}

func TestDTMFReceiverHandleAllocs(t *testing.T) {
	var r DTMFReceiver
	pkts := sippPcaps(t)['1']
	now := testEpoch
	allocs := testing.AllocsPerRun(200, func() {
		for _, p := range pkts {
			now = now.Add(20 * time.Millisecond)
			r.Handle(p.payload, p.ssrc, p.seq, p.ts, now)
		}
		now = now.Add(time.Second)
	})
	if allocs != 0 {
		t.Fatalf("Handle allocates: %v per press", allocs)
	}
	if st := r.Stats(); st.Digits < 200 {
		t.Fatalf("replayed presses not all seen: %+v", st)
	}
}

func BenchmarkDTMFReceiverHandle(b *testing.B) {
	var r DTMFReceiver
	pkts := sippPcaps(b)['1']
	now := testEpoch
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := &pkts[i%len(pkts)]
		now = now.Add(20 * time.Millisecond)
		r.Handle(p.payload, p.ssrc, p.seq, p.ts, now)
	}
}

// The re-arm rule at its edge: a packet of an ended press is new only when it would
// be more than RearmAfter late as part of that press.
func TestDTMFReceiverRearmBoundary(t *testing.T) {
	press := rfcPress4733(0, 4, 5, 10, 3000) // ends (duration 800) at 80, 100, 120 ms
	for _, tc := range []struct {
		name  string
		extra tePkt
		want  string
	}{
		// Sent at 40 ms with duration 480: 320 units = 40 ms before the end.
		{"update 30 ms after the end: 70 ms late", tePkt{ms: 110, code: 4, dur: 480, seq: 12, ts: 3000}, "4"},
		{"update 50 ms after the end: 90 ms late", tePkt{ms: 130, code: 4, dur: 480, seq: 12, ts: 3000}, "44"},
		{"start packet at once after the end: a replay", tePkt{ms: 125, code: 4, dur: 0, seq: 10, ts: 3000}, "44"},
		{"end again 190 ms after the last", tePkt{ms: 310, code: 4, end: true, dur: 800, seq: 16, ts: 3000}, "4"},
		{"end again 210 ms after the last", tePkt{ms: 330, code: 4, end: true, dur: 800, seq: 16, ts: 3000}, "44"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r DTMFReceiver
			if got, _ := runTEPkts(&r, append(append([]tePkt{}, press...), tc.extra)); got != tc.want {
				t.Fatalf("got %q, want %q (stats %+v)", got, tc.want, r.Stats())
			}
		})
	}
	// A custom RearmAfter moves the edge.
	r := DTMFReceiver{RearmAfter: 100 * time.Millisecond}
	if got, _ := runTEPkts(&r, append(append([]tePkt{}, press...), tePkt{ms: 130, code: 4, dur: 480, seq: 12, ts: 3000})); got != "4" {
		t.Fatalf("RearmAfter 100 ms: got %q", got)
	}
}

// WebRTC peers on Opus run telephone-event at 48 kHz: durations, re-arming and
// long-event segments follow the clock.
func TestDTMFReceiverClockRate48k(t *testing.T) {
	r := DTMFReceiver{ClockRate: 48000}
	var ps []tePkt
	var seq uint16
	// A 3 s press of '#' in 20 ms updates: segments at ts 0, 0xFFFF, 2*0xFFFF.
	for ms := 20; ms <= 3000; ms += 20 {
		units := ms * 48
		seg := units / 0xFFFF
		ps = append(ps, tePkt{ms: ms, code: 11, dur: uint16(units - seg*0xFFFF), seq: seq, ts: uint32(seg * 0xFFFF)})
		seq++
	}
	last := ps[len(ps)-1]
	for k := 1; k <= 3; k++ {
		e := last
		e.ms, e.end, e.seq = last.ms+20*k, true, last.seq+uint16(k)
		ps = append(ps, e)
	}
	got, _ := runTEPkts(&r, ps)
	if st := r.Stats(); got != "#" || st.Continued != 2 || st.Ignored() != 0 {
		t.Fatalf("got %q, stats %+v", got, st)
	}
	// An end-only press reports its duration in 48 kHz units.
	r2 := DTMFReceiver{ClockRate: 48000}
	_, ds := runTEPkts(&r2, []tePkt{{ms: 0, code: 3, end: true, dur: 4800, seq: 1, ts: 5}})
	if len(ds) != 1 || ds[0].Duration != 100*time.Millisecond {
		t.Fatalf("got %+v", ds)
	}
}
