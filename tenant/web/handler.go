package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Documents reads and saves the legal documents; *legal.Store is one.
type Documents interface {
	Get(ctx context.Context, t tenant.ID, kind legal.Kind) (legal.Document, error)
	Save(ctx context.Context, t tenant.ID, kind legal.Kind, body string, d legal.Details, by string) (uint64, error)
	SaveDetails(ctx context.Context, t tenant.ID, kind legal.Kind, d legal.Details, by string) (uint64, error)
	Reset(ctx context.Context, t tenant.ID, kind legal.Kind, by string) (uint64, error)
}

// Tenants gives the templates the Comune's address and retention;
// *tenant.Registry implements it.
type Tenants interface {
	PrimaryHost(t tenant.Tenant) string
	DocumentRetentionDays(ctx context.Context, id tenant.ID) (int, error)
}

// Applied is the node's log position; *cluster.Node implements it.
type Applied interface {
	WaitApplied(ctx context.Context, index uint64) error
}

// Guard admits a request only for a user with role, checking the CSRF
// token on state-changing requests; auth/web's Handler implements it.
type Guard interface {
	RequireRole(role auth.Role, next http.Handler) http.Handler
}

// Config configures a Handler. Every field but Logger and
// DefaultRetentionDays is required.
type Config struct {
	Documents Documents
	Tenants   Tenants
	Applied   Applied
	Site      *site.Site
	// Guard and SessionFrom are the operators' login (auth/web's Handler
	// and authweb.SessionFrom). Editing needs the Comune administrator.
	Guard       Guard
	SessionFrom func(ctx context.Context) (auth.Session, auth.User, bool)
	// DefaultRetentionDays is the node's retention of call documents
	// ([media.documents] retention, in days), shown for a Comune that
	// has not set its own; 0 leaves the sentence out.
	DefaultRetentionDays int
	Logger               *slog.Logger
}

// Handler serves the Comune's legal pages (/privacy, /accessibilita)
// and their editors in the back office (/gestione/comune/...).
type Handler struct {
	cfg   Config
	pages *site.Templates
	log   *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// New returns a Handler, or an error when cfg lacks a required part or
// the templates do not parse.
func New(cfg Config) (*Handler, error) {
	if cfg.Documents == nil || cfg.Tenants == nil || cfg.Applied == nil || cfg.Site == nil || cfg.Guard == nil || cfg.SessionFrom == nil {
		return nil, errors.New("tenant/web: Config.Documents, Tenants, Applied, Site, Guard and SessionFrom are required")
	}
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, fmt.Errorf("tenant/web: %w", err)
	}
	pages, err := cfg.Site.Templates(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("tenant/web: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, pages: pages, log: cfg.Logger.With("component", "tenant/web")}, nil
}

// Routes mounts the pages. The mux must sit behind the site's Tenant
// middleware and auth/web's Sessions. tenant/site must not mount its own
// /privacy and /accessibilita beside these.
//
//	GET  /privacy, /accessibilita                        the documents, for citizens
//	GET  /gestione/comune/{privacy|accessibilita}        the editor
//	POST /gestione/comune/{privacy|accessibilita}        preview (azione=anteprima) or save
//	POST /gestione/comune/{...}/ripristina               restore the template
func (h *Handler) Routes(mux *http.ServeMux) {
	for _, k := range legal.Kinds() {
		mux.Handle("GET /"+string(k), h.public(k))
		mux.Handle("GET /gestione/comune/"+string(k), h.wrap(k, h.edit))
		mux.Handle("POST /gestione/comune/"+string(k), h.wrap(k, h.save))
		mux.Handle("POST /gestione/comune/"+string(k)+"/ripristina", h.wrap(k, h.reset))
	}
}

// maxForm caps an editor's form: the document at its largest, escaped
// by the form encoding (up to three bytes per byte), and the details.
const maxForm = 3*legal.MaxBodyBytes + 16<<10

// saveWait bounds the wait, after a save, for this node to apply it.
const saveWait = 3 * time.Second

// data returns what the templates fill in for t.
func (h *Handler) data(ctx context.Context, t tenant.Tenant) (legal.Data, error) {
	days, err := h.cfg.Tenants.DocumentRetentionDays(ctx, t.ID)
	if err != nil {
		return legal.Data{}, err
	}
	if days == 0 {
		days = h.cfg.DefaultRetentionDays
	}
	return legal.Data{Name: t.Name, ISTAT: t.ISTAT, Host: h.cfg.Tenants.PrimaryHost(t), RetentionDays: days}, nil
}

// publicView is the data of documento.html.
type publicView struct {
	Body    template.HTML
	Updated time.Time
}

// public answers GET /privacy and GET /accessibilita.
func (h *Handler) public(kind legal.Kind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.cfg.Site.Error(w, r, http.StatusNotFound, "")
			return
		}
		doc, err := h.cfg.Documents.Get(r.Context(), t.ID, kind)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		data, err := h.data(r.Context(), t)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		body, err := legal.Body(doc, data)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v := publicView{Body: trusted(body)}
		if doc.Custom {
			v.Updated = doc.Updated
		}
		h.pages.Render(w, r, http.StatusOK, "documento.html", site.Page{
			Title:       kind.Title(),
			Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: kind.Title()}},
			Data:        v,
		})
	})
}

