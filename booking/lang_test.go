package booking

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// TestMessagesComplete holds every language of the catalog to the same
// keys, and every text to the same fmt verbs as the Italian one.
func TestMessagesComplete(t *testing.T) {
	t.Parallel()
	if got := slices.Sorted(func(yield func(string) bool) {
		for l := range messages {
			if !yield(l) {
				return
			}
		}
	}); !slices.Equal(got, []string{LangDE, LangEN, LangIT}) {
		t.Errorf("catalog languages %v, want de, en, it", got)
	}
	for _, lang := range Languages() {
		for key, it := range messages[LangIT] {
			s, ok := messages[lang][key]
			if !ok {
				t.Errorf("%s:%s missing", lang, key)
				continue
			}
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s:%s empty", lang, key)
			}
			if strings.Count(s, "%s") != strings.Count(it, "%s") || strings.Count(s, "%") != strings.Count(it, "%") {
				t.Errorf("%s:%s has other verbs than Italian: %q vs %q", lang, key, s, it)
			}
		}
		for key := range messages[lang] {
			if _, ok := messages[LangIT][key]; !ok {
				t.Errorf("%s:%s is not in Italian", lang, key)
			}
		}
	}
}

func TestDateFormatsPerLanguage(t *testing.T) {
	t.Parallel()
	loc := bari.Location()
	at := time.Date(2027, 3, 11, 10, 0, 0, 0, loc)
	for _, c := range []struct{ lang, day, dateTime, span string }{
		{"it", "giovedì 11 marzo 2027", "giovedì 11 marzo 2027 ore 10:00", "giovedì 11 marzo 2027, dalle 10:00 alle 10:20"},
		{"en", "Thursday 11 March 2027", "Thursday 11 March 2027 at 10:00", "Thursday 11 March 2027, 10:00 to 10:20"},
		{"de", "Donnerstag, 11. März 2027", "Donnerstag, 11. März 2027 um 10:00 Uhr", "Donnerstag, 11. März 2027, 10:00 bis 10:20 Uhr"},
		{"fr", "giovedì 11 marzo 2027", "giovedì 11 marzo 2027 ore 10:00", "giovedì 11 marzo 2027, dalle 10:00 alle 10:20"},
	} {
		if got := DayIn(c.lang, at); got != c.day {
			t.Errorf("DayIn(%s) = %q, want %q", c.lang, got, c.day)
		}
		if got := DateTimeIn(c.lang, at); got != c.dateTime {
			t.Errorf("DateTimeIn(%s) = %q, want %q", c.lang, got, c.dateTime)
		}
		if got := spanIn(c.lang, at, at.Add(20*time.Minute), loc); got != c.span {
			t.Errorf("spanIn(%s) = %q, want %q", c.lang, got, c.span)
		}
	}
}

func TestNormalizeLang(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "it", "it": "it", "EN": "en", "de-AT": "de", "en_GB": "en", "fr": "it", " de ": "de", "-": "it"} {
		if got := NormalizeLang(in); got != want {
			t.Errorf("NormalizeLang(%q) = %q, want %q", in, got, want)
		}
	}
	r, _ := CheckRequest(Request{Lang: "xx"})
	if r.Lang != "it" {
		t.Errorf("CheckRequest kept lang %q", r.Lang)
	}
}

