package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

func TestProofOfWorkChecks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
	node1, node2 := newProofCache([]byte("cluster key")), newProofCache([]byte("cluster key"))
	other := newProofCache([]byte("another key"))
	const bits = 10
	ch := node1.issue("bari", "o1", bits, now)
	if ch.Bits != bits || !ch.Expires.Equal(now.Add(challengeTTL)) || !strings.HasPrefix(ch.Challenge, challengeVersion+".") {
		t.Fatalf("issued %+v", ch)
	}
	good := proof{Challenge: ch.Challenge, Counter: solveProof(ch.Challenge, bits)}
	var wrong proof
	for c := uint64(0); ; c++ {
		if leadingZeroBits(proofHash(ch.Challenge, c)) < bits {
			wrong = proof{Challenge: ch.Challenge, Counter: c}
			break
		}
	}
	// Lowering the difficulty in the challenge breaks its signature.
	parts := strings.Split(ch.Challenge, ".")
	parts[2] = "1"
	easier := strings.Join(parts, ".")

	for _, tt := range []struct {
		name  string
		cache *proofCache
		t     tenant.ID
		off   string
		pr    proof
		min   int
		at    time.Time
		want  error
	}{
		{"missing", node1, "bari", "o1", proof{}, bits, now, errProofMissing},
		{"garbage", node1, "bari", "o1", proof{Challenge: "abc", Counter: 1}, bits, now, errProofInvalid},
		{"wrong counter", node1, "bari", "o1", wrong, bits, now, errProofInvalid},
		{"easier challenge", node1, "bari", "o1", proof{Challenge: easier, Counter: solveProof(easier, 1)}, bits, now, errProofInvalid},
		{"another office", node1, "bari", "o2", good, bits, now, errProofInvalid},
		{"another Comune", node1, "lecce", "o1", good, bits, now, errProofInvalid},
		{"another cluster's key", other, "bari", "o1", good, bits, now, errProofInvalid},
		{"office raised its difficulty", node1, "bari", "o1", good, bits + 1, now, errProofInvalid},
		{"expired", node1, "bari", "o1", good, bits, now.Add(challengeTTL), errProofExpired},
		{"solved", node1, "bari", "o1", good, bits, now.Add(time.Minute), nil},
		{"reused", node1, "bari", "o1", good, bits, now.Add(2 * time.Minute), errProofReused},
		// Single use is per node: another node with the cluster's key
		// accepts a proof the first one saw (the documented weakness).
		{"on another node", node2, "bari", "o1", good, bits, now.Add(2 * time.Minute), nil},
	} {
		if err := tt.cache.check(tt.t, tt.off, tt.pr, tt.min, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	// Once expired, a used proof leaves the cache when it is full.
	if len(node1.used) != 1 {
		t.Errorf("cache holds %d proofs, want 1", len(node1.used))
	}
}

// proofFor asks the API for a challenge of s's office and solves it.
func (e *env) proofFor(s seeded) (challengeView, uint64) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.host+"/api/v1/offices/"+s.office.ID+"/challenge", nil)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	var ch challengeView
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &ch) != nil {
		e.t.Fatalf("challenge: got %d %s", rec.Code, rec.Body.String())
	}
	return ch, solveProof(ch.Challenge, ch.Bits)
}

func TestProofOfWorkThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	// Without a proof of work configured, the challenge asks 0 bits and
	// no proof is needed.
	if ch, _ := e.proofFor(e.bari); ch.Bits != 0 || ch.Challenge == "" {
		t.Errorf("challenge of an office without proof: %+v, want 0 bits", ch)
	}
	if res := e.take(e.bari, `{"channel":"in_person"}`); res.Status != http.StatusCreated {
		t.Fatalf("take without proof, none asked: got %d %+v", res.Status, res.Err)
	}
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.ProofOfWork = 12 })
	if res := e.take(e.bari, `{"channel":"in_person"}`); res.Status != http.StatusUnprocessableEntity || res.Err.Code != "proof_required" || res.Err.Fields["proof"] == "" {
		t.Errorf("take without proof: got %d %+v, want 422 proof_required on proof", res.Status, res.Err)
	}
	ch, counter := e.proofFor(e.bari)
	if ch.Bits != 12 || ch.Expires.Location().String() == "UTC" {
		t.Errorf("challenge %+v: want 12 bits, expiry in the Comune's zone", ch)
	}
	body := fmt.Sprintf(`{"channel":"in_person","proof":{"challenge":%q,"counter":%d}}`, ch.Challenge, counter)
	wrong := counter + 1
	for leadingZeroBits(proofHash(ch.Challenge, wrong)) >= 12 {
		wrong++
	}
	if res := e.take(e.bari, fmt.Sprintf(`{"channel":"in_person","proof":{"challenge":%q,"counter":%d}}`, ch.Challenge, wrong)); res.Status != http.StatusUnprocessableEntity || res.Err.Code != "proof_invalid" {
		t.Errorf("take with a wrong counter: got %d %+v, want 422 proof_invalid", res.Status, res.Err)
	}
	if res := e.take(e.bari, body); res.Status != http.StatusCreated {
		t.Fatalf("take with the solved proof: got %d %+v", res.Status, res.Err)
	}
	if res := e.take(e.bari, body); res.Status != http.StatusUnprocessableEntity || res.Err.Code != "proof_reused" {
		t.Errorf("take with the proof again: got %d %+v, want 422 proof_reused", res.Status, res.Err)
	}
	// Lecce's challenge does not open Bari's office.
	e.configure(e.lecce, func(c *queue.OfficeConfig) { c.ProofOfWork = 4 })
	lch, lcounter := e.proofFor(e.lecce)
	if res := e.take(e.bari, fmt.Sprintf(`{"channel":"in_person","proof":{"challenge":%q,"counter":%d}}`, lch.Challenge, lcounter)); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("take with another Comune's proof: got %d %+v, want 422", res.Status, res.Err)
	}
	// The kiosk needs none.
	kiosk := e.browse("POST", e.bari.host, "/coda/"+e.bari.office.ID+"/chiosco", url.Values{"servizio": {""}})
	if kiosk.Status != http.StatusOK || !strings.Contains(kiosk.Body, `id="numero">`) {
		t.Errorf("kiosk with a proof of work configured: got %d:\n%s", kiosk.Status, pageText(kiosk.Body))
	}
	if res := e.do("GET", e.bari.host, "/api/v1/offices/nessuno/challenge", "", ""); res.Status != http.StatusNotFound {
		t.Errorf("challenge of an unknown office: got %d", res.Status)
	}
}

