package chrometest

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }
func (r *recorder) Skipf(f string, args ...any)  { r.skip = fmt.Sprintf(f, args...) }

// TestPathWithoutChromium: no Chromium on PATH fails the test under
// CI=true and skips it otherwise, saying which package to install.
func TestPathWithoutChromium(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		if p := Path(r); p != "" {
			t.Fatalf("CI=%q: found %q on an empty PATH", ci, p)
		}
		got := r.skip
		if ci == "true" {
			got = r.fatal
		}
		if !strings.Contains(got, "Debian package chromium") || (ci == "true") != (r.fatal != "") {
			t.Fatalf("CI=%q: fatal %q, skip %q", ci, r.fatal, r.skip)
		}
	}
}
