package ivr

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The examples in README.md and the package doc are flows that load: documentation that
// an operator copies must not fail validation.
func TestDocumentedExamplesLoad(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml example in README.md")
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	// The doc example is the indented block after "Example:", with the "//\t" prefix removed.
	var ex []string
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "// Example:"):
			in = true
		case in && strings.HasPrefix(line, "//\t"):
			ex = append(ex, strings.TrimPrefix(line, "//\t"))
		case in && len(ex) > 0:
			in = false
		}
	}
	examples := map[string][]byte{"doc.go": []byte(strings.Join(ex, "\n"))}
	for i, b := range blocks {
		examples["README.md#"+string(rune('1'+i))] = b[1]
	}
	for name, src := range examples {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			f, err := Load(name, src, LoadOptions{Audio: h.audio, Skills: []string{"general"}})
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if len(f.nodes) < 5 {
				t.Errorf("only %d nodes parsed", len(f.nodes))
			}
			out := h.run(f, "", h.opts())
			if out.Action != ActionQueue && out.Action != ActionHangup {
				t.Errorf("silent caller ended with %s", out.Action)
			}
		})
	}
}
