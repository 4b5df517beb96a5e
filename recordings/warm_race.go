//go:build race

package recordings

import "time"

// WarmFrame does nothing in race builds: its lock-free reads (warm.go) would be reported.
func (s *sink) WarmFrame(time.Time) {}
