package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/internal/oidctest"

	"github.com/sportello-virtuale/sportello/internal/browsertest"
)

// findChromium returns the path of a Chromium binary, or skips the test
// without one (fails it in CI).
func findChromium(t *testing.T) string { return browsertest.Chromium(t) }

// providerCert returns the TLS certificate the provider serves, in PEM,
// and the base64 SHA-256 of its public key (what Chromium's
// --ignore-certificate-errors-spki-list takes). The handshake skips
// verification on purpose: it only reads the certificate, to trust it
// afterwards in the node and the browser, and nothing is sent.
func providerCert(t *testing.T, issuer string) (certPEM []byte, spki string) {
	t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS handshake with the provider: %v", err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), base64.StdEncoding.EncodeToString(sum[:])
}

// TestBrowserLogin logs an operator in and out of the back office of a
// running `sportello demo` with headless Chromium, against a real OpenID
// provider: /gestione sends the anonymous browser to the chooser of the
// Comune's providers, the provider's login form logs Mario in, the
// callback lands on /gestione with his name, the session cookie is stored
// as __Host-, Secure, HttpOnly and SameSite=Lax, and the logout button
// ends the session (at the provider too) and leaves the browser anonymous.
//
// The node serves plain HTTP on bari.localhost: Chromium counts
// http://*.localhost as a secure context (it resolves every .localhost
// name to loopback itself), so it stores Secure and __Host- cookies from
// it as it would from HTTPS, which the test checks rather than assumes.
// The provider serves HTTPS with httptest's certificate: the node trusts
// it through SSL_CERT_FILE, Chromium through
// --ignore-certificate-errors-spki-list, which accepts that one key only
// instead of turning certificate checks off.
func TestBrowserLogin(t *testing.T) {
	needBinary(t)
	chromium := findChromium(t)
	// Not parallel: SSL_CERT_FILE is set in the environment the node
	// inherits, which t.Setenv allows only in a sequential test.

	// Two providers, so that the login shows the chooser; Mario logs in
	// with the first one's form.
	op := oidctest.Start(t)
	other := oidctest.Start(t)
	certPEM, spki := providerCert(t, op.Issuer())
	otherPEM, otherSPKI := providerCert(t, other.Issuer())
	dataDir := shortTempDir(t)
	caFile := filepath.Join(dataDir, "provider-ca.pem")
	if err := os.WriteFile(caFile, append(certPEM, otherPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	// Go reads SSL_CERT_FILE instead of the system's bundle: the node
	// then trusts the providers and nothing else, which suits a test that
	// must not reach the network anyway.
	t.Setenv("SSL_CERT_FILE", caFile)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")
	os.Unsetenv("SSL_CERT_FILE") // t.Setenv restores it at the end

	base := strings.TrimSuffix(p.url("bari.localhost", "/"), "/")
	const clientID, secret = "sportello-bari", "segreto-del-browser"
	mario := oidctest.User{Subject: "m-001", Username: "mrossi", Password: "password-di-prova", Name: "Mario Rossi",
		Email: "m.rossi@comune.bari.it", FiscalNumber: "TINIT-RSSMRA85T10A562S", Groups: []string{"amministratori-bari"}}
	for _, prov := range []*oidctest.Provider{op, other} {
		prov.AddClient(clientID, secret, base+"/_auth/callback", base+"/")
		prov.AddUser(mario)
	}
	secretFile := filepath.Join(dataDir, "client-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, add := range [][]string{
		{"--id", "regione", "--name", "Accedi con MyID di prova", "--issuer", op.Issuer()},
		{"--id", "altro", "--name", "Accedi con un altro sistema", "--issuer", other.Issuer()},
	} {
		args := append([]string{"tenant", "oidc", "add", "bari", "--data", dataDir, "--client-id", clientID,
			"--client-secret-file", secretFile, "--scope", "profile", "--scope", "email",
			"--role", "amministratori-bari=comune_admin"}, add...)
		if out, errOut, code := runCLI(t, args...); code != exitOK || !strings.Contains(out, "Saved provider") {
			t.Fatalf("tenant oidc add: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	}
	out, errOut, code := runCLI(t, "tenant", "oidc", "list", "bari", "--data", dataDir)
	if code != exitOK || !strings.Contains(out, "regione") || !strings.Contains(out, op.Issuer()) || strings.Contains(out, secret) {
		t.Fatalf("tenant oidc list: exit %d, stdout %q, stderr %q; want both providers and no secret", code, out, errOut)
	}
	for _, bad := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"nessuno", "--id", "x", "--name", "X", "--issuer", op.Issuer(), "--client-id", "c"}, exitNotFound, "not found"},
		{[]string{"bari", "--id", "x", "--name", "X", "--issuer", "http://idp.example.it", "--client-id", "c"}, exitFailure, "issuer"},
		{[]string{"bari", "--id", "x", "--role", "senza-ruolo"}, exitUsage, "--role"},
	} {
		_, errOut, code := runCLI(t, append([]string{"tenant", "oidc", "add", "--data", dataDir}, bad.args...)...)
		if code != bad.code || !strings.Contains(errOut, bad.wantErr) {
			t.Errorf("tenant oidc add %v: exit %d, stderr %q; want %d and %q", bad.args, code, errOut, bad.code, bad.wantErr)
		}
	}

	// The browser: headless, a user-data dir of its own, no sandbox only
	// as root (where Chromium refuses to start with it), and no name
	// resolution beyond the machine, so that nothing it does at start-up
	// leaves it.
	profile, err := os.MkdirTemp("", "sportello-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	var browserOut syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki+","+otherSPKI),
		chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.CombinedOutput(&browserOut),
		// The console, CSP violations included, goes to the output.
		chromedp.Flag("enable-logging", "stderr"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			var lines []string
			for l := range strings.SplitSeq(browserOut.String(), "\n") {
				if !strings.Contains(l, "dbus") { // no system bus in containers: noise
					lines = append(lines, l)
				}
			}
			t.Logf("chromium output (tail):\n%s", tail(strings.Join(lines, "\n"), 30))
		}
	}()
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); every step after it gets one.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium %s: %v", chromium, err)
	}
	start := time.Now()
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v (page %s)", what, err, location(bctx))
		}
	}
	// click clicks sel and waits until the page it leads to (through
	// every redirect) has loaded.
	click := func(what, sel string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			return fmt.Errorf("%s: %w (page %s)", what, err, location(bctx))
		}
		if resp.Status != 200 {
			return fmt.Errorf("%s: %s answered %d", what, resp.URL, resp.Status)
		}
		return nil
	}
	mustClick := func(what, sel string) {
		t.Helper()
		if err := click(what, sel); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("text of %s: %v (page %s)", sel, err, location(bctx))
		}
		return strings.Join(strings.Fields(s), " ")
	}

	// Anonymous: /gestione sends the browser to the chooser.
	step("open /gestione", chromedp.Navigate(base+"/gestione"))
	if got, want := location(bctx), base+"/_auth/login?return=%2Fgestione"; got != want {
		t.Fatalf("anonymous /gestione ended on %s, want %s", got, want)
	}
	if h1 := text("h1"); h1 != "Accesso per il personale del Comune" {
		t.Errorf("login page heading %q", h1)
	}
	if c := cookies(t, bctx, base); c[authweb.SessionCookie] != nil {
		t.Errorf("anonymous browser holds a session cookie: %+v", c[authweb.SessionCookie])
	}

	// The provider's login form, then back on /gestione.
	mustClick("choose the provider", `a[href*="provider=regione"]`)
	if got := location(bctx); !strings.HasPrefix(got, op.Issuer()+"/authorize?") {
		t.Fatalf("after choosing the provider the browser is on %s, want the authorization endpoint of %s", got, op.Issuer())
	}
	if c := cookies(t, bctx, base)[authweb.FlowCookie]; c == nil {
		t.Fatalf("Chromium did not store the %s cookie set over http://bari.localhost", authweb.FlowCookie)
	}
	step("fill the provider's form",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), mario.Username, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), mario.Password, chromedp.NodeVisible))
	mustClick("log in at the provider", `form[action="/login"] button`)
	if got := location(bctx); got != base+"/gestione" {
		t.Fatalf("after the login the browser is on %s, want %s", got, base+"/gestione")
	}
	if h1 := text("h1"); h1 != "Benvenuto, "+mario.Name {
		t.Errorf("/gestione greets %q, want %q", h1, "Benvenuto, "+mario.Name)
	}

	// The cookies as the browser keeps them.
	jar := cookies(t, bctx, base)
	sc := jar[authweb.SessionCookie]
	switch {
	case sc == nil:
		t.Fatalf("no %s cookie after the login; cookies: %v", authweb.SessionCookie, cookieNames(jar))
	case !sc.Secure || !sc.HTTPOnly || sc.SameSite != network.CookieSameSiteLax || sc.Path != "/" || sc.Domain != "bari.localhost" || !sc.Session:
		t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Lax, Path=/, host-only bari.localhost, ending with the browser", *sc)
	}
	if jar[authweb.FlowCookie] != nil {
		t.Errorf("the %s cookie outlived the login", authweb.FlowCookie)
	}
	if c := cookies(t, bctx, "http://localhost:1/"); len(c) != 0 {
		t.Errorf("the Comune's cookies reach another host: %v", cookieNames(c))
	}
	// HttpOnly as the page sees it: no script reads the session.
	ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
	docCookie, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	cancel()
	if err != nil || strings.Contains(docCookie, "sportello") {
		t.Errorf("document.cookie = %q (%v), want the session hidden from scripts", docCookie, err)
	}

	// Logout: the button ends the session here and at the provider,
	// which sends the browser back to the Comune's home page.
	if err := click("log out", `form[action="/_auth/logout"] button[type="submit"]`); err != nil {
		t.Errorf("%v (a Content Security Policy violation below may say why)", err)
	} else if got := waitLocation(bctx, base+"/", 10*time.Second); got != base+"/" {
		t.Errorf("after the logout the browser is on %s, want %s", got, base+"/")
	}
	if got := op.Logouts(); len(got) != 1 || got[0] != mario.Subject {
		t.Errorf("provider logouts %q, want one for %s", got, mario.Subject)
	}
	if c := cookies(t, bctx, base)[authweb.SessionCookie]; c != nil {
		t.Errorf("session cookie still held after the logout: %+v", *c)
	}
	step("open /gestione again", chromedp.Navigate(base+"/gestione"))
	if got, want := location(bctx), base+"/_auth/login?return=%2Fgestione"; got != want {
		t.Errorf("/gestione after the logout ended on %s, want the login %s", got, want)
	}
	// The pages must work under their own Content Security Policy:
	// Chromium logs every directive it enforced.
	for _, v := range cspViolations(browserOut.String()) {
		t.Errorf("Content Security Policy violation: %s", v)
	}
	t.Logf("browser login, cookie checks and logout took %v", time.Since(start).Round(time.Millisecond))
}

