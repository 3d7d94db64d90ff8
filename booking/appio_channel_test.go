package booking

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// appIOItems returns the App IO items of the node's outbox.
func appIOItems(t *testing.T, node *cluster.Node) []cluster.OutboxMessage {
	t.Helper()
	items, err := node.Outbox(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []cluster.OutboxMessage
	for _, it := range items {
		if it.Kind == AppIOOutboxKind {
			out = append(out, it)
		}
	}
	return out
}

func (f *waitFixture) enableAppIO(t *testing.T) {
	t.Helper()
	if _, err := f.book.SaveAppIO(context.Background(), bari.ID, f.svc.ID, "key-anagrafe", true, false, f.sealer); err != nil {
		t.Fatal(err)
	}
}

func TestAppIOProfileCheckThenMessage(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	// Without the channel on, nothing is queued.
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 11, 9, 0), 1), "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if n := len(appIOItems(t, f.node)); n != 0 {
		t.Fatalf("%d App IO items with the channel off", n)
	}
	f.enableAppIO(t)
	// The key is never shown back, and is stored sealed only.
	s, err := f.book.AppIO(ctx, bari.ID, f.svc.ID)
	if err != nil || !s.Enabled || !s.HasKey {
		t.Fatalf("AppIO: %+v %v", s, err)
	}
	var sealed string
	if err := f.node.DB().QueryRowContext(ctx, `SELECT sealed_key FROM booking_appio WHERE tenant = ? AND service_id = ?`, bari.ID, f.svc.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "key-anagrafe") {
		t.Fatalf("the API key is stored in clear: %q", sealed)
	}

	allowed := f.request(f.svc.ID, f.at(2026, 3, 11, 10, 0), 2)
	f.fake.SetProfile(allowed.Citizen.FiscalCode, true)
	b, err := f.book.Create(ctx, bari, allowed, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the App IO message", func() bool { return len(f.fake.Messages()) == 1 })
	if got, want := f.fake.Calls(), []string{"profiles", "messages"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v (profile first)", got, want)
	}
	m := f.fake.Messages()[0]
	if m.FiscalCode != allowed.Citizen.FiscalCode || m.Key != "key-anagrafe" {
		t.Errorf("message to %s with key %s", m.FiscalCode, m.Key)
	}
	if !strings.Contains(m.Subject, "Appuntamento confermato") || !strings.Contains(m.Markdown, "mercoledì 11 marzo 2026") ||
		!strings.Contains(m.Markdown, "/prenotazioni/"+b.Booking.Code) {
		t.Errorf("message: %q / %q", m.Subject, m.Markdown)
	}
	if due, err := time.Parse(time.RFC3339, m.DueDate); err != nil || !due.Equal(b.Booking.Start) {
		t.Errorf("due date %q, want %s", m.DueDate, b.Booking.Start.UTC())
	}

	// A citizen who does not allow the service: profile asked, no message.
	denied := f.request(f.svc.ID, f.at(2026, 3, 11, 10, 30), 3)
	f.fake.SetProfile(denied.Citizen.FiscalCode, false)
	if _, err := f.book.Create(ctx, bari, denied, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the denied profile check", func() bool { return len(f.fake.Calls()) == 3 })
	eventually(t, "every App IO item done", func() bool {
		for _, it := range appIOItems(t, f.node) {
			if it.Status != "sent" {
				return false
			}
		}
		return true
	})
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d messages after a denied profile, want 1", n)
	}

	// No profile (404): skipped and remembered, so the next booking of
	// that citizen queues nothing for App IO.
	none := f.request(f.svc.ID, f.at(2026, 3, 11, 11, 0), 4)
	nb, err := f.book.Create(ctx, bari, none, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing profile remembered", func() bool {
		var n int
		f.node.DB().QueryRowContext(ctx, `SELECT count(*) FROM booking_appio_noprofile WHERE tenant = ? AND fiscal_code = ?`, bari.ID, none.Citizen.FiscalCode).Scan(&n)
		return n == 1
	})
	before := len(appIOItems(t, f.node))
	if _, err := f.book.Cancel(ctx, bari, nb.Booking.Code, nb.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	none.Start = f.at(2026, 3, 11, 11, 30)
	if _, err := f.book.Create(ctx, bari, none, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if n := len(appIOItems(t, f.node)); n != before {
		t.Errorf("%d App IO items after a remembered 404, want %d", n, before)
	}
	if n := len(f.fake.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestAppIORetriesOn429(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	f.enableAppIO(t)
	req := f.request(f.svc.ID, f.at(2026, 3, 11, 10, 0), 1)
	f.fake.SetProfile(req.Citizen.FiscalCode, true)
	f.fake.Fail429(1)
	if _, err := f.book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a failed first attempt", func() bool {
		items := appIOItems(t, f.node)
		return len(items) == 1 && items[0].Attempts == 1 && items[0].Status == "pending"
	})
	if n := len(f.fake.Messages()); n != 0 {
		t.Fatalf("%d messages after a 429", n)
	}
	// The outbox's backoff runs on the cluster's clock.
	f.clock.Advance(time.Minute)
	eventually(t, "the retried message", func() bool { return len(f.fake.Messages()) == 1 })
	eventually(t, "the item sent", func() bool {
		items := appIOItems(t, f.node)
		return items[0].Status == "sent" && items[0].Attempts == 2
	})
}

func TestAppIOYourTurnOnAWaitingListOffer(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	slot := f.at(2026, 3, 11, 10, 0)
	holder, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slot, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	f.enableAppIO(t)
	j := f.join(t, 1, true)
	f.fake.SetProfile(j.Entry.Citizen.FiscalCode, true)
	if _, err := f.book.Cancel(ctx, bari, holder.Booking.Code, holder.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the offer on App IO", func() bool { return len(f.fake.Messages()) == 1 })
	m := f.fake.Messages()[0]
	if !strings.Contains(m.Subject, "È il tuo turno") || !strings.Contains(m.Markdown, "/lista-attesa/voce/"+j.Entry.ID) {
		t.Errorf("offer message: %q / %q", m.Subject, m.Markdown)
	}
	if due, err := time.Parse(time.RFC3339, m.DueDate); err != nil || !due.Equal(startTime.Add(DefaultOfferHold)) {
		t.Errorf("due date %q, want the offer's end %s", m.DueDate, startTime.Add(DefaultOfferHold))
	}
}

// TestChannelTextsComplete checks the waiting-list emails and App IO
// messages have every text in every language, and that each App IO
// message fits App IO's limits.
func TestChannelTextsComplete(t *testing.T) {
	t.Parallel()
	for _, lang := range Languages() {
		for name, v := range map[string]any{"waitLangs": waitLangs[lang], "appIOLangs": appIOLangs[lang]} {
			rv := reflect.ValueOf(v)
			for i := range rv.NumField() {
				if rv.Field(i).String() == "" {
					t.Errorf("%s[%s].%s is empty", name, lang, rv.Type().Field(i).Name)
				}
			}
		}
		for _, kind := range []AppIOKind{AppIOConfirm, AppIOReminder, AppIOOffer} {
			m := ComposeAppIO(AppIONotice{Kind: kind, Lang: lang, TenantName: "Comune di Bari", TimeZone: "Europe/Rome",
				ServiceName: "CIE", OfficeName: "Anagrafe", OfficeAddress: "Corso Vittorio Emanuele II 84",
				FiscalCode: "RSSMRA85T10A562S", Start: startTime, End: startTime.Add(30 * time.Minute), Due: startTime,
				Link: "https://bari.example.it/x"})
			if err := m.Check(); err != nil {
				t.Errorf("%s %s: %v", lang, kind, err)
			}
		}
	}
}
