package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// TestMessagesComplete checks that English and German have exactly the
// keys of Italian.
func TestMessagesComplete(t *testing.T) {
	t.Parallel()
	if missing := Messages().Missing(site.Languages()...); len(missing) > 0 {
		t.Errorf("catalog incomplete: %q", missing)
	}
	// A text with verbs keeps the same verbs in every language.
	verb := regexp.MustCompile(`%[dsvq]`)
	for k, v := range messagesIT {
		for _, l := range []string{"en", "de"} {
			if a, b := verb.FindAllString(v, -1), verb.FindAllString(messages[l][k], -1); !slices.Equal(a, b) {
				t.Errorf("%s:%s has verbs %q, Italian %q", l, k, b, a)
			}
		}
	}
}

// TestErrorMessagesTranslatable makes the booking package's and
// classify's Italian messages go through localize: every message they
// write must be the Italian text of an "err." key, so that a change of
// wording there fails here instead of leaving Italian on an English page.
func TestErrorMessagesTranslatable(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for k, v := range messagesIT {
		if !strings.HasPrefix(k, "err.") {
			continue
		}
		if other, dup := seen[v]; dup {
			t.Errorf("keys %s and %s share the Italian text %q", k, other, v)
		}
		seen[v] = k
	}
	var msgs []string
	long := strings.Repeat("a", 101)
	for _, req := range []booking.Request{
		{},
		{Channel: "fax", Citizen: booking.Citizen{GivenName: long, FamilyName: long, FiscalCode: "XX", Email: "x", Phone: "abc"}, Details: strings.Repeat("d", booking.MaxDetails+1)},
		{Channel: booking.Phone, Citizen: booking.Citizen{GivenName: "a\x01", FamilyName: "b\x01"}, Details: "x\x01y"},
	} {
		_, err := booking.CheckRequest(req)
		var ve *booking.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("CheckRequest(%+v) = %v, want a ValidationError", req, err)
		}
		for _, m := range ve.Fields {
			msgs = append(msgs, m)
		}
	}
	for _, err := range []error{
		&booking.ValidationError{}, &http.MaxBytesError{}, &rateLimitError{}, errCrossSite, errUnsupportedMedia, errMalformed,
		errBadIdempotencyKey, cluster.ErrRequestReused, errTokenRequired, booking.ErrNotFound, booking.ErrSlotFull,
		booking.ErrAlreadyBooked, booking.ErrPastDeadline, booking.ErrCancelled, booking.ErrNotASlot, booking.ErrTooSoon,
		booking.ErrTooFar, booking.ErrClosed, booking.ErrChannelOffered, cluster.ErrOutcomeUnknown, cluster.ErrNoLeader,
		errStale, context.DeadlineExceeded, errors.New("anything else"),
	} {
		p := classify(err)
		msgs = append(msgs, p.Message)
		for _, m := range p.Fields {
			msgs = append(msgs, m)
		}
	}
	_, err := parseStart("")
	msgs = append(msgs, fmt.Sprint(err.(*booking.ValidationError).Fields["start"]))
	_, err = parseStart("domani")
	msgs = append(msgs, fmt.Sprint(err.(*booking.ValidationError).Fields["start"]))
	for _, fe := range []formErrors{
		checkFlow(flowForm{Service: "x", Start: "x", Channel: "video"}, nil, stepSummary),
	} {
		for _, m := range fe {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) < 40 {
		t.Fatalf("collected %d messages, want the whole set", len(msgs))
	}
	for _, m := range msgs {
		if _, ok := errKeys[m]; !ok {
			t.Errorf("message %q has no key in the catalog", m)
			continue
		}
		for _, l := range []tr{"en", "de"} {
			if got := l.msg(m); got == m || got == "" {
				t.Errorf("%s: %q is not translated", l, m)
			}
		}
	}
}