var challengeRE = regexp.MustCompile(`name="verifica_sfida" value="([^"]+)"`)

func TestProofOfWorkThroughTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	office := "/coda/" + e.bari.office.ID
	if form := e.browse("GET", e.bari.host, office, nil); strings.Contains(form.Body, "data-coda-pow") || strings.Contains(form.Body, "/coda/queue.js") {
		t.Errorf("form without proof of work: want no challenge and no script")
	}
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.ProofOfWork = 10 })
	form := e.browse("GET", e.bari.host, office, nil)
	m := challengeRE.FindStringSubmatch(form.Body)
	if m == nil || !strings.Contains(form.Body, `data-coda-pow="10"`) || !strings.Contains(form.Body, `<script src="/coda/queue.js?v=`) ||
		!strings.Contains(form.Body, "<noscript>") || !strings.Contains(form.Body, `id="verifica-stato" role="status" aria-live="polite"`) {
		t.Fatalf("form with proof of work: want the challenge, the script, the status region and the no-script note:\n%s", form.Body)
	}
	accessible(t, "form with proof of work", form.Body)
	challenge := html.UnescapeString(m[1])

	// Without the script (no counter) the form explains and nothing is
	// taken.
	res := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}, "verifica_sfida": {challenge}, "verifica_contatore": {""}})
	if res.Status != http.StatusUnprocessableEntity || !strings.Contains(res.Body, `id="verifica-errore"`) ||
		!strings.Contains(pageText(res.Body), "serve JavaScript attivo") || !strings.Contains(pageText(res.Body), "chiosco") {
		t.Errorf("post without proof: got %d, want 422 with the explanation:\n%s", res.Status, pageText(res.Body))
	}
	accessible(t, "form with a proof error", res.Body)
	if m := challengeRE.FindStringSubmatch(res.Body); m == nil || html.UnescapeString(m[1]) == challenge {
		t.Errorf("refused form: want a new challenge")
	}
	solved := url.Values{"canale": {"in_person"}, "verifica_sfida": {challenge}, "verifica_contatore": {strconv.FormatUint(solveProof(challenge, 10), 10)}}
	if ok := e.browse("POST", e.bari.host, office, solved); ok.Status != http.StatusSeeOther {
		t.Fatalf("post with the solved proof: got %d:\n%s", ok.Status, pageText(ok.Body))
	}
	if again := e.browse("POST", e.bari.host, office, solved); again.Status != http.StatusUnprocessableEntity || !strings.Contains(pageText(again.Body), "già stata usata") {
		t.Errorf("post with the proof again: got %d:\n%s", again.Status, pageText(again.Body))
	}
}

// TestScriptSolvesAsTheServerChecks runs the proof-of-work solver of
// the served queue.js (internal/powjs's, as the Web Worker runs it) in
// Node.js and checks its answer with the server's check.
func TestScriptSolvesAsTheServerChecks(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no Node.js: the script's solver is tested by the browser test only")
	}
	dir := t.TempDir()
	runner := dir + "/run.js"
	if err := os.WriteFile(runner, []byte(`var fs = require("fs");
global.self = { postMessage: function (m) { console.log(JSON.stringify(m)); } };
eval(fs.readFileSync(process.argv[2], "utf8"));
self.onmessage({ data: { challenge: process.argv[3], bits: Number(process.argv[4]) } });
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The script as served: the shared solver, then queue.js.
	js, err := queueScript()
	if err != nil {
		t.Fatal(err)
	}
	script := dir + "/queue.js"
	if err := os.WriteFile(script, js, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newProofCache(nil)
	now := time.Now()
	for _, bits := range []int{0, 1, 8, 14} {
		ch := c.issue("bari", "o1", bits, now)
		out, err := exec.Command(node, runner, script, ch.Challenge, strconv.Itoa(bits)).Output()
		if err != nil {
			t.Fatalf("node: %v", err)
		}
		var got struct {
			Challenge string `json:"challenge"`
			Counter   uint64 `json:"counter"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("node said %q: %v", out, err)
		}
		if got.Counter != solveProof(ch.Challenge, bits) {
			t.Errorf("%d bits: script found %d, Go %d", bits, got.Counter, solveProof(ch.Challenge, bits))
		}
		if err := c.check("bari", "o1", proof{Challenge: got.Challenge, Counter: got.Counter}, bits, now); err != nil {
			t.Errorf("%d bits: the script's proof is refused: %v", bits, err)
		}
	}
}
