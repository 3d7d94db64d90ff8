package requests_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	netmail "net/mail"

	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/privacy/requests"
)

// langMail waits for the message to addr whose decoded subject is
// subject and returns its Content-Language and plain text.
func langMail(t *testing.T, srv *smtptest.Server, addr, subject string) (lang, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range srv.Messages() {
			e := decodeEmail(t, m)
			if e.to != addr || e.subject != subject {
				continue
			}
			msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			return msg.Header.Get("Content-Language"), e.text
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got []string
	for _, m := range srv.Messages() {
		e := decodeEmail(t, m)
		got = append(got, e.to+": "+e.subject)
	}
	t.Fatalf("no email %q to %s; received:\n%s", subject, addr, strings.Join(got, "\n"))
	return "", ""
}

// TestEmailsInTheCitizensLanguage: a citizen who uses the site in
// Italian, English or German gets every email of the request in that
// language — the verification link, the receipt of the erasure request
// and, days later from the Italian back office, the decision, whose
// language was stored with the request — delivered through the
// replicated outbox to a real SMTP server.
func TestEmailsInTheCitizensLanguage(t *testing.T) {
	ms, srv := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	cases := []struct {
		lang, page                string
		link, filed, decision     string
		approve                   bool
		decisionLine, contentLang string
	}{
		{lang: "it", page: "it", link: "Accesso ai tuoi dati personali",
			filed: "Abbiamo ricevuto la tua richiesta di cancellazione", decision: "Decisione sulla tua richiesta di cancellazione",
			approve: true, decisionLine: "è stata accolta", contentLang: "it"},
		{lang: "en", page: "en", link: "Access to your personal data",
			filed: "We have received your erasure request", decision: "Decision on your erasure request",
			decisionLine: "has not been granted", contentLang: "en"},
		{lang: "de", page: "de", link: "Zugang zu Ihren personenbezogenen Daten",
			filed: "Wir haben Ihren Antrag auf Löschung erhalten", decision: "Entscheidung über Ihren Antrag auf Löschung",
			approve: true, decisionLine: "wurde stattgegeben", contentLang: "de"},
		// A page language the emails do not have falls back to Italian.
		{lang: "fr", page: "fr", link: "Accesso ai tuoi dati personali",
			filed: "Abbiamo ricevuto la tua richiesta di cancellazione", decision: "Decisione sulla tua richiesta di cancellazione",
			decisionLine: "non è stata accolta", contentLang: "it"},
	}
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			addr := "cittadino-" + c.lang + "@example.it"
			if _, err := m.store.SendLinkIn(ctx, bari, addr, "https://bari.example.it/privacy/richiesta/", c.page); err != nil {
				t.Fatalf("SendLinkIn: %v", err)
			}
			if lang, text := langMail(t, srv, addr, c.link); lang != c.contentLang || !strings.Contains(text, "/privacy/richiesta/") {
				t.Errorf("link email: Content-Language %q, want %q; text:\n%s", lang, c.contentLang, text)
			}
			req, err := m.store.File(ctx, bari, requests.Filing{Subject: requests.Subject{Email: addr},
				Origin: requests.OriginCitizen, Lang: c.page})
			if err != nil {
				t.Fatalf("File: %v", err)
			}
			if lang, text := langMail(t, srv, addr, c.filed); lang != c.contentLang || !strings.Contains(text, req.ID) {
				t.Errorf("receipt: Content-Language %q, want %q; text:\n%s", lang, c.contentLang, text)
			}
			// The administrator decides from the back office, in Italian:
			// the citizen still reads the decision in their language.
			d := requests.Decision{Approve: c.approve, By: requests.Person{ID: "u1", Name: "Anna Verdi"}}
			if !c.approve {
				d.Reason = "Obbligo di conservazione per legge"
			}
			if _, err := m.store.Decide(ctx, bari, req.ID, d, m.erase); err != nil {
				t.Fatalf("Decide: %v", err)
			}
			lang, text := langMail(t, srv, addr, c.decision)
			if lang != c.contentLang || !strings.Contains(text, req.ID) {
				t.Errorf("decision: Content-Language %q, want %q; text:\n%s", lang, c.contentLang, text)
			}
			if c.decisionLine != "" && !strings.Contains(text, c.decisionLine) {
				t.Errorf("decision text lacks %q:\n%s", c.decisionLine, text)
			}
			if !c.approve && !strings.Contains(text, d.Reason) {
				t.Errorf("refusal without its reason:\n%s", text)
			}
		})
	}
}
