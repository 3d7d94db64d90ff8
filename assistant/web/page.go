package web

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/sportello-virtuale/sportello/assistant/chat"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// Form fields of the page.
const (
	fieldMessage      = "messaggio"
	fieldConversation = "conversazione"
)

// pageData is the conversation as the page shows it.
type pageData struct {
	Conversation string
	Lines        []lineView
	Suggestions  []chat.Suggestion
	// Buttons send a message (a slot, "sì", "prendi il numero"); Links
	// open a page (the service page, the ticket, the booking).
	Buttons []chat.Action
	Links   []linkView
	// Message is the text the citizen typed when it was refused; Error
	// says why.
	Message    string
	Error      string
	MaxMessage int
	// Style is the versioned URL of the chat's stylesheet.
	Style string
}

// linkView is a link of the reply. Href is a template.URL only for a
// "tel:" link whose number was checked (html/template would replace the
// scheme, which it does not know, with "#ZgotmplZ"); other links stay
// strings, checked by html/template.
type linkView struct {
	Label string
	Href  any
}

// telLink returns u as a trusted URL when it is "tel:" and digits with
// an optional leading "+".
func telLink(u string) (template.URL, bool) {
	n, ok := strings.CutPrefix(u, "tel:")
	if !ok || n == "" {
		return "", false
	}
	for i, r := range n {
		if !(r >= '0' && r <= '9' || r == '+' && i == 0) {
			return "", false
		}
	}
	return template.URL(u), true
}

// lineView is one message: who wrote it and its paragraphs, each a run
// of text and links.
type lineView struct {
	Citizen    bool
	Paragraphs [][]segment
	Last       bool
}

// segment is text, or a link when URL is set.
type segment struct {
	Text, URL string
}

// page answers GET /assistente: the empty conversation.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	h.render(w, r, http.StatusOK, pageData{MaxMessage: chat.MaxMessage})
}

// pagePost answers POST /assistente: the citizen's message, the reply,
// and the exchange so far, kept in the conversation's token (the form's
// hidden field), so that any node serves the next message.
func (h *Handler) pagePost(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.site.Error(w, r, http.StatusRequestEntityTooLarge, site.Translate(messages, site.LangFrom(r.Context()), "error.too_large"))
			return
		}
		h.site.Error(w, r, http.StatusBadRequest, "")
		return
	}
	msg, conv := r.PostForm.Get(fieldMessage), r.PostForm.Get(fieldConversation)
	lang := site.LangFrom(r.Context())
	d := pageData{Conversation: conv, MaxMessage: chat.MaxMessage}
	if !h.allow(w, r) {
		d.Message, d.Error = msg, site.Translate(messages, lang, "error.rate")
		h.render(w, r, http.StatusTooManyRequests, d)
		return
	}
	resp, err := h.engine.Handle(r.Context(), t, h.request(r, msg, conv, lang, true))
	if err != nil {
		var fe *chat.FieldError
		status := http.StatusInternalServerError
		switch {
		case errors.As(err, &fe):
			status, d.Error = http.StatusUnprocessableEntity, fe.Message(lang)
		case errors.Is(err, chat.ErrBusy):
			w.Header().Set("Retry-After", "60")
			status, d.Error = http.StatusServiceUnavailable, site.Translate(messages, lang, "error.busy")
		default:
			h.log.Error("assistant failed", "tenant", t.ID, "err", err)
			d.Error = site.Translate(messages, lang, "error.failed")
		}
		// The exchange so far is in the token, which the engine did not
		// open: the page shows the refused message in the field only.
		d.Message = msg
		h.render(w, r, status, d)
		return
	}
	d.Conversation = resp.ConversationID
	for i, l := range resp.History {
		d.Lines = append(d.Lines, lineView{Citizen: l.From == "citizen", Paragraphs: paragraphs(l.Text), Last: i == len(resp.History)-1})
	}
	d.Suggestions = resp.Suggestions
	for _, a := range resp.Actions {
		if a.Message != "" {
			d.Buttons = append(d.Buttons, a)
		} else if tel, ok := telLink(a.URL); ok {
			d.Links = append(d.Links, linkView{Label: a.Label + " " + a.Phone, Href: tel})
		} else if a.URL != "" {
			d.Links = append(d.Links, linkView{Label: a.Label, Href: a.URL})
		}
	}
	h.render(w, r, http.StatusOK, d)
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	// The page carries the conversation's token (in a form field, never
	// in the URL, so the site's Referrer-Policy is enough): never cached.
	// A "no-referrer" policy would make browsers send "Origin: null" with
	// the form, which the cross-site check refuses over plain HTTP.
	w.Header().Set("Cache-Control", "no-store")
	lang := site.LangFrom(r.Context())
	title := site.Translate(messages, lang, "page.title")
	d.Style = h.widget.styleURL()
	h.pages.Render(w, r, status, "assistente.html", site.Page{
		Title:       title,
		Breadcrumbs: []site.Crumb{{Label: "Home", URL: "/"}, {Label: title}},
		Data:        d,
	})
}

// paragraphs splits a reply at blank lines and its lines, and turns the
// web addresses in it into links.
func paragraphs(text string) [][]segment {
	var out [][]segment
	for _, p := range strings.Split(text, "\n") {
		if strings.TrimSpace(p) == "" {
			continue
		}
		out = append(out, linkify(p))
	}
	return out
}

// linkify cuts a line into text and the http(s) addresses it holds.
func linkify(s string) []segment {
	var segs []segment
	var text strings.Builder
	for i, word := range strings.Split(s, " ") {
		if i > 0 {
			text.WriteByte(' ')
		}
		u := strings.TrimRight(word, ".,;:)»")
		if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
			if text.Len() > 0 {
				segs = append(segs, segment{Text: text.String()})
				text.Reset()
			}
			segs = append(segs, segment{Text: u, URL: u})
			text.WriteString(word[len(u):])
			continue
		}
		text.WriteString(word)
	}
	if text.Len() > 0 {
		segs = append(segs, segment{Text: text.String()})
	}
	return segs
}
