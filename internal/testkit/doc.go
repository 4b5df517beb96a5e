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
// A typical integration test:
//
//	probe := testkit.NewRTPProbe(t)         // the server's audio lands here
//	probe.ReplyWith(0, nil)                 // and the probe talks back (symmetric RTP)
//	res, err := testkit.RunSIPp(t, testkit.SIPpOpts{
//		Scenario: testkit.ScenarioCall, Target: srv.SIPAddr(), Number: "12369",
//		Pause: 6 * time.Second, MediaPort: probe.Port(),
//	})
//	if err != nil { t.Fatal(err) }
//	ref, _ := testkit.ReadWAVFS(ivr.BuiltinPrompts, "prompts/zh/greeting_12369.wav")
//	testkit.RequireHeard(t, testkit.Audio(probe.Packets()), ref.Samples, "12369 greeting")
//	t.Log(testkit.Gaps(probe.Packets()))   // pacing: p99 |gap−20 ms|, max gap, loss
//
// Refusals: SIPpOpts{Scenario: ScenarioError, ExpectCode: 503, CheckHeaders: []string{"Retry-After"}}.
// A callee (agent, transfer target): StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, RTPEcho: true}).Addr().
// A softphone: StartBaresip(t, BaresipOpts{Tone: 1000}).Dial(ctx, "sip:12345@"+addr).
//
// testkit deliberately decodes G.711 with zaf/g711 directly rather than through
// package media, so the oracle does not share code with what it checks.
package testkit
