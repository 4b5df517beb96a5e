package agentdesk

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/cases"
)

// The decoders see raw outside input: they must never panic, and what they
// refuse must be a 400 (errBadRequest), never anything else.
func checkDecodeErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	var br *errBadRequest
	if !errors.As(err, &br) {
		t.Fatalf("decoder error of the wrong kind: %T %v", err, err)
	}
}

func FuzzDecodeNewCase(f *testing.F) {
	for _, s := range []string{
		`{"channel":"web","caller_number":"13800138000","category":"0201","location":"文三路","description":"噪音"}`,
		`{"confidential":true}`, `{`, `[]`, `null`, `{"category":"0201"} x`, `{"urgency":1}`,
		`{"description":"\ud800"}`, `{"a":1}`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := decodeNewCase(strings.NewReader(s))
		checkDecodeErr(t, err)
	})
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"action":"dispatch","version":1,"dept":"cgj","assisting":["zjj"],"deadline":"2026-12-01T00:00:00Z"}`,
		`{"action":"evaluate","version":3,"score":1}`, `{"action":"extend","version":2,"days":3,"reason":"x"}`,
		`{"action":"","version":1}`, `{"version":-1}`, `{"deadline":"x"}`, `{"version":1e99}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCommand(strings.NewReader(s))
		checkDecodeErr(t, err)
		if err == nil && (c.Action == "" || c.Version < 1) {
			t.Fatalf("accepted %+v", c)
		}
	})
}

func FuzzDecodePatchAndMerge(f *testing.F) {
	for _, s := range []string{`{"version":2,"location":"x","confidential":true}`, `{"into":"20261127-100001","version":1}`, `{"version":0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := decodePatch(strings.NewReader(s))
		checkDecodeErr(t, err)
		_, err = decodeMerge(strings.NewReader(s), true)
		checkDecodeErr(t, err)
		_, err = decodeNote(strings.NewReader(s))
		checkDecodeErr(t, err)
	})
}

func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"number=20261127-100001", "caller=13800138000&q=%25&category=02&state=dispatched",
		"from=2026-01-01&to=2026-02-01&limit=10&offset=20", "limit=-1", "from=x", "a=b", "q=%ff", "q=1&q=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := parseSearch(v)
		checkDecodeErr(t, err)
		if err == nil && (q.Limit < 1 || q.Limit > 500 || q.Offset < 0) {
			t.Fatalf("accepted %+v", q)
		}
		_ = cases.Query(q)
	})
}
