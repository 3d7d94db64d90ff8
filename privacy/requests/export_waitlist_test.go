package requests_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/privacy/requests"
)

// TestExportHoldsTheCitizensWaitingLists: a citizen's waiting-list
// entries (with the contacts they left, and the email that confirmed
// the entry) are in their export, by codice fiscale or by email, in the
// operator's and in the citizen's scope; another citizen's entry on the
// same list, and the same citizen's entry in another Comune, are not.
func TestExportHoldsTheCitizensWaitingLists(t *testing.T) {
	t.Parallel()
	ms, _ := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	p := newPeople(t)
	_, svcB := anagrafe(t, m, bari.ID)
	_, svcL := anagrafe(t, m, lecce.ID)
	join := func(tn, svc string, c booking.Citizen, days ...time.Weekday) booking.WaitEntry {
		t.Helper()
		tt := bari
		if tn == string(lecce.ID) {
			tt = lecce
		}
		j, err := m.book.JoinWaitlist(ctx, tt, booking.WaitRequest{ServiceID: svc, Citizen: c, Days: days, PrivacyAccepted: true},
			"https://"+tn+".example.it")
		if err != nil {
			t.Fatalf("JoinWaitlist %s: %v", c.Email, err)
		}
		return j.Entry
	}
	maria := p.maria
	maria.Phone = "3331234567"
	mine := join("bari", svcB.ID, maria, time.Tuesday, time.Thursday)
	other := join("bari", svcB.ID, p.mario)
	elsewhere := join("lecce", svcL.ID, p.maria)

	check := func(name string, ex requests.Export) {
		t.Helper()
		if len(ex.Waitlist) != 1 {
			t.Fatalf("%s: %d waiting-list entries, want Maria's one: %+v", name, len(ex.Waitlist), ex.Waitlist)
		}
		w := ex.Waitlist[0]
		if w.ID != mine.ID || w.ServiceID != svcB.ID || w.Service != svcB.Name || w.GivenName != "Maria" ||
			w.FamilyName != "Rossi" || w.Email != maria.Email || w.Phone != maria.Phone || w.Status != "waiting" ||
			strings.Join(w.Days, ",") != "tuesday,thursday" || w.Joined.IsZero() {
			t.Errorf("%s: entry %+v", name, w)
		}
		raw, err := json.Marshal(ex)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{other.ID, elsewhere.ID} {
			if strings.Contains(string(raw), id) {
				t.Errorf("%s: the export names another entry, %s", name, id)
			}
		}
		if strings.Contains(string(raw), p.mario.FiscalCode) || strings.Contains(string(raw), p.mario.Email) {
			t.Errorf("%s: the export holds Mario's data", name)
		}
		if !strings.Contains(string(raw), `"waiting_lists":[`) {
			t.Errorf("%s: no waiting_lists in the JSON", name)
		}
		found := false
		for _, e := range ex.Emails {
			found = found || e.Record == "waitlist:"+mine.ID
		}
		if !found {
			t.Errorf("%s: the entry's email is not among the emails: %+v", name, ex.Emails)
		}
	}
	ex, err := m.ex.Export(ctx, bari, requests.Subject{FiscalCode: maria.FiscalCode}, requests.ScopeOperator)
	if err != nil {
		t.Fatal(err)
	}
	check("by codice fiscale", ex)
	ex, err = m.ex.Export(ctx, bari, requests.Subject{Email: "  MARIA.Rossi@example.it "}, requests.ScopeCitizen)
	if err != nil {
		t.Fatal(err)
	}
	check("citizen, by email", ex)
	// Nobody's export lists entries when the subject has none.
	ex, err = m.ex.Export(ctx, bari, requests.Subject{Email: "nessuno@example.it"}, requests.ScopeCitizen)
	if err != nil || ex.Waitlist == nil || len(ex.Waitlist) != 0 {
		t.Errorf("export of someone on no list: %+v, %v", ex.Waitlist, err)
	}
}
