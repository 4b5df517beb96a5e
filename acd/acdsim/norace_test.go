//go:build !race

package acdsim

// simHours is how long the statistical tests simulate: long enough for the
// sampling error to be small next to the differences that matter.
const simHours = 12
