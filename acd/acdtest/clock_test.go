package acdtest

import (
	"testing"
	"time"
)

func TestClockFiresInOrder(t *testing.T) {
	c := NewClock(time.Time{})
	start := c.Now()
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, name+"@"+c.Now().Sub(start).String()) }
	}
	c.AfterFunc(3*time.Second, at("c"))
	c.AfterFunc(time.Second, at("a"))
	c.AfterFunc(time.Second, at("a2")) // same instant: in scheduling order
	stopped := c.AfterFunc(2*time.Second, at("never"))
	c.AfterFunc(2*time.Second, func() {
		got = append(got, "b@2s")
		c.AfterFunc(500*time.Millisecond, at("chained")) // due inside this Advance
		c.AfterFunc(0, at("now"))
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should succeed once")
	}
	c.AfterFunc(-time.Second, at("past")) // fires at the next Advance, at the current time
	c.Advance(0)
	c.Advance(5 * time.Second)
	want := []string{"past@0s", "a@1s", "a2@1s", "b@2s", "now@2s", "chained@2.5s", "c@3s"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if c.Now().Sub(start) != 5*time.Second || c.Pending() != 0 {
		t.Fatalf("now %v, %d pending", c.Now().Sub(start), c.Pending())
	}
	if _, ok := c.Next(); ok {
		t.Fatal("next with nothing pending")
	}
	c.Set(start) // never backwards
	if c.Now().Sub(start) != 5*time.Second {
		t.Fatal("clock went backwards")
	}
}
