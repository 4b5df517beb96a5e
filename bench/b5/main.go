// Command b5 measures what recording costs (B5 in BENCHMARKS.md): B4's bridged calls
// at one load (half the B4 knee), with recording on and off, alternated A B A B on one
// server. Every bridged call is recorded by design, so "off" is made by turning the
// recordings folder into a file before the step: the recorder cannot create its day
// folder, logs the failure once per call, and the call goes on unrecorded (the
// disk-failure path). Reported: server CPU % on vs off (median of the runs) and the
// overhead, bytes written per call-second, and checks of the WAV files (stereo, 8 kHz,
// A-law, header sizes matching the file, duration matching the call).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hotline-12345/hotline/bench/b4/bridge"
	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
)

func main() {
	calls := flag.Int("calls", 300, "concurrent bridged calls (half the B4 knee)")
	rate := flag.Float64("rate", 53, "calls per second while ramping")
	window := flag.Duration("window", 10*time.Second, "measurement window per run")
	repeats := flag.Int("repeats", 3, "on/off pairs (A B A B …)")
	results := flag.String("results", "bench/RESULTS-b3-b6.md", "append the report here ('' = none)")
	flag.Parse()
	if err := run(*calls, *rate, *window, *repeats, *results); err != nil {
		fmt.Fprintln(os.Stderr, "b5:", err)
		os.Exit(1)
	}
}

func run(n int, rate float64, window time.Duration, repeats int, results string) error {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hotline-b5-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	loadStart := kit.LoadAvg()
	s, err := bridge.Start(ctx, root, dir, n+50, 0)
	if err != nil {
		return err
	}
	defer s.Stop()
	r := &harness.Report{
		Title: "B5: recording on vs off",
		Method: fmt.Sprintf("B4's setup (hotline core 0 GOMAXPROCS=1, SIPp callers and one -rtp_echo UAS for all agents on core 1) at %d bridged calls, "+
			"ramped at %v calls/s, a %v window per run, recording on and off alternated %d times each on one server. Off = the recordings "+
			"folder replaced by a file (the recorder fails at start, logs once per call, the call goes on). CPU from /proc/PID/stat. "+
			"Load average at start %s.", n, rate, window, repeats, loadStart),
	}
	var on, off []float64
	var bytesPerCallSec []float64
	var lastOnFiles []string
	var wavOK int
	var wavBad []string
	for i := 0; i < 2*repeats; i++ {
		recording := i%2 == 0
		if recording {
			err = s.RecordingOn()
		} else {
			err = s.RecordingOff()
		}
		if err != nil {
			return err
		}
		before, _ := s.RecordedBytes()
		var files0 map[string]bool
		if recording {
			files0 = listFiles(s.RecDir)
		}
		res, err := s.Step(ctx, n, rate, window)
		if err != nil {
			return err
		}
		label := "off"
		if recording {
			label = "on"
			on = append(on, res.CPUPct)
			after, _ := s.RecordedBytes()
			// The calls talk ramp + settle + window + 8 s; bytes per call-second over that.
			talk := float64(n)/rate + 3 + window.Seconds() + 8
			bytesPerCallSec = append(bytesPerCallSec, float64(after-before)/float64(n+1)/talk)
			lastOnFiles = nil
			for f := range listFiles(s.RecDir) {
				if !files0[f] {
					lastOnFiles = append(lastOnFiles, f)
				}
			}
			// Check the files now (the next run turns the folder into a file), once the
			// recorders have closed: the header is rewritten at close.
			time.Sleep(3 * time.Second)
			wavOK, wavBad = checkWAVs(lastOnFiles, float64(n)/rate+3+window.Seconds()+8)
		} else {
			off = append(off, res.CPUPct)
		}
		fmt.Fprintf(&r.Detail, "run %d recording %s: server %.1f %% of a core, %.2f µs per forwarded packet, up %d, failed %d, probe %s; "+
			"SIPp callers %.0f %% UAS %.0f %%; load %s\n", i+1, label, res.CPUPct, res.USPerForwarded, res.Up, res.Failed, res.ViaHotline,
			res.CallerSIPpPct, res.UASPct, kit.LoadAvg())
		fmt.Printf("run %d recording %s: %.1f %%\n", i+1, label, res.CPUPct)
		time.Sleep(5 * time.Second)
	}
	mOn, mOff := harness.Median(on), harness.Median(off)
	load := fmt.Sprintf("%d bridged", n)
	r.Add("B5", load, "server CPU recording on / off (median)", fmt.Sprintf("%.1f %% / %.1f %% of a core (runs on %v, off %v)", mOn, mOff, round(on), round(off)), "")
	r.Add("B5", load, "recording CPU overhead", fmt.Sprintf("%+.1f %% of the unrecorded CPU (%.2f %% of a core per 100 calls)", 100*(mOn-mOff)/mOff, (mOn-mOff)/float64(n)*100), "≤ 15 %")
	// Runs drift (the same load costs 23 to 33 % of a core from one run to the next on
	// a shared VM): each pair's own overhead, and the pooled one, say more than the
	// medians of on and off taken apart.
	var pairs []float64
	sumOn, sumOff := 0.0, 0.0
	for i := range min(len(on), len(off)) {
		pairs = append(pairs, 100*(on[i]-off[i])/off[i])
		sumOn, sumOff = sumOn+on[i], sumOff+off[i]
	}
	if len(pairs) > 0 {
		r.Add("B5", load, "recording CPU overhead, per A B pair (median) / pooled", fmt.Sprintf("%+.1f %% (pairs %v) / %+.1f %%",
			harness.Median(pairs), round(pairs), 100*(sumOn-sumOff)/sumOff), "≤ 15 %")
	}
	r.Add("B5", load, "bytes written per call-second", fmt.Sprintf("%.0f B (stereo 8 kHz A-law = 16,000 B/s)", harness.Median(bytesPerCallSec)), "16,000")
	r.Add("B5", load, "WAV checks (last 'on' run)", fmt.Sprintf("%d of %d files pass", wavOK, len(lastOnFiles)), "all")
	for i, b := range wavBad {
		if i == 5 {
			fmt.Fprintf(&r.Detail, "  … %d more\n", len(wavBad)-5)
			break
		}
		fmt.Fprintf(&r.Detail, "  WAV: %s\n", b)
	}
	return r.Finish(os.Stdout, results, "")
}

