package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sportello-virtuale/sportello/media/sfu"
)

// TestPage: the call page renders in the Comune's layout with the data
// call.js needs, its script and stylesheet from this host, no inline
// script, and the controls labelled in Italian.
func TestPage(t *testing.T) {
	e := newEnv(t, sfu.Config{Loopback: true})
	res, err := http.Get(e.srv.URL + "/call/operatore?relay=1&t=segreto")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", res.StatusCode, body)
	}
	page := string(body)
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q lacks script-src 'self'", csp)
	}
	if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer (the URL may hold a token)", got)
	}
	for _, want := range []string{
		"Comune di Bari",
		`data-socket="/call/operatore?relay=1&amp;t=segreto"`,
		`data-role="operator"`,
		`data-relay="1"`,
		`<script src="/static/chiamata/call.js?v=`,
		`href="/static/chiamata/call.css?v=`,
		`<meter id="livello-microfono"`,
		`<label for="scelta-videocamera"`,
		"Entra solo con l&#39;audio",
		`id="btn-microfono" aria-pressed="true"`,
		"Termina per tutti",
		`<label for="chat-testo"`,
		`aria-live="polite"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "btn-documenti") {
		t.Error("documents panel shown without an UploadURL")
	}
	// Every <script> has a src: the CSP allows no inline script. The
	// only other is the JSON data block of call.js's texts, which a
	// browser never runs.
	for _, tag := range strings.Split(page, "<script")[1:] {
		tag = strings.TrimSpace(tag)
		if strings.HasPrefix(tag, `type="application/json" id="call-testi">`) {
			continue
		}
		if !strings.HasPrefix(tag, "src=") {
			t.Errorf("inline script: <script%s", tag[:min(len(tag), 60)])
		}
	}

	// A citizen sees no operator controls.
	res, err = http.Get(e.srv.URL + "/call/cittadino")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), "Termina per tutti") || strings.Contains(string(body), "sala-lista") {
		t.Error("the citizen's page shows the operator's controls")
	}
	if !strings.Contains(string(body), `data-role="citizen"`) {
		t.Error("the citizen's page lacks data-role=citizen")
	}
}

// TestAssets: the script is served with its type, nosniff, and a year of
// cache for the versioned URL only.
func TestAssets(t *testing.T) {
	e := newEnv(t, sfu.Config{Loopback: true})
	if err := e.handler.init(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url, cache string
	}{
		{e.handler.assetURL("call.js"), "public, max-age=31536000, immutable"},
		{AssetsPath + "call.js", "no-cache"},
		{e.handler.assetURL("call.css"), "public, max-age=31536000, immutable"},
	} {
		res, err := http.Get(e.srv.URL + tc.url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Cache-Control") != tc.cache || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: status %d, cache %q, nosniff %q; want 200, %q, nosniff", tc.url, res.StatusCode,
				res.Header.Get("Cache-Control"), res.Header.Get("X-Content-Type-Options"), tc.cache)
		}
	}
	res, err := http.Get(e.srv.URL + AssetsPath + "nope.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: status %d, want 404", res.StatusCode)
	}
}

// TestSocketOrigin: the socket refuses a browser from another site, and
// a same-origin one gets the SFU's welcome with the session's ICE
// servers.
func TestSocketOrigin(t *testing.T) {
	e := newEnv(t, sfu.Config{Loopback: true})
	ws := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/call/operatore"
	ctx := deadline(t, 10*time.Second)

	_, res, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil {
		t.Fatal("a foreign Origin opened the socket")
	}
	if res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: response %v, want 403", res)
	}

	c, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.srv.URL}}})
	if err != nil {
		t.Fatalf("same-origin socket: %v", err)
	}
	defer c.CloseNow()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read welcome: %v", err)
	}
	var w struct {
		Type       string `json:"type"`
		ID, Role   string
		ICEServers []any `json:"ice_servers"`
		Lobby      bool
	}
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatalf("welcome %s: %v", b, err)
	}
	if w.Type != "welcome" || w.ID != "op-1" || w.Role != "operator" || w.ICEServers == nil || w.Lobby {
		t.Errorf("welcome %s: want type welcome, id op-1, role operator, ice_servers [], not in the lobby", b)
	}
}
