//go:build race

package acd_test

// The randomised single-goroutine property test gains nothing from the race
// detector but its slowness: fewer seeds under -race (the concurrent one runs in full).
const propertySeeds = 30