func round(v []float64) []string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return s
}

func listFiles(dir string) map[string]bool {
	m := map[string]bool{}
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			m[p] = true
		}
		return nil
	})
	return m
}

// checkWAVs verifies each file: RIFF/WAVE, A-law (format 6), 2 channels, 8 kHz, 8 bits, a
// fact chunk whose sample count matches, RIFF and
// data sizes matching the file's length, and a duration no longer than the longest call
// (the calls were ramped, so each lasts between talk − ramp and talk).
func checkWAVs(files []string, maxTalk float64) (ok int, bad []string) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			bad = append(bad, f+": "+err.Error())
			continue
		}
		if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
			bad = append(bad, f+": not RIFF/WAVE")
			continue
		}
		format := binary.LittleEndian.Uint16(b[20:])
		ch := binary.LittleEndian.Uint16(b[22:])
		rate := binary.LittleEndian.Uint32(b[24:])
		bits := binary.LittleEndian.Uint16(b[34:])
		riff := binary.LittleEndian.Uint32(b[4:])
		// find the data chunk
		pos, dataSize, factSamples := 12, uint32(0), uint32(0)
		found := false
		for pos+8 <= len(b) {
			id := string(b[pos : pos+4])
			sz := binary.LittleEndian.Uint32(b[pos+4:])
			if id == "fact" && sz >= 4 && pos+12 <= len(b) {
				factSamples = binary.LittleEndian.Uint32(b[pos+8:])
			}
			if id == "data" {
				dataSize, found = sz, true
				pos += 8
				break
			}
			pos += 8 + int(sz)
		}
		dur := float64(dataSize) / 16000
		switch {
		case format != 6 || ch != 2 || rate != 8000 || bits != 8:
			bad = append(bad, fmt.Sprintf("%s: format %d, %d ch %d Hz %d bits", f, format, ch, rate, bits))
		case !found || int(riff) != len(b)-8 || int(dataSize) != len(b)-pos || factSamples != dataSize/2:
			bad = append(bad, fmt.Sprintf("%s: sizes riff %d data %d, file %d", f, riff, dataSize, len(b)))
		case dur <= 0 || dur > maxTalk+2:
			bad = append(bad, fmt.Sprintf("%s: %.1f s long, calls talk at most %.1f s", f, dur, maxTalk))
		default:
			ok++
		}
	}
	return ok, bad
}
