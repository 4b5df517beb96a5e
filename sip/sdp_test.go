package sip

import (
	"errors"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/media"
)

const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n"

const chromeLike = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 RTP/AVP 111 8 0 126\r\nc=IN IP4 10.1.2.3\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:0 PCMU/8000\r\na=rtpmap:126 telephone-event/8000\r\na=sendrecv\r\na=rtcp:9 IN IP4 10.1.2.3\r\n"

func TestParseSDP(t *testing.T) {
	tests := []struct {
		name      string
		sdp       string
		addr      string
		codecs    []media.Codec
		dtmf      uint8
		dir       string
		hold      bool
		errSubstr string
	}{
		{name: "sipp", sdp: sippOffer, addr: "127.0.0.1:6000", codecs: []media.Codec{media.PCMU}, dtmf: 96, dir: "sendrecv"},
		{name: "chromium order and PT 126", sdp: chromeLike, addr: "10.1.2.3:9", codecs: []media.Codec{media.PCMA, media.PCMU}, dtmf: 126, dir: "sendrecv"},
		{name: "sendonly hold", sdp: strings.Replace(sippOffer, "a=fmtp:96 0-15\r\n", "a=fmtp:96 0-15\r\na=sendonly\r\n", 1),
			addr: "127.0.0.1:6000", codecs: []media.Codec{media.PCMU}, dtmf: 96, dir: "sendonly", hold: true},
		{name: "0.0.0.0 hold", sdp: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1),
			addr: "0.0.0.0:6000", codecs: []media.Codec{media.PCMU}, dtmf: 96, dir: "sendrecv", hold: true},
		{name: "session-level inactive", sdp: strings.Replace(sippOffer, "t=0 0\r\n", "t=0 0\r\na=inactive\r\n", 1),
			addr: "127.0.0.1:6000", codecs: []media.Codec{media.PCMU}, dtmf: 96, dir: "inactive", hold: true},
		{name: "static PT without rtpmap", sdp: "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0\r\n",
			addr: "1.2.3.4:4000", codecs: []media.Codec{media.PCMA, media.PCMU}, dir: "sendrecv"},
		{name: "only video", sdp: "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n", errSubstr: "no RTP/AVP audio"},
		{name: "SRTP only", sdp: strings.Replace(sippOffer, "RTP/AVP", "RTP/SAVP", 1), errSubstr: "no RTP/AVP audio"},
		{name: "garbage", sdp: "hello", errSubstr: "unparseable"},
		{name: "empty", sdp: "", errSubstr: "empty"},
		{name: "hostname address", sdp: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 pbx.example", 1), errSubstr: "not an IP"},
		{name: "no connection", sdp: strings.Replace(sippOffer, "c=IN IP4 127.0.0.1\r\n", "", 1), errSubstr: "no connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseSDP([]byte(tt.sdp))
			if tt.errSubstr != "" {
				var me *MediaError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want a MediaError with %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Addr.String() != tt.addr || o.DTMFPT != tt.dtmf || o.Direction != tt.dir || o.Hold() != tt.hold {
				t.Errorf("got addr %s dtmf %d dir %s hold %v", o.Addr, o.DTMFPT, o.Direction, o.Hold())
			}
			if len(o.Codecs) != len(tt.codecs) {
				t.Fatalf("codecs %v, want %v", o.Codecs, tt.codecs)
			}
			for i := range o.Codecs {
				if o.Codecs[i] != tt.codecs[i] {
					t.Errorf("codecs %v, want %v", o.Codecs, tt.codecs)
				}
			}
		})
	}
}

func TestChooseCodec(t *testing.T) {
	o, _ := ParseSDP([]byte(chromeLike))
	if c, _ := o.Choose([]media.Codec{media.PCMU, media.PCMA}); c != media.PCMU {
		t.Errorf("with PCMU preferred chose %v", c)
	}
	if c, _ := o.Choose([]media.Codec{media.PCMA}); c != media.PCMA {
		t.Errorf("with only PCMA chose %v", c)
	}
	g729 := strings.Replace(sippOffer, "RTP/AVP 0 96", "RTP/AVP 18 96", 1)
	o, _ = ParseSDP([]byte(g729))
	if _, err := o.Choose([]media.Codec{media.PCMU, media.PCMA}); err == nil || !strings.Contains(err.Error(), "no common codec") {
		t.Errorf("G.729-only offer: err %v", err)
	}
}