// cspViolations returns the Content Security Policy violations in
// Chromium's log (--enable-logging=stderr copies the console there), one
// a line, with data: URLs shortened.
func cspViolations(log string) []string {
	var out []string
	seen := map[string]bool{}
	for line := range strings.SplitSeq(log, "\n") {
		_, msg, ok := strings.Cut(line, "INFO:CONSOLE")
		if !ok || !strings.Contains(msg, "Content Security Policy") {
			continue
		}
		if i := strings.Index(msg, "data:"); i >= 0 {
			if j := strings.IndexByte(msg[i:], '\''); j > 0 && j > 40 {
				msg = msg[:i+40] + "…" + msg[i+j:]
			}
		}
		msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(msg, ":0]"), " "))
		if !seen[msg] {
			seen[msg] = true
			out = append(out, msg)
		}
	}
	return out
}

// waitLocation waits until the browser is on want (the logout may get
// there through a page of its own before the provider's), and returns
// where it is.
func waitLocation(bctx context.Context, want string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		got := location(bctx)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// location returns the browser's current URL ("" when it cannot tell).
func location(bctx context.Context) string {
	ctx, cancel := context.WithTimeout(bctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return ""
	}
	return loc
}

// cookies returns the cookies the browser would send to rawURL, by name,
// as Chromium stores them (Network.getCookies).
func cookies(t *testing.T, bctx context.Context, rawURL string) map[string]*network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{rawURL}})
	if err != nil {
		t.Fatalf("Network.getCookies: %v", err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

func cookieNames(m map[string]*network.Cookie) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	return names
}
