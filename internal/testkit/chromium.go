package testkit

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumOptions are the allocator options every browser test starts from: the
// machine's Chromium (NeedTool), a fresh profile in the test's temporary folder,
// the new headless mode, no sandbox (tests run as root), no GPU; then extra.
func ChromiumOptions(t testing.TB, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	t.Helper()
	chromium := NeedTool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
	)
	return append(opts, extra...)
}
