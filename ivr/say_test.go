package ivr

import (
	"math"
	"strings"
	"testing"
)

func short(ps []string) string {
	r := strings.NewReplacer("digit_star", "*", "digit_pound", "#", "digit_", "", "num_10000", "万", "num_1000", "千", "num_100", "百", "num_10", "十")
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(r.Replace(p))
	}
	return b.String()
}

func TestSayNumberMandarin(t *testing.T) {
	tests := map[int64]string{
		0: "0", 7: "7", 10: "十", 11: "十1", 12: "十2", 20: "2十", 99: "9十9", 100: "1百", 101: "1百01",
		110: "1百1十", 123: "1百2十3", 1000: "1千", 1005: "1千05", 1010: "1千01十", 1200: "1千2百",
		10000: "1万", 10010: "1万01十", 10500: "1万05百", 12345: "1万2千3百4十5", 100000: "十万",
		120000: "十2万", 1000000: "1百万", 20261127: "2千02十6万1千1百2十7", 99999999: "9千9百9十9万9千9百9十9",
		100000000: "100000000", -15: "十5",
	}
	for n, want := range tests {
		if got := short(SayNumber("zh", n)); got != want {
			t.Errorf("SayNumber(zh, %d) = %s, want %s", n, got, want)
		}
	}
}

func TestSayNumberEnglishIsDigits(t *testing.T) {
	if got := short(SayNumber("en", 123)); got != "123" {
		t.Errorf("got %s", got)
	}
	if got := short(SayNumber("en", math.MinInt64)); got != "9223372036854775808" {
		t.Errorf("MinInt64: %s", got)
	}
}

func TestSayDigits(t *testing.T) {
	if got := short(SayDigits("2026-11*27#")); got != "202611*27#" {
		t.Errorf("got %s", got)
	}
	if len(SayDigits("")) != 0 {
		t.Error("empty")
	}
}

func BenchmarkSayNumber(b *testing.B) {
	b.ReportAllocs()
	buf := make([]string, 0, 32)
	for i := 0; b.Loop(); i++ {
		buf = appendNumber(buf[:0], "zh", int64(i%100000))
	}
}
