package sip

import (
	"net/netip"
	"testing"
	"time"
)

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestAdmission(t *testing.T) {
	a := newAdmission(3, 10)
	now := time.Unix(1000, 0)
	if r := a.admit(3, now); r != "capacity" {
		t.Errorf("at capacity: %q", r)
	}
	admitted := 0
	for i := 0; i < 20; i++ {
		if a.admit(0, now) == "" {
			admitted++
		}
	}
	if admitted != 10 {
		t.Errorf("a burst admitted %d calls, want the bucket's 10", admitted)
	}
	if r := a.admit(0, now.Add(50*time.Millisecond)); r != "rate" {
		t.Errorf("50 ms later (half a token): %q", r)
	}
	if r := a.admit(0, now.Add(200*time.Millisecond)); r != "" {
		t.Errorf("200 ms later (two tokens): %q", r)
	}
	if r := newAdmission(0, 0).admit(1e6, now); r != "" {
		t.Errorf("no limits: %q", r)
	}
}
