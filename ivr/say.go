package ivr

import "strconv"

// Prompt names of the fragments used to speak digits and numbers (the shared prompt contract).
const (
	promptBeep  = "beep"
	promptStar  = "digit_star"
	promptPound = "digit_pound"
)

var digitPrompts = [10]string{"digit_0", "digit_1", "digit_2", "digit_3", "digit_4",
	"digit_5", "digit_6", "digit_7", "digit_8", "digit_9"}

// Mandarin place words; beyond 万 (10^4) we have no 亿 fragment, so numbers of 10^8 and
// more are read digit by digit.
const (
	promptShi  = "num_10"
	promptBai  = "num_100"
	promptQian = "num_1000"
	promptWan  = "num_10000"
)

// SayDigits turns a string of keys such as a case number "20261127" into the prompts that
// read it one key at a time. Characters that are not keys are skipped.
func SayDigits(s string) []string {
	return appendDigits(make([]string, 0, len(s)), s)
}

func appendDigits(out []string, s string) []string {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			out = append(out, digitPrompts[c-'0'])
		case c == '*':
			out = append(out, promptStar)
		case c == '#':
			out = append(out, promptPound)
		}
	}
	return out
}

// SayNumber turns n into prompts for lang. Mandarin reads it with place words
// (123 → 一百二十三, 10 → 十, 1005 → 一千零五, 120000 → 十二万); English, which has no
// number fragments in the prompt contract, reads the digits. Negative numbers are read
// as their magnitude: a hotline never has to say "minus".
func SayNumber(lang string, n int64) []string {
	return appendNumber(nil, lang, n)
}

func appendNumber(out []string, lang string, n int64) []string {
	if n < 0 {
		if n == -n { // math.MinInt64
			return appendDigits(out, strconv.FormatInt(n, 10))
		}
		n = -n
	}
	if lang != "zh" || n >= 100_000_000 {
		return appendDigits(out, strconv.FormatInt(n, 10))
	}
	if n == 0 {
		return append(out, digitPrompts[0])
	}
	if n >= 10000 {
		out = appendZhBelow10000(out, n/10000, true)
		out = append(out, promptWan)
		n %= 10000
		if n == 0 {
			return out
		}
		if n < 1000 {
			out = append(out, digitPrompts[0]) // 一万零五百
		}
		return appendZhBelow10000(out, n, false)
	}
	return appendZhBelow10000(out, n, true)
}

// appendZhBelow10000 reads 1..9999. leading says the group starts the number, where
// 10–19 is read 十x rather than 一十x.
func appendZhBelow10000(out []string, n int64, leading bool) []string {
	places := [4]string{promptQian, promptBai, promptShi, ""}
	div := int64(1000)
	zero := false
	started := false
	for i := 0; i < 4; i, div = i+1, div/10 {
		d := n / div % 10
		if d == 0 {
			if started {
				zero = true
			}
			continue
		}
		if zero {
			out = append(out, digitPrompts[0])
			zero = false
		}
		if !(d == 1 && i == 2 && !started && leading) {
			out = append(out, digitPrompts[d])
		}
		if places[i] != "" {
			out = append(out, places[i])
		}
		started = true
	}
	return out
}

// itemPrompts lists the prompts an item may need in any of langs (for validation).
func itemPrompts(it item, langs []string) []string {
	switch {
	case it.prompt != "":
		return []string{it.prompt}
	case it.digits != "":
		return digitPrompts[:]
	case it.number != "":
		out := digitPrompts[:]
		for _, l := range langs {
			if l == "zh" {
				out = append(out[:len(out):len(out)], promptShi, promptBai, promptQian, promptWan)
				break
			}
		}
		return out
	}
	return nil
}
