package main

import (
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// TestCallBrowserInviteRevoke: through the real binary, with two
// Chromiums in a private network namespace. The operator invites an
// interpreter, whose browser opens the invite link, waits in the lobby
// and is admitted; both see and hear each other. The operator revokes
// the invite: the interpreter's page shows the call ended at once, the
// link no longer opens the call (410), and the operator's call goes on.
func TestCallBrowserInviteRevoke(t *testing.T) {
	bin := browsertest.Chromium(t)
	if !browsertest.InNetns(t) {
		needBinary(t)
		browsertest.RunInNetns(t, "TestCallBrowserInviteRevoke", []string{"-test.short", "-test.timeout=5m"}, callBinEnv+"="+sportelloBin)
		return
	}
	callInside(t)
	n := startCallNode(t, false)
	op := callBrowserStart(t, bin, "operator")
	guest := callBrowserStart(t, bin, "interpreter")
	_, port, _ := net.SplitHostPort(n.p.HTTPAddr)
	origin := "http://" + net.JoinHostPort(n.host, port)
	yes := true
	if _, err := chromedp.Call(op.ctx, network.SetCookie, network.SetCookieParams{
		Name: authweb.SessionCookie, Value: n.cookie, URL: origin + "/", Path: "/",
		Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	}); err != nil {
		t.Fatalf("set the operator's cookie: %v", err)
	}
	callPath := "/gestione/chiamate/" + url.PathEscape(n.ticket)
	if err := chromedp.Do(op.ctx, chromedp.Navigate(origin+callPath)); err != nil {
		t.Fatal(err)
	}
	callWait(t, op, "camera preview", `(() => { const v = document.getElementById("anteprima"); return !!v && !!v.srcObject })()`, 15*time.Second)
	callClick(t, op, "#entra")
	callWait(t, op, "enter the call", `sportelloCall.state === "call"`, 15*time.Second)

	// The invite, as the call page's form posts it.
	page := n.operatorGet(t, callPath)
	m := callCSRFRE.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatal("no CSRF token on the operator's call page")
	}
	csrf := html.UnescapeString(m[1])
	post := func(path string, form url.Values) response {
		t.Helper()
		form.Set(authweb.CSRFField, csrf)
		return n.p.do(t, "POST", n.p.url(n.host, path), strings.NewReader(form.Encode()), map[string]string{
			"Cookie": authweb.SessionCookie + "=" + n.cookie, "Content-Type": "application/x-www-form-urlencoded"})
	}
	r := post(callPath+"/invito", url.Values{"nome": {"Ivo Interprete"}})
	if r.Status != http.StatusOK {
		t.Fatalf("invite: %d", r.Status)
	}
	link := inviteOf(t, r.Body)

	if err := chromedp.Do(guest.ctx, chromedp.Navigate(origin+link)); err != nil {
		t.Fatal(err)
	}
	callWait(t, guest, "camera preview", `(() => { const v = document.getElementById("anteprima"); return !!v && !!v.srcObject })()`, 15*time.Second)
	callClick(t, guest, "#entra")
	callWait(t, guest, "wait in the lobby", `sportelloCall.state === "lobby"`, 15*time.Second)
	callWait(t, op, "see the interpreter knocking", `!!document.querySelector("#sala-lista button[data-knock=admit]")`, 15*time.Second)
	callClick(t, op, "#sala-lista button[data-knock=admit]")
	callWait(t, guest, "be admitted", `sportelloCall.state === "call"`, 15*time.Second)
	callMediaFlows(t, op)
	callMediaFlows(t, guest)
	if t.Failed() {
		return
	}

	list := n.operatorGet(t, callPath+"/invito")
	s := revokeForm.FindStringSubmatch(list.Body)
	if list.Status != http.StatusOK || s == nil {
		t.Fatalf("the invite page: %d, no revoke form", list.Status)
	}
	start := time.Now()
	if r := post(callPath+"/invito/revoca", url.Values{"ospite": {html.UnescapeString(s[1])}}); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d", r.Status)
	}
	callWait(t, guest, "leave the call", `sportelloCall.state === "ended"`, 5*time.Second)
	t.Logf("the interpreter's page left the call %v after the revocation", time.Since(start).Round(time.Millisecond))
	if got := callEval[string](t, guest, `document.getElementById("fine-testo").textContent`); got != "L'operatore ti ha fatto uscire dalla chiamata: il tuo invito non vale più." {
		t.Errorf("the interpreter's page says %q", got)
	}
	if r := n.p.get(t, n.p.url(n.host, link)); r.Status != http.StatusGone || !strings.Contains(r.Body, "revocato") {
		t.Errorf("the revoked link: %d, want 410 saying the invite was revoked", r.Status)
	}
	callWait(t, op, "see the interpreter go", `![...document.querySelectorAll(".sv-remote figcaption")].some(c => c.textContent.startsWith("Ivo Interprete"))`, 10*time.Second)
	if st := callEval[string](t, op, `sportelloCall.state`); st != "call" {
		t.Errorf("the operator's page after the revocation: %s, want still in the call", st)
	}
}
