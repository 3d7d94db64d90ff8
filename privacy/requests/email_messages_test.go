package requests

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

var emailVerbRE = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

// TestEmailCatalogComplete: every language of the emails has exactly
// Italian's keys, with the same fmt verbs in the same order, and no
// empty text.
func TestEmailCatalogComplete(t *testing.T) {
	it := emailMessages["it"]
	for _, lang := range []string{"en", "de"} {
		dict := emailMessages[lang]
		if len(dict) != len(it) {
			t.Errorf("%s has %d keys, Italian %d", lang, len(dict), len(it))
		}
		for k, s := range it {
			o, ok := dict[k]
			if !ok {
				t.Errorf("%s lacks %q", lang, k)
				continue
			}
			a := strings.Join(emailVerbRE.FindAllString(s, -1), "")
			b := strings.Join(emailVerbRE.FindAllString(o, -1), "")
			if a != b {
				t.Errorf("%s:%s has verbs %q, Italian %q", lang, k, b, a)
			}
			if strings.TrimSpace(o) == "" {
				t.Errorf("%s:%s is empty", lang, k)
			}
		}
	}
}

// TestEmailLanguage: a notice's email is written in its language, with
// its Content-Language and <html lang>; a notice without a language
// (stamped before notices had one) or with an unknown one is Italian.
func TestEmailLanguage(t *testing.T) {
	exp := time.Date(2027, 3, 11, 9, 30, 0, 0, time.UTC)
	base := notice{Kind: noticeLink, Tenant: "bari", To: "maria@example.it", Link: "https://bari.example.it/privacy/richiesta/x",
		Expires: exp, Key: "k", Comune: comune{Name: "Comune di Bari", TimeZone: "Europe/Rome",
			Sender: tenant.Sender{Name: "Bari", Address: "noreply@bari.example.it"}}}
	cases := []struct {
		payload string // the notice's JSON "lang", as stored in the outbox
		kind    noticeKind
		lang    string
		want    []string
	}{
		{"", noticeLink, "it", []string{"Apri il collegamento qui sotto entro le 10:30 del 11/03/2027", "Apri i miei dati"}},
		{"xx", noticeLink, "it", []string{"Apri il collegamento"}},
		{"en", noticeLink, "en", []string{"Open the link below by 10:30 on 11/03/2027", "Open my data"}},
		{"de", noticeLink, "de", []string{"Öffnen Sie den Link unten bis 10:30 Uhr am 11.03.2027", "Meine Daten öffnen"}},
		{"de", noticeFiled, "de", []string{"Wir haben Ihren Antrag auf Löschung erhalten", "(Nummer r1)"}},
		{"en", noticeDecision, "en", []string{"Your erasure request (number r1) has not been granted.", "Reason: Obbligo di legge"}},
	}
	for _, c := range cases {
		n := base
		n.Kind, n.RequestID, n.Reason, n.Decision = c.kind, "r1", "Obbligo di legge", StateRefused
		raw, _ := json.Marshal(n)
		raw = bytes.Replace(raw, []byte(`"key"`), []byte(`"lang":"`+c.payload+`","key"`), 1)
		var back notice
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		_, _, msg, err := composeEmail(back, exp)
		if err != nil {
			t.Fatal(err)
		}
		m, err := netmail.ReadMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("Content-Language"); got != c.lang {
			t.Errorf("%q %s: Content-Language %q, want %q", c.payload, c.kind, got, c.lang)
		}
		_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
		mr := multipart.NewReader(m.Body, params["boundary"])
		var all strings.Builder
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			all.Write(b)
		}
		body := all.String()
		if !strings.Contains(body, `<html lang="`+c.lang+`">`) {
			t.Errorf("%q %s: no <html lang=%q>", c.payload, c.kind, c.lang)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%q %s: no %q in\n%s", c.payload, c.kind, w, body)
			}
		}
	}
}

// TestPayloadLang: Italian and unknown languages are left out of the
// payloads, so that Italian payloads are byte for byte as before.
func TestPayloadLang(t *testing.T) {
	for in, want := range map[string]string{"": "", "it": "", "en": "en", "de": "de", "fr": ""} {
		if got := payloadLang(in); got != want {
			t.Errorf("payloadLang(%q) = %q, want %q", in, got, want)
		}
	}
}