// smtpFixture is the booking fixture whose outbox sends the emails to a
// real SMTP server.
func smtpFixture(t *testing.T) (*fixture, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	f := &fixture{clock: clustertest.NewClock(startTime)}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now}, Register)
	f.node.HandleOutbox(OutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
		var n Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return err
		}
		from, to, msg, err := ComposeEmail(n, f.clock.Now())
		if err != nil {
			return err
		}
		return sender.Send(ctx, from, []string{to}, msg)
	})
	clustertest.Start(t, f.node)
	f.book = NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.loc = bari.Location()
	ctx := context.Background()
	f.office, err = f.book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84",
		Hours: everyDay(Interval{hm(8, 0), hm(18, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: f.office.ID, Name: "Rilascio carta d'identità elettronica", Duration: 30 * time.Minute,
		WhatToBring: []string{"Fototessera"}, Channels: []Channel{InPerson, Video}, Capacity: 5, HorizonDays: 30,
		MinNotice: 30 * time.Minute, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

// TestEmailsInTheBookingsLanguage books in English and in German and
// follows each confirmation through the replicated outbox to a real SMTP
// server: subject, body, dates, Content-Language and the calendar file
// are in the booking's language; then a move in German.
func TestEmailsInTheBookingsLanguage(t *testing.T) {
	t.Parallel()
	f, srv := smtpFixture(t)
	ctx := context.Background()
	start := f.at(2026, 3, 11, 10, 0) // Wednesday
	en := f.request(f.svc.ID, start, 1)
	en.Lang = "en"
	cEN, err := f.book.Create(ctx, bari, en, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if cEN.Booking.Lang != "en" {
		t.Errorf("created booking lang %q", cEN.Booking.Lang)
	}
	de := f.request(f.svc.ID, start, 2)
	de.Lang = "de-DE"
	cDE, err := f.book.Create(ctx, bari, de, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.book.Get(ctx, bari.ID, cDE.Booking.Code, cDE.ManageToken); err != nil || got.Lang != "de" {
		t.Errorf("Get: lang %q, %v", got.Lang, err)
	}
	msgs := srv.Wait(t, 2, 15*time.Second)
	byTo := map[string]parsedEmail{}
	for _, m := range msgs {
		byTo[m.To[0]] = parseEmail(t, m.Data)
	}
	cases := []struct {
		to, lang, subject string
		body, html, ics   []string
	}{
		{"maria1@example.it", "en", "Appointment confirmed: Rilascio carta d'identità elettronica, Wednesday 11 March 2026 at 10:00 (" + cEN.Booking.Code + ")",
			[]string{"Dear Maria Rossi 1,", "your appointment with the Comune di Bari is confirmed.", "When: Wednesday 11 March 2026, 10:00 to 10:30",
				"How: in person, at the counter", "What to bring:", "To cancel or move the appointment, open this personal link:",
				"You can do so until Tuesday 10 March 2026 at 10:00.", "This message was sent automatically."},
			[]string{`<html lang="en">`, "Your appointment is confirmed", "Cancel or move the appointment"},
			[]string{"SUMMARY;LANGUAGE=en:", "Booking code: " + cEN.Booking.Code}},
		{"maria2@example.it", "de", "Termin bestätigt: Rilascio carta d'identità elettronica, Mittwoch, 11. März 2026 um 10:00 Uhr (" + cDE.Booking.Code + ")",
			[]string{"Guten Tag Maria Rossi 2,", "Ihr Termin bei Comune di Bari ist bestätigt.", "Wann: Mittwoch, 11. März 2026, 10:00 bis 10:30 Uhr",
				"Art: persönlich, am Schalter", "Das ist bis Dienstag, 10. März 2026 um 10:00 Uhr möglich.", "Diese Nachricht wurde automatisch versandt."},
			[]string{`<html lang="de">`, "Ihr Termin ist bestätigt", "Termin absagen oder verschieben"},
			[]string{"SUMMARY;LANGUAGE=de:", "Buchungscode: " + cDE.Booking.Code}},
	}
	for _, c := range cases {
		p, ok := byTo[c.to]
		if !ok {
			t.Errorf("no email to %s", c.to)
			continue
		}
		if got := p.header.Get("Content-Language"); got != c.lang {
			t.Errorf("%s: Content-Language %q, want %q", c.to, got, c.lang)
		}
		if p.subject != c.subject {
			t.Errorf("%s: subject\n %q, want\n %q", c.to, p.subject, c.subject)
		}
		for _, w := range c.body {
			if !strings.Contains(p.text, w) {
				t.Errorf("%s: text lacks %q:\n%s", c.to, w, p.text)
			}
		}
		for _, w := range c.html {
			if !strings.Contains(p.html, w) {
				t.Errorf("%s: HTML lacks %q", c.to, w)
			}
		}
		ics := strings.ReplaceAll(string(p.ics), "\r\n ", "")
		for _, w := range c.ics {
			if !strings.Contains(ics, w) {
				t.Errorf("%s: ICS lacks %q:\n%s", c.to, w, ics)
			}
		}
		for _, it := range []string{"Gentile", "Codice prenotazione", "Quando"} {
			if strings.Contains(p.text, it) {
				t.Errorf("%s: Italian %q left in the text", c.to, it)
			}
		}
	}

	// A move keeps the booking's language.
	if _, err := f.book.Move(ctx, bari, cDE.Booking.Code, cDE.ManageToken, start.Add(time.Hour), "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	msgs = srv.Wait(t, 3, 15*time.Second)
	p := parseEmail(t, msgs[2].Data)
	if !strings.HasPrefix(p.subject, "Termin verschoben:") || !strings.Contains(p.text, "Bisherige Uhrzeit: Mittwoch, 11. März 2026, 10:00 bis 10:30 Uhr") {
		t.Errorf("move email: %q\n%s", p.subject, p.text)
	}
}

// TestEnglishBookingDuringARollingUpgrade books in English while a member
// of the cluster knows only version 1 of booking.create: the version gate
// refuses the language, and the booking is made in Italian rather than
// refused.
func TestEnglishBookingDuringARollingUpgrade(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(startTime)
	older := func(r *cluster.Registry) { register(r, 1) }
	leader, member := clustertest.TwoMembers(t, clock.Now, Register, older)
	ctx := context.Background()
	book := NewBook(leader, leader.DB(), clock.Now, rand.Reader)
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Via Roma 1", Hours: everyDay(Interval{hm(8, 0), hm(18, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{ServiceID: svc.ID, Start: time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC), Channel: InPerson, PrivacyAccepted: true, Lang: "en",
		Citizen: Citizen{GivenName: "John", FamilyName: "Smith", FiscalCode: testFiscalCode(5), Email: "john@example.org"}}
	c, err := book.Create(ctx, bari, req, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if c.Booking.Lang != LangIT {
		t.Errorf("booking made in %q with a member that knows no languages, want it", c.Booking.Lang)
	}
	// Both members applied it alike.
	old := NewBook(member, member.DB(), clock.Now, rand.Reader)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := old.Get(ctx, bari.ID, c.Booking.Code, c.ManageToken)
		if err == nil {
			if got.Lang != LangIT {
				t.Errorf("older member stored lang %q", got.Lang)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the older member has no booking: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReminderEmailAfterTheDeadline: a reminder sent when the booking can
// no longer be changed online offers the link to see it, not to change it.
func TestReminderEmailAfterTheDeadline(t *testing.T) {
	t.Parallel()
	n := testNotice(NoticeConfirm, InPerson)
	n.Kind, n.Before = NoticeReminder, 2*time.Hour
	_, _, withDeadline, err := ComposeEmail(n, startTime)
	if err != nil {
		t.Fatal(err)
	}
	if p := parseEmail(t, withDeadline); !strings.Contains(p.text, "Per annullare o spostare") || !strings.HasPrefix(p.subject, "Promemoria appuntamento:") {
		t.Errorf("reminder before the deadline: %q\n%s", p.subject, p.text)
	}
	n.CancelBy = time.Time{}
	_, _, msg, err := ComposeEmail(n, startTime)
	if err != nil {
		t.Fatal(err)
	}
	p := parseEmail(t, msg)
	if strings.Contains(p.text, "annullare") || !strings.Contains(p.text, "Per rivedere la prenotazione apri questo collegamento personale:") ||
		!strings.Contains(p.html, "Rivedi la prenotazione") {
		t.Errorf("reminder past the deadline:\n%s", p.text)
	}
	if id := MessageID(n); !strings.Contains(id, ".reminder-120@") {
		t.Errorf("Message-ID %s does not name the reminder", id)
	}
}
