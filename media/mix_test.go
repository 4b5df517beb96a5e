package media

import "testing"

func TestMixCarriesEverySource(t *testing.T) {
	a := NewToneSource(0.3, 697)
	b := NewToneSource(0.3, 1477)
	m := Mix(a, b, nil, NewPlayer()) // a nil and an empty source add nothing
	var pcm []int16
	frame := make([]byte, FrameSamples)
	buf := make([]int16, FrameSamples)
	for i := 0; i < 25; i++ {
		if !m.ReadFrame(PCMA, frame) {
			t.Fatal("the mix had nothing")
		}
		DecodeFrame(PCMA, buf, frame)
		pcm = append(pcm, buf...)
	}
	for _, f := range []float64{697, 1477} {
		if lvl := ToneLevel(pcm, f); lvl < -14 {
			t.Errorf("%v Hz at %.1f dBFS in the mix", f, lvl)
		}
	}
	if Mix(NewPlayer(), nil).ReadFrame(PCMU, frame) {
		t.Error("a mix of silent sources claimed a frame")
	}
	if n := testing.AllocsPerRun(100, func() { m.ReadFrame(PCMU, frame) }); n != 0 {
		t.Errorf("mixing allocates %.0f per frame", n)
	}
}

func TestGainAndSaturation(t *testing.T) {
	loud := NewToneSource(0.9, 1000)
	frame := make([]byte, FrameSamples)
	pcm := make([]int16, FrameSamples*10)
	quiet := Gain(NewToneSource(0.9, 1000), 0.25)
	for i := 0; i < 10; i++ {
		quiet.ReadFrame(PCMU, frame)
		DecodeFrame(PCMU, pcm[i*FrameSamples:], frame)
	}
	q := ToneLevel(pcm, 1000)
	for i := 0; i < 10; i++ {
		loud.ReadFrame(PCMU, frame)
		DecodeFrame(PCMU, pcm[i*FrameSamples:], frame)
	}
	if l := ToneLevel(pcm, 1000); l-q < 10 || l-q > 14 {
		t.Errorf("gain 0.25 lowered the level by %.1f dB, want about 12", l-q)
	}
	// Two loud tones in phase saturate instead of wrapping around.
	m := Mix(NewToneSource(0.9, 500), NewToneSource(0.9, 500))
	m.ReadFrame(PCMU, frame)
	DecodeFrame(PCMU, pcm[:FrameSamples], frame)
	hi, lo := int16(0), int16(0)
	for i, v := range pcm[:FrameSamples] {
		hi, lo = max(hi, v), min(lo, v)
		if i > 0 && abs32(int32(v)-int32(pcm[i-1])) > 40000 {
			t.Fatalf("sample %d jumps from %d to %d: the sum wrapped around", i, pcm[i-1], v)
		}
	}
	if hi < 30000 || lo > -30000 {
		t.Errorf("a doubled 0.9 tone peaks at %d/%d, want clipped near full scale", hi, lo)
	}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