// trusted marks text that legal.Sanitize produced (stored bodies are
// sanitised in apply, templates by legal.Template) as safe markup.
func trusted(sanitised string) template.HTML {
	return template.HTML(sanitised) // #nosec: only the restricted markup of legal.Sanitize
}

// request is who asks: the Comune of the request's Host, its
// administrator and the session's CSRF token.
type request struct {
	t    tenant.Tenant
	user auth.User
	csrf string
	kind legal.Kind
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, q request)

// wrap caps the body and lets the guard check the role and the CSRF
// token before fn runs.
func (h *Handler) wrap(kind legal.Kind, fn handlerFunc) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		if !ok {
			h.cfg.Site.Error(w, r, http.StatusNotFound, "")
			return
		}
		s, u, ok := h.cfg.SessionFrom(r.Context())
		if !ok {
			h.cfg.Site.Error(w, r, http.StatusUnauthorized, "Accedi per continuare.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r, request{t: t, user: u, csrf: s.CSRF, kind: kind})
	})
	guarded := h.cfg.Guard.RequireRole(auth.RoleComuneAdmin, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		guarded.ServeHTTP(w, r)
	})
}

// fail answers an unexpected error, logged once here.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.cfg.Site.Error(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("Il testo è troppo lungo: al massimo %d KB.", legal.MaxBodyBytes>>10))
	case errors.Is(err, tenant.ErrNotFound), errors.Is(err, legal.ErrUnknownKind):
		h.cfg.Site.Error(w, r, http.StatusNotFound, "")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		h.cfg.Site.Error(w, r, http.StatusServiceUnavailable, "Il servizio è momentaneamente occupato: riprova tra qualche istante.")
	default:
		h.log.ErrorContext(r.Context(), "legal page", "path", r.URL.Path, "err", err)
		h.cfg.Site.Error(w, r, http.StatusInternalServerError, "")
	}
}

// Form fields of the editor (also the inputs' ids).
const (
	fText       = "testo"
	fAction     = "azione"
	fAddress    = "indirizzo"
	fPEC        = "pec"
	fDPOName    = "rpd_nome"
	fDPOEmail   = "rpd_email"
	fAccEmail   = "email_segnalazioni"
	fConformity = "conformita"
)

// fieldOf maps the store's field keys to the form's.
var fieldOf = map[string]string{
	"body": fText, "details.address": fAddress, "details.pec": fPEC, "details.dpo_name": fDPOName,
	"details.dpo_email": fDPOEmail, "details.accessibility_email": fAccEmail, "details.conformity": fConformity,
}

// labels are the fields' names in the error summary.
var labels = map[string]string{
	fText: "Testo", fAddress: "Indirizzo della sede", fPEC: "PEC o email del Comune", fDPOName: "Responsabile della protezione dei dati",
	fDPOEmail: "Email del Responsabile della protezione dei dati", fAccEmail: "Email per le segnalazioni", fConformity: "Stato di conformità",
}

// flashes are the confirmations after a save, chosen by esito.
var flashes = map[string]string{
	"salvato":      "Documento salvato: è già pubblicato.",
	"ripristinato": "Modello ripristinato: il documento è di nuovo quello predefinito, con i dati del Comune.",
}

type fieldError struct{ Field, Label, Message string }

// editView is the data of gestione_documento.html.
type editView struct {
	Kind         string
	Title        string
	CSRF         string
	Flash        string
	Privacy      bool
	Details      legal.Details
	Text         string
	Custom       bool
	Updated      time.Time
	UpdatedBy    string
	Preview      template.HTML
	HasPreview   bool
	Errors       map[string]string
	ErrorList    []fieldError
	Conformities []string
	MaxKB        int
	// Fields are the details' text inputs of this document.
	Fields []formField
}

// formField is one text input of the details.
type formField struct{ ID, Label, Value, Help, Error string }

// edit answers GET /gestione/comune/{kind}.
func (h *Handler) edit(w http.ResponseWriter, r *http.Request, q request) {
	v := editView{Flash: h.waitSave(r)}
	doc, err := h.cfg.Documents.Get(r.Context(), q.t.ID, q.kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	data, err := h.data(r.Context(), q.t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := legal.Body(doc, data)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Details, v.Text, v.Custom, v.UpdatedBy = doc.Details, body, doc.Custom, doc.UpdatedBy
	if doc.Custom {
		v.Updated = doc.Updated
	}
	h.render(w, r, q, http.StatusOK, v)
}

// waitSave waits for the save named by ?indice (made maybe on another
// node) and returns the confirmation named by ?esito.
func (h *Handler) waitSave(r *http.Request) string {
	qv := r.URL.Query()
	if idx, err := strconv.ParseUint(qv.Get("indice"), 10, 64); err == nil && idx > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), saveWait)
		defer cancel()
		_ = h.cfg.Applied.WaitApplied(ctx, idx)
	}
	return flashes[qv.Get("esito")]
}

