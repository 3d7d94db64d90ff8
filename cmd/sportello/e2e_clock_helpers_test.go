package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The helpers of the tests that want an appointment within minutes (a
// video appointment checked in through the waiting room, the queue's
// due appointments) on an office open all day every day: what the
// calendar still changes for them.

// openAllDayOnHolidays gives the office of the Comune bari an extra
// opening of the whole day on today and tomorrow (in the Comune's zone)
// when either is a national holiday or one of the Comune's patron days:
// an office open every day is closed on those (booking's schedule), and a
// test that wants a slot within minutes would find none. It does nothing
// on other days; when it has to, it logs in an administrator made with
// the CLI on the node of dataDir and adds the openings on the back
// office.
func openAllDayOnHolidays(t *testing.T, p *proc, dataDir, host, officeID string) {
	t.Helper()
	var view struct {
		Tenant tenant.Tenant `json:"tenant"`
	}
	p.adminDo(t, "GET", "/v1/tenants/bari", nil, &view)
	today := civil.DateOf(time.Now().In(view.Tenant.Location()))
	var closed []civil.Date
	for _, d := range []civil.Date{today, today.AddDays(1)} {
		if shut, why := view.Tenant.ClosedOn(d); shut {
			t.Logf("%s is a holiday (%s): the office opens all day by an extra opening", d, why)
			closed = append(closed, d)
		}
	}
	if len(closed) == 0 {
		return
	}
	admin := privacyAdmin(t, p, dataDir, host, "aperture-festive")
	for _, d := range closed {
		r := mustGet(t, admin, "/gestione/chiusure", http.StatusOK)
		f := findForm(t, r.Body, "/gestione/aperture", `name="apertura-giorno"`)
		f.Values.Set("apertura-ufficio", officeID)
		f.Values.Set("apertura-giorno", d.String())
		f.Values.Set("apertura-orari", "00:00-24:00")
		f.Values.Set("apertura-motivo", "Apertura per le prove")
		mustPostForm(t, admin, f.Action, f.Values, http.StatusSeeOther)
	}
}

// waitForNewDayWithin sleeps past midnight in the Comune's zone (bari's,
// the default) when it is less than margin away: the appointments the
// caller is about to book must fall on the day the test runs through,
// as a booking is checked in on its own day only (queue.findBooking, the
// waiting room) and the queue's line is the day's.
func waitForNewDayWithin(t *testing.T, margin time.Duration) {
	t.Helper()
	loc, err := time.LoadLocation(tenant.DefaultTimeZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	y, m, d := now.Date()
	if left := time.Date(y, m, d+1, 0, 0, 0, 0, loc).Sub(now); left < margin {
		t.Logf("%v to midnight in %s: waiting for the new day", left.Round(time.Second), loc)
		time.Sleep(left + time.Second)
	}
}
