package powjs

import (
	"crypto/sha256"
	"encoding/json"
	"math/bits"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestWithPutsTheSolverFirst: a page's script is served after the
// solver, which defines the one global the pages use.
func TestWithPutsTheSolverFirst(t *testing.T) {
	got := With("/* page */")
	if !strings.HasPrefix(got, Source()) || !strings.HasSuffix(got, "/* page */") {
		t.Errorf("With does not put the solver before the page")
	}
	if !strings.Contains(Source(), "var sportelloPow = ") {
		t.Errorf("the solver does not define sportelloPow")
	}
}

// TestWorkerSolves runs the served script as its Web Worker runs, in
// Node.js, and checks the counter with Go's SHA-256: the hash of the
// challenge followed by the decimal counter starts with the zero bits
// asked, and no smaller counter does.
func TestWorkerSolves(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js")
	}
	dir := t.TempDir()
	script := dir + "/pow.js"
	if err := os.WriteFile(script, []byte(With("(function () { if (typeof document === \"undefined\") return; })();")), 0o600); err != nil {
		t.Fatal(err)
	}
	runner := dir + "/run.js"
	if err := os.WriteFile(runner, []byte(`var fs = require("fs");
global.self = { postMessage: function (m) { console.log(JSON.stringify(m)); } };
eval(fs.readFileSync(process.argv[2], "utf8"));
self.onmessage({ data: { challenge: process.argv[3], bits: Number(process.argv[4]) } });
`), 0o600); err != nil {
		t.Fatal(err)
	}
	lead := func(s string) int {
		h := sha256.Sum256([]byte(s))
		n := 0
		for _, b := range h {
			if b != 0 {
				return n + bits.LeadingZeros8(b)
			}
			n += 8
		}
		return n
	}
	// A challenge longer than one block exercises the midstate.
	for _, c := range []struct {
		challenge string
		bits      int
	}{{"q1.short", 10}, {strings.Repeat("x", 70), 12}} {
		out, err := exec.Command(node, runner, script, c.challenge, strconv.Itoa(c.bits)).Output()
		if err != nil {
			t.Fatalf("node: %v", err)
		}
		var got struct {
			Challenge string `json:"challenge"`
			Counter   int    `json:"counter"`
		}
		if err := json.Unmarshal(out, &got); err != nil || got.Challenge != c.challenge {
			t.Fatalf("node said %q (%v)", out, err)
		}
		if lead(c.challenge+strconv.Itoa(got.Counter)) < c.bits {
			t.Errorf("%q: counter %d does not solve %d bits", c.challenge, got.Counter, c.bits)
		}
		for i := 0; i < got.Counter; i++ {
			if lead(c.challenge+strconv.Itoa(i)) >= c.bits {
				t.Errorf("%q: counter %d solves too, before %d", c.challenge, i, got.Counter)
				break
			}
		}
	}
}