// save answers POST /gestione/comune/{kind}: azione=anteprima shows the
// sanitised text without saving; otherwise the text and the details are
// saved. A text left as the template shows it stays the template, so
// that later changes of the Comune's data still reach it.
func (h *Handler) save(w http.ResponseWriter, r *http.Request, q request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, err)
		return
	}
	f := r.PostForm
	d := legal.Details{Address: f.Get(fAddress), PEC: f.Get(fPEC), DPOName: f.Get(fDPOName), DPOEmail: f.Get(fDPOEmail),
		AccessibilityEmail: f.Get(fAccEmail), Conformity: f.Get(fConformity)}
	text := strings.ReplaceAll(f.Get(fText), "\r\n", "\n")
	v := editView{Details: d, Text: text}
	doc, err := h.cfg.Documents.Get(r.Context(), q.t.ID, q.kind)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Custom, v.UpdatedBy = doc.Custom, doc.UpdatedBy
	if f.Get(fAction) == "anteprima" {
		v.Preview, v.HasPreview = trusted(legal.Sanitize(text)), true
		h.render(w, r, q, http.StatusOK, v)
		return
	}
	data, err := h.data(r.Context(), q.t)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	current, err := legal.Body(doc, data)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	by := q.user.DisplayName
	if by == "" {
		by = q.user.Username
	}
	var idx uint64
	if !doc.Custom && strings.TrimSpace(text) == strings.TrimSpace(current) {
		idx, err = h.cfg.Documents.SaveDetails(r.Context(), q.t.ID, q.kind, d, by)
	} else {
		idx, err = h.cfg.Documents.Save(r.Context(), q.t.ID, q.kind, text, d, by)
	}
	var ve *legal.ValidationError
	if errors.As(err, &ve) {
		v.Errors = map[string]string{}
		for k, m := range ve.Fields {
			v.Errors[fieldOf[k]] = m
		}
		h.render(w, r, q, http.StatusUnprocessableEntity, v)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "legal document saved", "tenant", q.t.ID, "document", q.kind, "user", q.user.ID)
	h.redirect(w, r, q.kind, "salvato", idx)
}

// reset answers POST /gestione/comune/{kind}/ripristina.
func (h *Handler) reset(w http.ResponseWriter, r *http.Request, q request) {
	by := q.user.DisplayName
	if by == "" {
		by = q.user.Username
	}
	idx, err := h.cfg.Documents.Reset(r.Context(), q.t.ID, q.kind, by)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "legal document reset to the template", "tenant", q.t.ID, "document", q.kind, "user", q.user.ID)
	h.redirect(w, r, q.kind, "ripristinato", idx)
}

func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, kind legal.Kind, outcome string, idx uint64) {
	u := url.URL{Path: "/gestione/comune/" + string(kind), RawQuery: url.Values{
		"esito": {outcome}, "indice": {strconv.FormatUint(idx, 10)}}.Encode(), Fragment: "esito"}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// render shows the editor.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, q request, status int, v editView) {
	v.Kind, v.Title, v.CSRF = string(q.kind), q.kind.Title(), q.csrf
	v.Privacy = q.kind == legal.Privacy
	v.Conformities = legal.Conformities()
	v.MaxKB = legal.MaxBodyBytes >> 10
	if v.Details.Conformity == "" {
		v.Details.Conformity = "parzialmente conforme"
	}
	d := v.Details
	if v.Privacy {
		v.Fields = []formField{
			{ID: fAddress, Value: d.Address, Help: "Via, numero civico, CAP e comune: per esempio Corso Vittorio Emanuele II, 84 – 70122 Bari."},
			{ID: fPEC, Value: d.PEC, Help: "L'indirizzo a cui i cittadini scrivono al titolare del trattamento."},
			{ID: fDPOName, Value: d.DPOName, Help: "Nome della persona o della società nominata RPD (facoltativo)."},
			{ID: fDPOEmail, Value: d.DPOEmail, Help: "Facoltativa: senza, l'informativa rimanda al sito istituzionale del Comune."},
		}
	} else {
		v.Fields = []formField{
			{ID: fAccEmail, Value: d.AccessibilityEmail, Help: "Dove i cittadini segnalano un ostacolo; senza, la dichiarazione indica la PEC del Comune."},
		}
	}
	for i := range v.Fields {
		v.Fields[i].Label, v.Fields[i].Error = labels[v.Fields[i].ID], v.Errors[v.Fields[i].ID]
	}
	for _, k := range []string{fAddress, fPEC, fDPOName, fDPOEmail, fAccEmail, fConformity, fText} {
		if m, ok := v.Errors[k]; ok {
			v.ErrorList = append(v.ErrorList, fieldError{Field: k, Label: labels[k], Message: m})
		}
	}
	h.pages.Render(w, r, status, "gestione_documento.html", site.Page{
		Title:       v.Title,
		Breadcrumbs: []site.Crumb{{Label: "Gestione", URL: "/gestione"}, {Label: v.Title}},
		Data:        v,
	})
}
