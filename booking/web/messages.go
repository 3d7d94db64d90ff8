package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// messages is the catalog of the citizen pages (messages_it.go,
// messages_en.go, messages_de.go). The pages read it through .T and T
// (site.TemplatesWith), the Go code through tr. It is read-only.
var messages = site.Messages{"it": messagesIT, "en": messagesEN, "de": messagesDE}

// Messages returns the package's catalog, for tests and tools that check
// every language is complete; callers must not change it.
func Messages() site.Messages { return messages }

// errKeys maps the Italian text of every "err." message to its key: the
// booking package and classify write Italian, and localize finds a
// message's translation by its text. Built once from messagesIT.
var errKeys = func() map[string]string {
	m := map[string]string{}
	for k, v := range messagesIT {
		if strings.HasPrefix(k, "err.") {
			m[v] = k
		}
	}
	return m
}()

// tr is the language of a page with the package's catalog: the Go side
// of .T.
type tr string

// trOf returns the language the Tenant middleware negotiated for r.
func trOf(r *http.Request) tr { return tr(site.LangFrom(r.Context())) }

// it is Italian, the language of the back office and of the API unless
// the client asks for another.
const it tr = "it"

// T returns the text of key in l.
func (l tr) T(key string, args ...any) string {
	return site.Translate(messages, string(l), key, args...)
}

// msg translates a message written in Italian by the booking package or
// by classify; a text with no key in the catalog stays Italian, which is
// better than no message.
func (l tr) msg(italian string) string {
	if k, ok := errKeys[italian]; ok {
		return l.T(k)
	}
	return italian
}

// fields translates the messages of a field map (API field → message).
func (l tr) fields(f map[string]string) map[string]string {
	if f == nil || l == it {
		return f
	}
	out := make(map[string]string, len(f))
	for k, v := range f {
		out[k] = l.msg(v)
	}
	return out
}

// localize returns p with its messages in l.
func (l tr) localize(p problem) problem {
	if l == it {
		return p
	}
	p.Message = l.msg(p.Message)
	p.Fields = l.fields(p.Fields)
	return p
}

// date writes t's day, t already in the Comune's zone.
func (l tr) date(t time.Time) string { return site.FormatDay(string(l), civil.DateOf(t)) }

// dateTime writes a moment: "lunedì 1 marzo 2027 ore 10:00".
func (l tr) dateTime(t time.Time) string { return site.FormatDateTime(string(l), t) }

// span writes an appointment: "giovedì 11 marzo 2027, dalle 10:00 alle
// 10:30", "Thursday 11 March 2027, from 10:00 to 10:30".
func (l tr) span(start, end time.Time) string {
	return l.T("flow.when", l.date(start), site.FormatTimeRange(string(l), start, end))
}

// month writes a month: "marzo 2027".
func (l tr) month(y int, m time.Month) string {
	return site.FormatMonth(string(l), civil.Date{Year: y, Month: m, Day: 1})
}

// channel names a channel for citizens.
func (l tr) channel(c booking.Channel) string {
	switch c {
	case booking.InPerson, booking.Video, booking.Phone:
		return l.T("channel." + string(c))
	}
	return string(c)
}

// duration writes a service's length: "30 minuti", "1 ora e 15 minuti".
func (l tr) duration(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	var parts []string
	switch {
	case h == 1:
		parts = append(parts, l.T("duration.hour"))
	case h > 1:
		parts = append(parts, l.T("duration.hours", h))
	}
	switch {
	case m == 1:
		parts = append(parts, l.T("duration.minute"))
	case m > 1:
		parts = append(parts, l.T("duration.minutes", m))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, l.T("duration.and"))
}

// apiLangKey is the context key of the language a JSON client asked for
// with "lang".
type apiLangKey struct{}

// withAPILang records the language of an API request's body.
func withAPILang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, apiLangKey{}, tr(booking.NormalizeLang(lang)))
}

// apiLang is the language of an API answer: the "lang" the client sent,
// else Italian. The API does not follow Accept-Language: its clients are
// programs, whose field codes are the contract, and a message that changed
// language with a browser setting would surprise them.
func apiLang(ctx context.Context) tr {
	if l, ok := ctx.Value(apiLangKey{}).(tr); ok {
		return l
	}
	return it
}