// citizenTemplates are the page files that are written from the catalog
// only: no text of their own outside template actions.
var citizenTemplates = []string{
	"prenota.html", "servizi.html", "servizio.html", "uffici.html", "prenotazione.html",
	"annulla.html", "sposta.html", "_partials.html", "_booking_push.html",
}

var (
	tmplComment = regexp.MustCompile(`(?s)\{\{-?\s*/\*.*?\*/\s*-?\}\}`)
	tmplAction  = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	htmlTag     = regexp.MustCompile(`(?s)<[^>]*>`)
	textAttr    = regexp.MustCompile(`\b(aria-label|title|alt|placeholder|aria-description|aria-roledescription)="([^"]*)"`)
	letter      = regexp.MustCompile(`\pL`)
	keyRef      = regexp.MustCompile(`\{\{-?\s*(?:\.T|\$\.T|T)\s+"([^"]+)"`)
)

// literals returns the text a template file shows outside its actions:
// letters between tags, or in the attributes a screen reader or a
// tooltip reads. Symbols, digits and spaces are allowed.
func literals(src string) []string {
	src = tmplComment.ReplaceAllString(src, "")
	src = tmplAction.ReplaceAllString(src, "\x00")
	var out []string
	for _, m := range textAttr.FindAllStringSubmatch(src, -1) {
		if letter.MatchString(m[2]) {
			out = append(out, m[0])
		}
	}
	for _, line := range strings.Split(htmlTag.ReplaceAllString(src, "\x00"), "\n") {
		for _, chunk := range strings.Split(line, "\x00") {
			if letter.MatchString(chunk) {
				out = append(out, strings.TrimSpace(chunk))
			}
		}
	}
	return out
}

func TestLiteralsScanner(t *testing.T) {
	t.Parallel()
	// The scanner itself: it must catch text and labelled attributes,
	// and let actions, comments, tags and symbols through.
	src := `{{/* a comment with words */}}<p class="x">{{T "a"}} (<span aria-hidden="true">*</span>)</p>
<a href="/x" aria-label="Chiudi">{{.Name}}</a><button>Invia</button>{{if .X}}, {{end}}`
	got := literals(src)
	want := []string{`aria-label="Chiudi"`, "Invia"}
	if !slices.Equal(got, want) {
		t.Errorf("literals = %q, want %q", got, want)
	}
}

// TestCitizenTemplatesTranslated checks that the citizen page files have
// no Italian (or any) text of their own, and that every key they use is
// in the catalog (theirs or the layout's) in every language.
func TestCitizenTemplatesTranslated(t *testing.T) {
	t.Parallel()
	for _, name := range citizenTemplates {
		b, err := fs.ReadFile(templateFS, "templates/"+name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, lit := range literals(src) {
			t.Errorf("%s: text outside the catalog: %q", name, lit)
		}
		refs := keyRef.FindAllStringSubmatch(src, -1)
		if len(refs) == 0 {
			t.Errorf("%s uses no catalog key", name)
		}
		for _, m := range refs {
			for _, l := range site.Languages() {
				// The package's catalog or the layout's (complete in
				// every language, tested in tenant/site).
				if _, ok := messages[l][m[1]]; !ok && site.Translate(nil, l, m[1]) == m[1] {
					t.Errorf("%s: key %q has no %s text", name, m[1], l)
				}
			}
		}
	}
}

// TestLocalizeKeepsCodes checks that a problem translated for an API
// client keeps its status, code and field names.
func TestLocalizeKeepsCodes(t *testing.T) {
	t.Parallel()
	p := classify(booking.ErrSlotFull)
	de := tr("de").localize(p)
	if de.Status != p.Status || de.Code != "slot_full" || de.Message == p.Message || de.Fields["start"] == "" || de.Fields["start"] == p.Fields["start"] {
		t.Errorf("localize(de) = %+v from %+v", de, p)
	}
	if it.localize(p).Message != p.Message {
		t.Errorf("Italian changed")
	}
}
