// Package testkit holds the test-only helpers that integration tests in other
// packages share: free loopback ports, SIPp scenarios and a runner, a baresip
// softphone driven over ctrl_tcp, an RTP probe that records and sends RTP, and
// audio proofs (normalised cross-correlation against a reference prompt, Goertzel).
//
// Everything binds 127.0.0.1, never 0.0.0.0: the tests run inside a loopback-only
// network namespace (scripts/test), and outside it they must not reach the network.
// When a tool is missing, helpers fail the test in CI (CI=true) and skip it elsewhere,
// because scripts/test installs the tools and a skipped test in CI proves nothing.
//
// testkit deliberately decodes G.711 with zaf/g711 directly rather than through
// package media, so the oracle does not share code with what it checks.
package testkit
