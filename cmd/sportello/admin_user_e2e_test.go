package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
)

// runCLIInput runs the binary with stdin and returns its output and exit
// code.
func runCLIInput(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sportelloBin, args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run sportello %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// secretIn returns the base32 secret printed by admin create/reset-totp.
func secretIn(t *testing.T, out string) string {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		if s, ok := strings.CutPrefix(line, "Secret: "); ok {
			return strings.TrimSpace(s)
		}
	}
	t.Fatalf("no secret in the output:\n%s", out)
	return ""
}

// breakGlassLogin posts the break-glass form on host and returns the
// answer and the session cookie set ("" if none).
func breakGlassLogin(t *testing.T, p *proc, host, user, password, code string) (response, string) {
	t.Helper()
	r := p.postForm(t, p.url(host, "/_auth/locale"), url.Values{
		"username": {user}, "password": {password}, "code": {code}, "return": {"/gestione/utenti"},
	})
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == authweb.SessionCookie && c.Value != "" {
			if !c.Secure || !c.HttpOnly || c.Path != "/" {
				t.Errorf("session cookie %+v: want Secure, HttpOnly, Path=/", c)
			}
			return r, c.Value
		}
	}
	return r, ""
}

// withSession gets path on host with the session cookie.
func withSession(t *testing.T, p *proc, host, path, cookie string) response {
	t.Helper()
	return p.do(t, "GET", p.url(host, path), nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + cookie})
}

// TestAdminCreateAndLogin creates the first appliance administrator with
// the real binary, as municipal IT would (password piped, code computed
// from the printed secret), and logs in over HTTP on the Comune's host;
// then disables it and sees its session end.
func TestAdminCreateAndLogin(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")
	host := "bari.localhost"
	const password = "Soccorso-Comunale-2026"

	// A weak password is refused before anything is created.
	if _, stderr, code := runCLIInput(t, "corta1\n", "admin", "create", "--data", dataDir, "--username", "it-admin", "--password-stdin"); code != exitUsage ||
		!strings.Contains(stderr, "almeno 12 caratteri") {
		t.Fatalf("weak password: exit %d, stderr %q; want %d and the rule", code, stderr, exitUsage)
	}
	// Without a code after the password the account stays pending.
	out, stderr, code := runCLIInput(t, password+"\n", "admin", "create", "--data", dataDir, "--username", "it-admin",
		"--display-name", "IT del Comune", "--email", "it@comune.bari.it", "--password-stdin")
	if code != exitOK || !strings.Contains(out, "otpauth://totp/Sportello:it-admin?") || !strings.Contains(out, "sportello admin confirm it-admin") {
		t.Fatalf("create: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	secret := secretIn(t, out)
	if _, _, code := runCLIInput(t, password+"\n", "admin", "create", "--data", dataDir, "--username", "it-admin", "--password-stdin"); code != exitConflict {
		t.Errorf("second create of it-admin: exit %d, want %d", code, exitConflict)
	}
	out, _, _ = runCLI(t, "admin", "list", "--data", dataDir)
	if !strings.Contains(out, "it-admin") || !strings.Contains(out, "pending") {
		t.Errorf("list before confirming:\n%s", out)
	}
	code6, _ := auth.TOTPCode(secret, time.Now())
	if r, cookie := breakGlassLogin(t, p, host, "it-admin", password, code6); r.Status != http.StatusUnauthorized || cookie != "" ||
		!strings.Contains(r.Body, "Credenziali non valide") {
		t.Fatalf("login of a pending account: %d, cookie %q", r.Status, cookie)
	}
	if _, stderr, code := runCLIInput(t, "000000\n", "admin", "confirm", "it-admin", "--data", dataDir); code == exitOK {
		t.Fatalf("confirm with a wrong code accepted: %s", stderr)
	}
	if out, stderr, code := runCLIInput(t, code6+"\n", "admin", "confirm", "it-admin", "--data", dataDir); code != exitOK {
		t.Fatalf("confirm: exit %d %s %s", code, out, stderr)
	}

	// The code of the next step is accepted (one step of skew) and is
	// not the confirmation's, which is used up.
	next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	if r, _ := breakGlassLogin(t, p, host, "it-admin", password+"x", next); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: got %d, want 401", r.Status)
	}
	r, cookie := breakGlassLogin(t, p, host, "it-admin", password, next)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/gestione/utenti" || cookie == "" {
		t.Fatalf("login: got %d %q cookie %q:\n%s", r.Status, r.Header.Get("Location"), cookie, tail(r.Body, 20))
	}
	if r := withSession(t, p, host, "/gestione/utenti", cookie); r.Status != http.StatusOK {
		t.Fatalf("back office with the break-glass session: got %d %q", r.Status, r.Header.Get("Location"))
	}
	if r, _ := breakGlassLogin(t, p, host, "it-admin", password, next); r.Status != http.StatusUnauthorized {
		t.Errorf("replayed code: got %d, want 401", r.Status)
	}
	out, _, _ = runCLI(t, "admin", "list", "--data", dataDir)
	if !strings.Contains(out, "active") {
		t.Errorf("list after login:\n%s", out)
	}

	// Disabling ends the session at once.
	if out, stderr, code := runCLI(t, "admin", "disable", "it-admin", "--data", dataDir); code != exitOK {
		t.Fatalf("disable: exit %d %s %s", code, out, stderr)
	}
	if r := withSession(t, p, host, "/gestione/utenti", cookie); r.Status == http.StatusOK {
		t.Error("the session of a disabled administrator is still served")
	}
	if _, _, code := runCLI(t, "admin", "disable", "nessuno", "--data", dataDir); code != exitNotFound {
		t.Errorf("disable of an unknown administrator: exit %d, want %d", code, exitNotFound)
	}
}

// TestAdminCreateConfirmsInteractively answers the code on stdin as soon
// as the secret is printed: the account is usable when create returns.
func TestAdminCreateConfirmsInteractively(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0", "--log-level", "warn")
	const password = "Un'altra-chiave-9"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sportelloBin, "admin", "create", "--data", dataDir, "--username", "secondo", "--password-stdin")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, password+"\n")
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if s, ok := strings.CutPrefix(sc.Text(), "Secret: "); ok {
			c, _ := auth.TOTPCode(s, time.Now())
			io.WriteString(stdin, c+"\n")
			stdin.Close()
		}
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "Confirmed: secondo") {
		t.Fatalf("create: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	secret := secretIn(t, out.String())
	next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	if r, cookie := breakGlassLogin(t, p, "bari.localhost", "secondo", password, next); r.Status != http.StatusSeeOther || cookie == "" {
		t.Fatalf("login: got %d, cookie %q", r.Status, cookie)
	}
}
