package media

import (
	"encoding/binary"
	"testing"
	"time"
)

func FuzzTelephoneEvent(f *testing.F) {
	for _, p := range loadTrace(f, "sipp_dtmf_2833_pcaps.txt", true) {
		f.Add(p.payload)
	}
	for _, p := range loadTrace(f, "sipp_play_dtmf_1pound11.txt", false) {
		f.Add(p.payload)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseTelephoneEvent(b)
		if err != nil {
			if len(b) >= TelephoneEventSize {
				t.Fatalf("%x: %v", b, err)
			}
			return
		}
		_ = ev.String()
		var out [TelephoneEventSize]byte
		ev.MarshalTo(out[:])
		back, err := ParseTelephoneEvent(out[:])
		if err != nil || back != ev {
			t.Fatalf("%x: round trip %+v -> %x -> %+v, %v", b, ev, out, back, err)
		}
		// Everything but the reserved bit survives.
		if out[0] != b[0] || out[1] != b[1]&^0x40 || out[2] != b[2] || out[3] != b[3] {
			t.Fatalf("%x re-marshalled as %x", b[:4], out)
		}
	})
}

// dtmfFuzzRecord is how FuzzDTMFReceiver reads its input: per packet, 4 payload
// bytes, 1 SSRC byte, 2 sequence, 4 timestamp and 2 arrival-delta (ms) bytes.
const dtmfFuzzRecord = 13

func encodeDTMFFuzz(pkts []tracePacket) []byte {
	var b []byte
	var last time.Duration
	for _, p := range pkts {
		var r [dtmfFuzzRecord]byte
		copy(r[:4], p.payload)
		r[4] = byte(p.ssrc)
		binary.BigEndian.PutUint16(r[5:], p.seq)
		binary.BigEndian.PutUint32(r[7:], p.ts)
		binary.BigEndian.PutUint16(r[11:], uint16((p.at-last)/time.Millisecond))
		last = p.at
		b = append(b, r[:]...)
	}
	return b
}

// FuzzDTMFReceiver feeds arbitrary packet sequences. Beyond not panicking, it checks
// what the leg relies on: every digit is a DTMF key, the Digits counter matches,
// and delivering every packet twice (a network duplicating everything) gives the
// same digits as delivering it once.
func FuzzDTMFReceiver(f *testing.F) {
	pcaps := sippPcaps(f)
	f.Add(encodeDTMFFuzz(pcaps['1']))
	f.Add(encodeDTMFFuzz(append(append([]tracePacket{}, pcaps['1']...), pcaps['1']...)))
	f.Add(encodeDTMFFuzz(append(append([]tracePacket{}, pcaps['#']...), pcaps['0']...)))
	var events []tracePacket
	for _, p := range loadTrace(f, "sipp_play_dtmf_1pound11.txt", false) {
		if p.pt == 96 {
			events = append(events, p)
		}
	}
	f.Add(encodeDTMFFuzz(events))
	f.Fuzz(func(t *testing.T, b []byte) {
		run := func(copies int) string {
			var r DTMFReceiver
			var keys []byte
			now := testEpoch
			for off := 0; off+dtmfFuzzRecord <= len(b); off += dtmfFuzzRecord {
				rec := b[off : off+dtmfFuzzRecord]
				now = now.Add(time.Duration(binary.BigEndian.Uint16(rec[11:])) * time.Millisecond)
				ssrc := 0x0e050000 | uint32(rec[4])
				seq := binary.BigEndian.Uint16(rec[5:])
				ts := binary.BigEndian.Uint32(rec[7:])
				for range copies {
					if d, ok := r.Handle(rec[:4], ssrc, seq, ts, now); ok {
						if _, valid := KeyEvent(d.Key); !valid || d.Source != DigitRFC4733 || !d.At.Equal(now) {
							t.Fatalf("bad digit %+v", d)
						}
						keys = append(keys, d.Key)
					}
				}
			}
			if st := r.Stats(); st.Digits != uint64(len(keys)) {
				t.Fatalf("Digits counter %d, returned %d", st.Digits, len(keys))
			}
			return string(keys)
		}
		once, twice := run(1), run(2)
		if once != twice {
			t.Fatalf("duplicated packets changed the digits: %q once, %q twice", once, twice)
		}
	})
}
