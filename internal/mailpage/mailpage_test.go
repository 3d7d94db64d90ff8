package mailpage

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

// parts reads a composed message back: its headers and its two parts,
// decoded.
func parts(t *testing.T, msg []byte) (netmail.Header, string, string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(m.Body, params["boundary"])
	var text, html string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			html = string(b)
		}
	}
	return m.Header, text, html
}

func TestCompose(t *testing.T) {
	env := Envelope{From: netmail.Address{Name: "Comune di Bari", Address: "noreply@bari.example.it"}, To: "maria@example.it",
		Date: time.Date(2027, 3, 11, 9, 30, 0, 0, time.UTC), Key: "privacyreq/bari/r1/filed/1",
		Domain: "bari.privacy.sportello", BoundaryPrefix: "sportello-p-"}
	p := Page{Lang: "de", Subject: "Zugang zu Ihren Daten", Heading: "Ihre Daten", Tenant: "Comune di Bari",
		Hello: "Guten Tag Maria,", Lines: []string{"Erste Zeile <b>fett</b>?", "Zweite Zeile."},
		Link: "https://bari.example.it/privacy/richiesta/abc", LinkText: "Öffnen:", LinkLabel: "Meine Daten öffnen",
		Footer: "Automatische Nachricht."}
	msg, err := Compose(env, p)
	if err != nil {
		t.Fatal(err)
	}
	h, text, html := parts(t, msg)
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	for name, want := range map[string]string{"Content-Language": "de", "Auto-Submitted": "auto-generated", "To": "<maria@example.it>"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if subject != p.Subject {
		t.Errorf("subject %q", subject)
	}
	if id := h.Get("Message-ID"); !strings.HasSuffix(id, "@bari.privacy.sportello>") {
		t.Errorf("Message-ID %q", id)
	}
	again, _ := Compose(env, p)
	if h2, _, _ := parts(t, again); h2.Get("Message-ID") != h.Get("Message-ID") {
		t.Error("the same key gave another Message-ID")
	}
	for _, want := range []string{"Comune di Bari\n", "Ihre Daten\n", "Guten Tag Maria,", "Erste Zeile <b>fett</b>?",
		"Öffnen:\nhttps://bari.example.it/privacy/richiesta/abc", "-- \nAutomatische Nachricht."} {
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{`<html lang="de">`, "<h1 style=\"font-size: 1.4em;\">Ihre Daten</h1>", "Erste Zeile &lt;b&gt;fett&lt;/b&gt;?",
		`<a href="https://bari.example.it/privacy/richiesta/abc">Meine Daten öffnen</a>`, "<p>Guten Tag Maria,</p>"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
	// Without a heading the subject is the title; without a label the
	// address is the anchor's text.
	p.Heading, p.LinkLabel, p.Hello = "", "", ""
	_, _, html = parts(t, mustCompose(t, env, p))
	if !strings.Contains(html, ">Zugang zu Ihren Daten</h1>") || !strings.Contains(html, `">https://bari.example.it/privacy/richiesta/abc</a>`) {
		t.Errorf("defaults not applied:\n%s", html)
	}
	if _, err := Compose(Envelope{To: "x@example.it"}, p); err == nil {
		t.Error("a message without a sender was composed")
	}
}

func mustCompose(t *testing.T, e Envelope, p Page) []byte {
	t.Helper()
	msg, err := Compose(e, p)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}
