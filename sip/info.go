package sip

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ParseDTMFInfo reads the body of a SIP INFO carrying a digit: application/dtmf-relay
// ("Signal=5\r\nDuration=160") or application/dtmf ("5"). Anything else is an error.
func ParseDTMFInfo(contentType string, body []byte) (key byte, dur time.Duration, err error) {
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	if len(body) > 1024 {
		return 0, 0, errors.New("dtmf info: body too long")
	}
	switch ct {
	case "application/dtmf-relay":
		var signal string
		for _, line := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\r' || r == '\n' }) {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "signal":
				signal = strings.TrimSpace(v)
			case "duration":
				if ms, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && ms > 0 && ms <= 10000 {
					dur = time.Duration(ms) * time.Millisecond
				}
			}
		}
		key, err = dtmfKey(signal)
		return key, dur, err
	case "application/dtmf":
		key, err = dtmfKey(strings.TrimSpace(string(body)))
		return key, 0, err
	}
	return 0, 0, errors.New("dtmf info: unsupported content type " + strconv.Quote(contentType))
}

func dtmfKey(s string) (byte, error) {
	switch {
	case len(s) == 1 && strings.ContainsAny(s, "0123456789*#ABCDabcd"):
		return strings.ToUpper(s)[0], nil
	case s == "10":
		return '*', nil // some gateways send the RFC 4733 event code
	case s == "11":
		return '#', nil
	}
	return 0, errors.New("dtmf info: not a DTMF key: " + strconv.Quote(s))
}