// The answer mirrors the direction, keeps the peer's telephone-event PT, declines other streams.
func TestBuildAnswer(t *testing.T) {
	offer := chromeLike + "m=video 9 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
	o, err := ParseSDP([]byte(strings.Replace(offer, "a=sendrecv", "a=sendonly", 1)))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := o.Choose([]media.Codec{media.PCMA})
	p := SDPParams{Local: mustAP("127.0.0.1:20000"), SessionID: 5, Version: 1, Codecs: []media.Codec{c},
		DTMFPT: o.DTMFPT, Direction: answerDirection(o.Direction), MediaIdx: o.MediaIdx, PeerLines: o.Lines}
	b, err := BuildSDP(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"m=audio 20000 RTP/AVP 8 126", "a=rtpmap:126 telephone-event/8000", "a=recvonly", "m=video 0 RTP/AVP 96", "a=ptime:20", "c=IN IP4 127.0.0.1"} {
		if !strings.Contains(s, want) {
			t.Errorf("answer lacks %q:\n%s", want, s)
		}
	}
	back, err := ParseSDP(b)
	if err != nil || back.Addr.Port() != 20000 || back.Codecs[0] != media.PCMA {
		t.Errorf("our answer does not parse back: %v %+v", err, back)
	}
}

func FuzzParseSDP(f *testing.F) {
	f.Add(sippOffer)
	f.Add(chromeLike)
	f.Add(strings.Replace(sippOffer, "c=IN IP4 127.0.0.1", "c=IN IP6 ::1", 1))
	f.Add("v=0\r\nm=audio 99999 RTP/AVP 0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseSDP([]byte(s))
		if err != nil {
			var me *MediaError
			if !errors.As(err, &me) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if !o.Addr.IsValid() || o.Addr.Port() == 0 {
			t.Fatalf("accepted an offer without a usable address: %+v", o)
		}
		c, err := o.Choose([]media.Codec{media.PCMU, media.PCMA})
		if err != nil {
			return
		}
		if _, err := BuildSDP(SDPParams{Local: mustAP("127.0.0.1:20000"), Codecs: []media.Codec{c}, DTMFPT: o.DTMFPT,
			Direction: answerDirection(o.Direction), MediaIdx: o.MediaIdx, PeerLines: o.Lines}); err != nil {
			t.Fatalf("cannot answer an accepted offer: %v", err)
		}
	})
}

func TestParseDTMFInfo(t *testing.T) {
	tests := []struct {
		ct, body string
		key      byte
		ok       bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', true},
		{"application/dtmf-relay", "Signal= #\nDuration=100", '#', true},
		{"Application/DTMF-Relay; charset=x", "signal=*", '*', true},
		{"application/dtmf-relay", "Signal=11", '#', true},
		{"application/dtmf", "7", '7', true},
		{"application/dtmf-relay", "Signal=55", 0, false},
		{"application/dtmf-relay", "Duration=100", 0, false},
		{"text/plain", "5", 0, false},
	}
	for _, tt := range tests {
		k, _, err := ParseDTMFInfo(tt.ct, []byte(tt.body))
		if (err == nil) != tt.ok || k != tt.key {
			t.Errorf("%s %q: key %q err %v", tt.ct, tt.body, k, err)
		}
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n")
	f.Add("application/dtmf", "#")
	f.Fuzz(func(t *testing.T, ct, body string) {
		k, d, err := ParseDTMFInfo(ct, []byte(body))
		if err == nil && (!strings.ContainsRune("0123456789*#ABCD", rune(k)) || d < 0) {
			t.Fatalf("accepted key %q duration %v", k, d)
		}
	})
}
