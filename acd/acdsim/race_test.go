//go:build race

package acdsim

// Under the race detector the simulation runs ~10× slower; a shorter run
// still checks the model within its (larger) sampling error.
const simHours = 4
