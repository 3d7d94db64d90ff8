// Package browsertest finds the Chromium that the browser tests drive
// (through chromedp). A machine without one skips those tests, except
// where RequireEnv is set (CI sets it): there a missing browser fails, so
// that a browser test can never pass by being skipped.
package browsertest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireEnv, when set, turns a missing Chromium into a failure.
const RequireEnv = "SPORTELLO_REQUIRE_BROWSER"

// PathEnv names a Chromium binary to use instead of looking on PATH.
const PathEnv = "SPORTELLO_CHROMIUM"

// names are the binaries looked for on PATH, in order.
func names() []string {
	return []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless-shell"}
}

// Chromium returns the path of a Chromium (or Chrome) binary, or skips t
// when there is none (fails it when RequireEnv is set).
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(PathEnv); p != "" {
		return p
	}
	for _, name := range names() {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	SkipOrFail(t, "no Chromium found (looked on PATH for "+strings.Join(names(), ", ")+", and at $"+PathEnv+")")
	return ""
}

// SkipOrFail skips t because a browser test cannot run here, or fails it
// when RequireEnv is set.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s, and %s is set: install what is missing (apt-get install chromium)", why, RequireEnv)
	}
	t.Skipf("%s: browser test skipped; set %s=1 to make this a failure", why, RequireEnv)
}
