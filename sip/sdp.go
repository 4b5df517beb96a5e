package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hotline-12345/hotline/media"
	"github.com/pion/sdp/v3"
)

// MediaError is an offer or answer we cannot accept; the INVITE gets 488 with a Warning.
type MediaError struct{ Reason string }

func (e *MediaError) Error() string { return "sdp: " + e.Reason }

// Offer is the part of a peer's SDP that matters to a G.711 audio leg.
type Offer struct {
	Addr      netip.AddrPort  // connection address and audio port; the address may be 0.0.0.0 (hold)
	RTCP      netip.AddrPort  // from a=rtcp, if given
	Codecs    []media.Codec   // offered G.711 codecs, in the peer's order
	DTMFPT    uint8           // telephone-event/8000 payload type, 0 if none
	Direction string          // sendrecv, sendonly, recvonly, inactive (from the peer's view)
	Ptime     int             // ms, 0 if not given
	MediaIdx  int             // index of the audio m= line we use
	Formats   []string        // the audio m= line's formats
	Lines     []sdp.MediaName // every m= line, to decline the others in the answer
}

// Hold reports whether the peer wants no audio from us.
func (o *Offer) Hold() bool {
	return o.Direction == "sendonly" || o.Direction == "inactive" || o.Addr.Addr().IsUnspecified()
}

// ParseSDP reads an offer or answer. Anything we cannot use is a *MediaError.
func ParseSDP(body []byte) (*Offer, error) {
	if len(body) == 0 {
		return nil, &MediaError{"empty SDP"}
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return nil, &MediaError{"unparseable SDP: " + err.Error()}
	}
	o := &Offer{MediaIdx: -1, Direction: "sendrecv"}
	sessionDir := direction(sd.Attributes)
	for _, md := range sd.MediaDescriptions {
		o.Lines = append(o.Lines, md.MediaName)
	}
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !hasProto(md.MediaName.Protos, "RTP", "AVP") {
			continue // SAVP, UDP/TLS: not for a G.711 trunk leg
		}
		o.MediaIdx = i
		o.Formats = md.MediaName.Formats
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return nil, &MediaError{"no connection address"}
		}
		if ci.AddressType != "IP4" && ci.AddressType != "IP6" {
			return nil, &MediaError{"unsupported address type " + ci.AddressType}
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return nil, &MediaError{"connection address " + strconv.Quote(ci.Address.Address) + " is not an IP address"}
		}
		port := md.MediaName.Port.Value
		if port <= 0 || port > 65535 {
			return nil, &MediaError{"audio port out of range"}
		}
		o.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		o.Direction = sessionDir
		if d := direction(md.Attributes); d != "" {
			o.Direction = d
		}
		if o.Direction == "" {
			o.Direction = "sendrecv"
		}
		rtpmap := map[string]string{}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				pt, enc, ok := strings.Cut(a.Value, " ")
				if ok {
					rtpmap[pt] = strings.ToLower(strings.TrimSpace(enc))
				}
			case "ptime":
				o.Ptime, _ = strconv.Atoi(strings.TrimSpace(a.Value))
			case "rtcp":
				f := strings.Fields(a.Value)
				if len(f) > 0 {
					if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p < 65536 {
						rip := ip
						if len(f) >= 4 {
							if x, err := netip.ParseAddr(f[3]); err == nil {
								rip = x
							}
						}
						o.RTCP = netip.AddrPortFrom(rip.Unmap(), uint16(p))
					}
				}
			}
		}
		for _, f := range md.MediaName.Formats {
			enc, mapped := rtpmap[f]
			switch {
			case f == "0" && (!mapped || strings.HasPrefix(enc, "pcmu/8000")):
				o.Codecs = append(o.Codecs, media.PCMU)
			case f == "8" && (!mapped || strings.HasPrefix(enc, "pcma/8000")):
				o.Codecs = append(o.Codecs, media.PCMA)
			case mapped && strings.HasPrefix(enc, "telephone-event/8000"):
				if pt, err := strconv.Atoi(f); err == nil && pt >= 96 && pt <= 127 && o.DTMFPT == 0 {
					o.DTMFPT = uint8(pt)
				}
			}
		}
		break
	}
	if o.MediaIdx < 0 {
		return nil, &MediaError{"no RTP/AVP audio stream offered"}
	}
	return o, nil
}

