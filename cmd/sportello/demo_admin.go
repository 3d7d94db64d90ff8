package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
)

// The demo's back office. A real installation gets its first
// administrator from `sportello admin create` (a password and an
// authenticator app); the demo makes one itself, so that whoever tries
// `sportello demo` can open /gestione at once, through the same
// break-glass login page and the same checks as production. Its password
// is fixed and its current TOTP code is shown at /_demo/accesso: both are
// demo only, like the mailbox page.

// demoAdminUser and demoAdminPassword are the demo administrator's
// credentials, printed in the banner and on the page.
const (
	demoAdminUser     = "demo"
	demoAdminPassword = "Sportello-Bari-2026"
)

// seedDemoAdmin makes sure the demo administrator exists and is confirmed,
// and returns its TOTP secret. The secret is drawn again at every start
// (the node keeps no copy it could show): a restarted demo shows the new
// one.
func seedDemoAdmin(ctx context.Context, store *auth.Store, now func() time.Time) (string, error) {
	var sec auth.LocalSecret
	var err error
	if _, lerr := store.LocalAdmin(ctx, demoAdminUser); errors.Is(lerr, auth.ErrLocalAdminNotFound) {
		sec, err = store.CreateLocalAdmin(ctx, auth.NewLocalAdmin{
			Username: demoAdminUser, DisplayName: "Amministratore demo", Password: demoAdminPassword,
		})
	} else if lerr != nil {
		return "", fmt.Errorf("demo administrator: %w", lerr)
	} else {
		if err := store.SetLocalDisabled(ctx, demoAdminUser, false); err != nil {
			return "", fmt.Errorf("demo administrator: enable: %w", err)
		}
		sec, err = store.ResetLocalTOTP(ctx, demoAdminUser)
	}
	if err != nil {
		return "", fmt.Errorf("demo administrator: %w", err)
	}
	// A code is accepted once and one step either side of now is accepted:
	// confirming with the previous step's code leaves the current one,
	// which the page shows, free for the first login.
	code, err := auth.TOTPCode(sec.Secret, now().Add(-auth.TOTPPeriod))
	if err != nil {
		return "", err
	}
	if err := store.ConfirmLocalAdmin(ctx, demoAdminUser, code); err != nil {
		return "", fmt.Errorf("demo administrator: confirm: %w", err)
	}
	return sec.Secret, nil
}

// demoAdminPage is GET /_demo/accesso: the demo administrator's
// credentials and its current code. Mounted only by `sportello demo`, on
// every host, outside the tenant middleware, like the mailbox.
type demoAdminPage struct {
	secret string
	host   string // the demo Comune's host, for the login link
	now    func() time.Time
	tmpl   *template.Template
	csp    string
	log    *slog.Logger
}

const demoAdminHTML = `<!doctype html>
<html lang="it"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>Accesso al back office (demo) — Sportello</title><style>{{.CSS}}</style></head>
<body><div class="bar"><a href="/">Sportello — demo</a></div>
<main><h1>Accesso al back office (demo)</h1>
<p>In questa demo un amministratore è già pronto. Apri la
<a href="{{.Login}}">pagina di accesso di emergenza</a> e inserisci:</p>
<dl class="meta"><dt>Nome utente</dt><dd>{{.User}}</dd><dt>Password</dt><dd>{{.Password}}</dd>
<dt>Codice</dt><dd><span aria-live="polite">{{.Code}}</span> (cambia ogni 30 secondi; questa pagina si aggiorna da sola; ogni codice vale una volta sola)</dd></dl>
<p>Poi il back office è su <a href="{{.Home}}">{{.Home}}</a>. In produzione il primo amministratore si crea con
<code>sportello admin create</code> e il codice viene dall'app di autenticazione del suo telefono.</p>
</main></body></html>`

func newDemoAdminPage(secret, host string, now func() time.Time, log *slog.Logger) (*demoAdminPage, error) {
	tmpl, err := template.New("accesso").Parse(demoAdminHTML)
	if err != nil {
		return nil, fmt.Errorf("demo access page: %w", err)
	}
	sum := sha256.Sum256([]byte(mailboxCSS))
	return &demoAdminPage{secret: secret, host: host, now: now, tmpl: tmpl,
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		log: log.With("component", "demo-admin")}, nil
}

// Routes mounts the page on mux.
func (p *demoAdminPage) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_demo/accesso", p.show)
}

func (p *demoAdminPage) show(w http.ResponseWriter, r *http.Request) {
	now := p.now()
	code, err := auth.TOTPCode(p.secret, now)
	if err != nil {
		p.log.Error("demo code", "err", err)
		http.Error(w, "codice non disponibile", http.StatusInternalServerError)
		return
	}
	// The page refreshes when the code changes.
	refresh := auth.TOTPPeriod - now.Sub(now.Truncate(auth.TOTPPeriod)) + time.Second
	base := "http://" + p.host
	if _, port, ok := splitPort(r.Host); ok {
		base += ":" + port
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", p.csp)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	err = p.tmpl.Execute(w, map[string]any{
		"CSS": template.CSS(mailboxCSS), "Refresh": int(refresh / time.Second), "User": demoAdminUser,
		"Password": demoAdminPassword, "Code": code, "Login": base + "/_auth/locale?return=%2Fgestione",
		"Home": base + "/gestione",
	})
	if err != nil {
		p.log.Error("render demo access page", "err", err)
	}
}

// splitPort returns the port of a Host header value, if it has one.
func splitPort(hostport string) (host, port string, ok bool) {
	for i := len(hostport) - 1; i >= 0; i-- {
		switch hostport[i] {
		case ':':
			return hostport[:i], hostport[i+1:], i+1 < len(hostport)
		case ']':
			return hostport, "", false
		}
	}
	return hostport, "", false
}
