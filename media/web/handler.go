package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Session is one participant's way into one room, as the caller
// authenticated them (from a booking's join link or an operator's
// session). The page and the socket of one participant must be given
// the same Session.
type Session struct {
	Tenant      tenant.Tenant
	RoomID      string
	Participant sfu.Participant
	ICEServers  []media.ICEServer
	// Title names the appointment on the page ("Anagrafe, 3 dicembre
	// alle 10:30"); "" shows a generic heading.
	Title string
	// Back is the link the page offers to leave to (the waiting room,
	// the operator's desk); "" means "/".
	Back string
	// UploadURL receives the documents (POST, multipart field "file");
	// "" hides the documents panel.
	UploadURL string
	// SocketURL is where call.js opens the WebSocket (a path with its
	// query, on the page's host); "" means the page's own URL, for a
	// route served by Serve.
	SocketURL string
	// Documents are the room's documents so far, listed when the page
	// loads (later ones arrive as DocumentNotice messages).
	Documents []DocumentNotice
	// CSRF is the session's CSRF token of an operator behind the login
	// (authweb.CSRFToken): call.js sends it with the uploads in the
	// X-CSRF-Token header. "" for a citizen, whose upload URL carries
	// the join token instead.
	CSRF string
	// ForceRelay makes the browser use only TURN relay candidates
	// (iceTransportPolicy "relay"): it keeps the participant's address
	// from the SFU and is how the tests prove the TURN path.
	ForceRelay bool
	// InviteURL, for an operator, is where the page's "Invita un collega
	// o un interprete" form posts (with CSRF in the field CSRFField); the
	// answer, opened in a new tab so the call goes on, is the guest's
	// link. "" hides the form.
	InviteURL, CSRFField string
}

// DocumentNotice is the message that shows a document in the call: the
// caller gives it to SFU.Announce after an upload, and lists the earlier
// ones in Session.Documents.
type DocumentNotice struct {
	Type string `json:"type"` // always "document"
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// URL downloads the document (Content-Disposition: attachment).
	URL string `json:"url"`
	// From is the participant ID of whoever uploaded it.
	From string `json:"from"`
	// FromName is their name, shown to those who never met them in the
	// call (a document from before they joined).
	FromName string `json:"from_name,omitempty"`
}

// Notice returns the DocumentNotice of a document.
func Notice(id, name string, size int64, url, from, fromName string) DocumentNotice {
	return DocumentNotice{Type: "document", ID: id, Name: name, Size: size, URL: url, From: from, FromName: fromName}
}

// Handler serves call pages, their sockets and their static files. The
// fields are set once before the first request; the Handler is then
// safe for concurrent use and starts no goroutine of its own (each
// socket's session runs in its request's goroutine, in SFU.Serve).
type Handler struct {
	SFU    *sfu.SFU
	Site   *site.Site
	Logger *slog.Logger

	// once parses the templates and indexes the assets on first use:
	// the fields above are exported (the contract's struct literal), so
	// there is no constructor to do it in.
	once   sync.Once
	pages  *site.Templates
	assets map[string]asset
	err    error
}

// AssetsPath is where the page's script and stylesheet are served. It
// sits under the site's /static/ (which the Tenant middleware lets
// through without a Comune) but is a more specific pattern, so both
// live on one mux; it is same-origin for the CSP's script-src 'self'.
const AssetsPath = "/static/chiamata/"

// socketReadLimit caps one signalling message. A browser's offer with
// audio, camera and screen is under 12 KB; chat is at most 2000
// characters (8 KB in UTF-8).
const socketReadLimit = 64 << 10

//go:embed templates/*.html static/*
var files embed.FS

// asset is one embedded static file with its version.
type asset struct {
	data        []byte
	contentType string
	version     string
}

// init parses the templates and reads the assets once.
func (h *Handler) init() error {
	h.once.Do(func() {
		if h.Site == nil || h.SFU == nil {
			h.err = errors.New("media/web: Handler.Site and Handler.SFU are required")
			return
		}
		sub, err := fs.Sub(files, "templates")
		if err != nil {
			h.err = err
			return
		}
		if h.pages, err = h.Site.TemplatesWith(callMessages, sub, "*.html"); err != nil {
			h.err = fmt.Errorf("media/web: templates: %w", err)
			return
		}
		h.assets = map[string]asset{}
		for name, ct := range map[string]string{
			"call.js":  "text/javascript; charset=utf-8",
			"call.css": "text/css; charset=utf-8",
		} {
			b, err := files.ReadFile("static/" + name)
			if err != nil {
				h.err = err
				return
			}
			sum := sha256.Sum256(b)
			h.assets[name] = asset{data: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
		}
	})
	return h.err
}

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// Routes mounts the static files (AssetsPath) on mux. The pages and
// sockets are the caller's routes, since only the caller knows how a
// request becomes a Session.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+AssetsPath+"{file}", h.serveAsset)
}

// serveAsset serves call.js or call.css. A request carrying the current
// version is cached for a year; any other revalidates with the ETag.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	if err := h.init(); err != nil {
		h.log().Error("media/web", "err", err)
		http.Error(w, tr(site.LangFrom(r.Context()), "error.internal"), http.StatusInternalServerError)
		return
	}
	a, ok := h.assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, r.PathValue("file"), time.Time{}, strings.NewReader(string(a.data)))
}

