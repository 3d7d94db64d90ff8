package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

//go:embed templates/posta.html
var mailboxTemplates embed.FS

// mailboxCSS is the page's only style; the Content-Security-Policy allows
// it by hash and nothing else.
const mailboxCSS = `
body{margin:0;font-family:"Titillium Web",system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a;background:#f5f6f7;line-height:1.5}
.bar{display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline;justify-content:space-between;background:#0066cc;color:#fff;padding:.75rem 1.5rem}
.bar a{color:#fff;font-weight:700;text-decoration:none;font-size:1.15rem}
main{max-width:60rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin-top:1.5rem}
a{color:#0059b3}
a:focus{outline:3px solid #f90;outline-offset:2px}
table{width:100%;border-collapse:collapse;background:#fff}
caption{text-align:left;padding:.5rem 0;color:#555}
th,td{text-align:left;padding:.6rem .75rem;border-bottom:1px solid #dde1e5;vertical-align:top}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;background:#fff;padding:1rem;border:1px solid #dde1e5}
.meta dt{font-weight:700}.meta dd{margin:0;overflow-wrap:anywhere}
.body{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #dde1e5;padding:1rem;font-family:"Roboto Mono",ui-monospace,monospace;font-size:.9rem}
.parts span,.empty{color:#555}
`

// mailboxPage shows the demo's Mailbox: GET /_demo/posta lists the
// messages, /_demo/posta/{id} shows one (its text, with the links made
// clickable, and its attachments), /eml, /html and /parti/{n} download its
// parts. It is mounted only by `sportello demo`, on every host, outside the
// tenant middleware: the mailbox belongs to the node, not to a Comune.
type mailboxPage struct {
	box  *mailer.Mailbox
	tmpl *template.Template
	csp  string
	log  *slog.Logger
}

func newMailboxPage(box *mailer.Mailbox, log *slog.Logger) (*mailboxPage, error) {
	rome := tenant.Tenant{TimeZone: tenant.DefaultTimeZone}
	tmpl, err := template.New("posta").Funcs(template.FuncMap{
		"fmtReceived": func(t time.Time) string { return rome.FormatDateTime(t) },
	}).ParseFS(mailboxTemplates, "templates/posta.html")
	if err != nil {
		return nil, fmt.Errorf("mailbox page: %w", err)
	}
	sum := sha256.Sum256([]byte(mailboxCSS))
	return &mailboxPage{
		box:  box,
		tmpl: tmpl,
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		log: log.With("component", "demo-mailbox"),
	}, nil
}

// Routes mounts the page on mux.
func (p *mailboxPage) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_demo/posta", p.list)
	mux.HandleFunc("GET /_demo/posta/{id}", p.show)
	mux.HandleFunc("GET /_demo/posta/{id}/eml", p.eml)
	mux.HandleFunc("GET /_demo/posta/{id}/html", p.html)
	mux.HandleFunc("GET /_demo/posta/{id}/parti/{n}", p.part)
}

// pageData is the dot of every template.
type pageData struct {
	Title   string
	CSS     template.CSS
	Dir     string
	Entries []mailer.Entry
	S       mailer.Stored
	M       *mailer.Message
	Parts   []partLink
	Body    []segment
}

type partLink struct {
	N          int
	Name, Type string
	Size       int
}

// segment is a run of the text body: plain text, or a link when URL is set.
type segment struct {
	Text string
	URL  string
}

func (p *mailboxPage) list(w http.ResponseWriter, r *http.Request) {
	entries, err := p.box.List()
	if err != nil {
		p.log.Error("list mailbox", "err", err)
		http.Error(w, "Errore nella lettura della posta.", http.StatusInternalServerError)
		return
	}
	p.render(w, http.StatusOK, "list", pageData{Title: "Posta in uscita", Dir: p.box.Dir(), Entries: entries})
}

func (p *mailboxPage) show(w http.ResponseWriter, r *http.Request) {
	s, ok := p.get(w, r)
	if !ok {
		return
	}
	d := pageData{Title: s.Message.Subject, S: s, M: s.Message, Body: linkify(s.Message.Text)}
	for i, part := range s.Message.Parts {
		name := part.Filename
		if name == "" {
			name = fmt.Sprintf("parte-%d", i+1)
		}
		d.Parts = append(d.Parts, partLink{N: i + 1, Name: name, Type: part.ContentType, Size: len(part.Data)})
	}
	p.render(w, http.StatusOK, "message", d)
}

func (p *mailboxPage) eml(w http.ResponseWriter, r *http.Request) {
	s, ok := p.get(w, r)
	if !ok {
		return
	}
	download(w, "message/rfc822", nil, s.ID+".eml", s.Raw)
}

// html serves the message's HTML body as its own document, sandboxed: no
// script runs and nothing is loaded from elsewhere.
func (p *mailboxPage) html(w http.ResponseWriter, r *http.Request) {
	s, ok := p.get(w, r)
	if !ok {
		return
	}
	if s.Message.HTML == "" {
		p.notFound(w)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; sandbox allow-popups allow-top-navigation-by-user-activation")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(s.Message.HTML))
}

func (p *mailboxPage) part(w http.ResponseWriter, r *http.Request) {
	s, ok := p.get(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > len(s.Message.Parts) {
		p.notFound(w)
		return
	}
	part := s.Message.Parts[n-1]
	name := part.Filename
	if name == "" {
		name = fmt.Sprintf("parte-%d", n)
	}
	download(w, part.ContentType, part.Params, name, part.Data)
}

func (p *mailboxPage) get(w http.ResponseWriter, r *http.Request) (mailer.Stored, bool) {
	s, err := p.box.Get(r.PathValue("id"))
	if errors.Is(err, mailer.ErrNotFound) {
		p.notFound(w)
		return mailer.Stored{}, false
	}
	if err != nil {
		p.log.Error("read message", "id", r.PathValue("id"), "err", err)
		http.Error(w, "Errore nella lettura del messaggio.", http.StatusInternalServerError)
		return mailer.Stored{}, false
	}
	return s, true
}

func (p *mailboxPage) notFound(w http.ResponseWriter) {
	p.render(w, http.StatusNotFound, "notfound", pageData{Title: "Messaggio non trovato"})
}

func (p *mailboxPage) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.CSS = template.CSS(mailboxCSS)
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		p.log.Error("render mailbox page", "page", name, "err", err)
		http.Error(w, "Errore interno.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// download sends data as an attachment named name.
func download(w http.ResponseWriter, mediaType string, params map[string]string, name string, data []byte) {
	ct := mime.FormatMediaType(mediaType, params)
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// urlPattern finds the http(s) links of a plain-text body.
var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify splits text into plain runs and links. Punctuation that ends a
// sentence is left out of the link.
func linkify(text string) []segment {
	var out []segment
	last := 0
	for _, m := range urlPattern.FindAllStringIndex(text, -1) {
		start, end := m[0], m[1]
		end = start + len(strings.TrimRight(text[start:end], ".,;:!?)]'"))
		if start > last {
			out = append(out, segment{Text: text[last:start]})
		}
		out = append(out, segment{Text: text[start:end], URL: text[start:end]})
		last = end
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}
