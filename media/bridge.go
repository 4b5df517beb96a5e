package media

// Bridge connects two parties: each hears what the other says. Between two RTP legs of one
// codec, packets are relayed the moment they arrive (no clock wait, no jitter-buffer delay,
// no transcoding); otherwise each leg plays the other's de-jittered audio on the media
// clock, transcoding between μ-law and A-law. Either way the legs' inbound audio still
// feeds taps and readers (recording, supervision). Setting another outbound source on
// either leg ends that direction of the bridge.
func Bridge(a, b Leg) {
	a.SetOutbound(b.Inbound())
	b.SetOutbound(a.Inbound())
	ra, okA := a.(*RTPLeg)
	rb, okB := b.(*RTPLeg)
	if okA && okB && ra.Codec() == rb.Codec() {
		ra.Relay(rb)
		rb.Relay(ra)
	}
}