// assetURL is the versioned URL of an asset.
func (h *Handler) assetURL(name string) string {
	return AssetsPath + name + "?v=" + h.assets[name].version
}

// IsSocket reports whether r asks for a WebSocket upgrade: Serve sends
// those to Socket and the rest to Page.
func IsSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// Serve serves the page and its socket on one URL: the socket of a page
// whose Session.SocketURL is "" is the page's own URL, so the caller
// resolves one route into a Session once.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, s Session) {
	if IsSocket(r) {
		h.Socket(w, r, s)
		return
	}
	h.Page(w, r, s)
}

// pageData is what the call page's template sees.
type pageData struct {
	Title, Back   string
	Operator      bool
	Name          string
	Socket        string
	Upload        string
	CSRF          string
	Relay         bool
	Invite        string
	CSRFField     string
	Script, Style string
	Documents     []docView
	// Strings are the texts call.js shows, in the page's language.
	Strings map[string]string
}

// docView is a document as the page lists it; call.js writes the same
// for the documents announced later.
type docView struct{ ID, Name, URL, Size, Who string }

// sizeText writes n bytes as call.js does, with the decimal separator
// of lang: "12 KB", "1,5 MB" ("1.5 MB" in English).
func sizeText(lang string, n int64) string {
	if n >= 1<<20 {
		return strings.Replace(fmt.Sprintf("%.1f MB", float64(n)/(1<<20)), ".", tr(lang, "js.decimal"), 1)
	}
	return fmt.Sprintf("%d KB", max(1, (n+512)/1024))
}

// docViews lists the session's documents in lang, naming who sent each
// as call.js does for the later ones.
func docViews(lang string, s Session) []docView {
	out := make([]docView, 0, len(s.Documents))
	for _, d := range s.Documents {
		who := tr(lang, "js.doc.from", tr(lang, "js.someone"))
		switch {
		case d.From == s.Participant.ID:
			who = tr(lang, "js.doc.from.you")
		case d.FromName != "":
			who = tr(lang, "js.doc.from", d.FromName)
		}
		out = append(out, docView{ID: d.ID, Name: d.Name, URL: d.URL, Size: sizeText(lang, d.Size), Who: who})
	}
	return out
}

// Page renders the call page: device check, then waiting room or call,
// then the end. The page works only with JavaScript (a call needs it);
// without, it says so and links back. The URL may hold a join token:
// no link or resource carries it in a Referer.
func (h *Handler) Page(w http.ResponseWriter, r *http.Request, s Session) {
	if err := h.init(); err != nil {
		h.log().Error("media/web", "err", err)
		http.Error(w, tr(site.LangFrom(r.Context()), "error.internal"), http.StatusInternalServerError)
		return
	}
	if _, ok := site.TenantFrom(r.Context()); !ok {
		r = r.WithContext(site.WithTenant(r.Context(), s.Tenant))
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	site.AllowCallDevices(w.Header()) // the page asks for the camera and microphone
	lang := site.LangFrom(r.Context())
	d := pageData{
		Title: s.Title, Back: s.Back, Operator: s.Participant.Role == string(media.RoleOperator),
		Name: s.Participant.Name, Socket: s.SocketURL, Upload: s.UploadURL, CSRF: s.CSRF, Relay: s.ForceRelay,
		Invite: s.InviteURL, CSRFField: s.CSRFField,
		Script: h.assetURL("call.js"), Style: h.assetURL("call.css"),
		Documents: docViews(lang, s), Strings: scriptStrings(lang),
	}
	if d.Back == "" {
		d.Back = "/"
	}
	if d.Socket == "" {
		d.Socket = r.URL.RequestURI()
	}
	h.pages.Render(w, r, http.StatusOK, "chiamata.html", site.Page{Title: tr(lang, "heading"), Data: d})
}

// Socket upgrades r to a WebSocket and runs the participant's session
// in the SFU until they leave; it returns when the session ends. The
// upgrade refuses a browser's request whose Origin is not the page's
// host (coder/websocket's own check, never skipped), so another site
// cannot open a call with a token it got hold of through the user's
// browser.
func (h *Handler) Socket(w http.ResponseWriter, r *http.Request, s Session) {
	if h.SFU == nil {
		http.Error(w, tr(site.LangFrom(r.Context()), "error.unavailable"), http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		// Accept has answered (403 for a foreign Origin).
		h.log().Info("call socket refused", "tenant", s.Tenant.ID, "room", s.RoomID, "err", err)
		return
	}
	c.SetReadLimit(socketReadLimit)
	err = h.SFU.Serve(r.Context(), s.RoomID, s.Participant, c, sfu.Welcome{ICEServers: iceServers(s.ICEServers)})
	if err != nil {
		h.log().Info("call session ended", "tenant", s.Tenant.ID, "room", s.RoomID, "participant", s.Participant.ID, "err", err)
	}
	// Serve normally closes the socket itself; this frees it when it did
	// not, and is harmless after.
	c.CloseNow()
}

// iceServers never sends null: call.js expects a list.
func iceServers(s []media.ICEServer) []media.ICEServer {
	if s == nil {
		return []media.ICEServer{}
	}
	return s
}