func hasProto(protos []string, want ...string) bool {
	return strings.EqualFold(strings.Join(protos, "/"), strings.Join(want, "/"))
}

func direction(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return ""
}

// Choose picks our codec: the first of prefs that the peer offered.
func (o *Offer) Choose(prefs []media.Codec) (media.Codec, error) {
	for _, p := range prefs {
		for _, c := range o.Codecs {
			if c == p {
				return c, nil
			}
		}
	}
	return 0, &MediaError{fmt.Sprintf("no common codec (offered %v, we accept %v)", o.Formats, prefs)}
}

// answerDirection mirrors the peer's direction as RFC 3264 asks.
func answerDirection(peer string) string {
	switch peer {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// Remote turns a negotiated offer or answer into the media leg's parameters.
func (o *Offer) Remote(c media.Codec) media.Remote {
	hold := o.Hold()
	return media.Remote{
		Addr:   o.Addr,
		RTCP:   o.RTCP,
		Codec:  c,
		DTMFPT: o.DTMFPT,
		Send:   !hold && o.Direction != "sendonly" && o.Direction != "inactive",
		Recv:   o.Direction == "sendrecv" || o.Direction == "sendonly",
	}
}

// SDPParams describe our side of an offer or answer.
type SDPParams struct {
	Local     netip.AddrPort
	SessionID uint64
	Version   uint64
	Codecs    []media.Codec // answer: exactly one; offer: our preference list
	DTMFPT    uint8         // 0: no telephone-event
	Direction string
	// For an answer: the peer's m= line count and which one is audio, so the others get port 0.
	MediaIdx  int
	PeerLines []sdp.MediaName
}

var errNoCodec = errors.New("sdp: no codec to write")

// BuildSDP writes our SDP with pion/sdp.
func BuildSDP(p SDPParams) ([]byte, error) {
	if len(p.Codecs) == 0 {
		return nil, errNoCodec
	}
	addrType := "IP4"
	if p.Local.Addr().Is6() {
		addrType = "IP6"
	}
	ip := p.Local.Addr().String()
	sd := &sdp.SessionDescription{
		Version: 0,
		Origin: sdp.Origin{Username: "hotline", SessionID: p.SessionID, SessionVersion: p.Version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip},
		SessionName:           "hotline",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
	audio := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(p.Local.Port())}, Protos: []string{"RTP", "AVP"}}}
	for _, c := range p.Codecs {
		audio.MediaName.Formats = append(audio.MediaName.Formats, strconv.Itoa(int(c)))
		audio.Attributes = append(audio.Attributes, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", c, c)))
	}
	if p.DTMFPT != 0 {
		pt := strconv.Itoa(int(p.DTMFPT))
		audio.MediaName.Formats = append(audio.MediaName.Formats, pt)
		audio.Attributes = append(audio.Attributes,
			sdp.NewAttribute("rtpmap", pt+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", pt+" 0-16"))
	}
	dir := p.Direction
	if dir == "" {
		dir = "sendrecv"
	}
	audio.Attributes = append(audio.Attributes, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir))
	if len(p.PeerLines) == 0 { // an offer of ours
		sd.MediaDescriptions = []*sdp.MediaDescription{audio}
		return sd.Marshal()
	}
	for i, line := range p.PeerLines {
		if i == p.MediaIdx {
			sd.MediaDescriptions = append(sd.MediaDescriptions, audio)
			continue
		}
		// A stream we decline: the same media line with port 0 (RFC 3264 §6).
		line.Port = sdp.RangedPort{Value: 0}
		sd.MediaDescriptions = append(sd.MediaDescriptions, &sdp.MediaDescription{MediaName: line})
	}
	return sd.Marshal()
}
