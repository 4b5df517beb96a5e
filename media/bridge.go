package media

// Bridge connects two parties: each hears what the other says. It reads the legs'
// inbound rings directly, so a bridge adds no hop and, with one codec on both sides, no
// transcoding. Setting another outbound source on either leg ends that direction.
func Bridge(a, b Leg) {
	a.SetOutbound(b.Inbound())
	b.SetOutbound(a.Inbound())
}
