//go:build race

package media

// warmLeg does nothing in race builds: its lock-free reads (warm.go) would be reported.
func warmLeg(*RTPLeg) uint64 { return 0 }

// warmTick does nothing in race builds, like warmLeg.
func warmTick(*RTPLeg) uint64 { return 0 }
