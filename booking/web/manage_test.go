package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

func TestManagePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari

	t.Run("show", func(t *testing.T) {
		c := e.create(t, b, b.InPerson, slot(2, 10, 0), booking.InPerson, citizen(1))
		r := e.get(bariHost, booking.ManagePath(c.Booking.Code, c.ManageToken))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Il tuo appuntamento", c.Booking.Code, "Martedì 2 marzo 2027, dalle 10:00 alle 10:30",
			b.InPerson.Name, b.Office.Name, "Puoi spostare o annullare l'appuntamento fino a lunedì 1 marzo 2027 ore 10:00")
		wantNoText(t, r.Body, "Appuntamento confermato", "Collegamento all'appuntamento")
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
	})
	t.Run("video booking shows its join link", func(t *testing.T) {
		c := e.create(t, b, b.Remote, slot(2, 10, 0), booking.Video, citizen(2))
		r := e.get(bariHost, booking.ManagePath(c.Booking.Code, c.ManageToken)+"&confermato=1")
		wantStatus(t, r, http.StatusOK)
		join := "http://" + bariHost + booking.JoinPath(c.Booking.Code, c.Booking.JoinToken)
		if !strings.Contains(r.Body, `href="`+join+`"`) {
			t.Errorf("confirmation lacks the join link %s", join)
		}
		wantText(t, r.Body, "Appuntamento confermato", "In videochiamata", "Cosa tenere a portata di mano")
	})
	t.Run("wrong or missing token", func(t *testing.T) {
		c := e.create(t, b, b.OtherService, slot(2, 10, 0), booking.InPerson, citizen(3))
		for _, target := range []string{
			booking.ManagePath(c.Booking.Code, "sbagliato"),
			"/prenotazioni/" + c.Booking.Code,
			booking.ManagePath("BA-ZZZZZZ", c.ManageToken),
			bookingPath(c.Booking.Code, "calendario.ics", "sbagliato"),
			bookingPath(c.Booking.Code, "annulla", "sbagliato"),
			bookingPath(c.Booking.Code, "sposta", "sbagliato"),
		} {
			r := e.get(bariHost, target)
			if r.Status != http.StatusNotFound {
				t.Errorf("GET %s: got %d, want 404", target, r.Status)
			}
			if strings.Contains(r.Body, "Mario") {
				t.Errorf("GET %s shows the citizen's name", target)
			}
		}
		r := e.postForm(bariHost, "/prenotazioni/"+c.Booking.Code+"/annulla", url.Values{"token": {"sbagliato"}})
		wantStatus(t, r, http.StatusNotFound)
		if got, _ := e.book.Get(t.Context(), "bari", c.Booking.Code, c.ManageToken); got.Status != booking.Active {
			t.Errorf("booking changed by a wrong token: %s", got.Status)
		}
	})
	t.Run("cancel with a confirmation step", func(t *testing.T) {
		c := e.create(t, b, b.InPerson, slot(3, 10, 0), booking.InPerson, citizen(4))
		show := e.get(bariHost, booking.ManagePath(c.Booking.Code, c.ManageToken))
		cancelURL := bookingPath(c.Booking.Code, "annulla", c.ManageToken)
		if !strings.Contains(show.Body, `href="`+strings.ReplaceAll(cancelURL, "&", "&amp;")+`"`) {
			t.Fatalf("booking page lacks the link %s", cancelURL)
		}
		r := e.get(bariHost, cancelURL)
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Vuoi davvero annullare questo appuntamento?")
		if got, _ := e.book.Get(t.Context(), "bari", c.Booking.Code, c.ManageToken); got.Status != booking.Active {
			t.Fatalf("GET cancelled the booking")
		}
		f := findForm(t, r.Body, "/prenotazioni/"+c.Booking.Code+"/annulla", "")
		r = e.advance(bariHost, f, "")
		wantStatus(t, r, http.StatusSeeOther)
		if want := manageURL(c.Booking.Code, c.ManageToken, "annullato"); r.Header.Get("Location") != want {
			t.Errorf("redirect: got %q, want %q", r.Header.Get("Location"), want)
		}
		got, _ := e.book.Get(t.Context(), "bari", c.Booking.Code, c.ManageToken)
		if got.Status != booking.Cancelled {
			t.Fatalf("status: got %s, want cancelled", got.Status)
		}
		r = e.get(bariHost, r.Header.Get("Location"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Appuntamento annullato", c.Booking.Citizen.Email)
		wantNoText(t, r.Body, "Sposta appuntamento")
		ics := e.get(bariHost, bookingPath(c.Booking.Code, "calendario.ics", c.ManageToken))
		if !strings.Contains(ics.Body, "METHOD:CANCEL") {
			t.Errorf("calendar of a cancelled booking lacks METHOD:CANCEL:\n%s", ics.Body)
		}
		// Again: already cancelled.
		r = e.advance(bariHost, f, "")
		wantStatus(t, r, http.StatusConflict)
		wantText(t, r.Body, "L'appuntamento è già stato annullato")
	})
	t.Run("move", func(t *testing.T) {
		c := e.create(t, b, b.Remote, slot(4, 10, 0), booking.InPerson, citizen(5))
		r := e.get(bariHost, bookingPath(c.Booking.Code, "sposta", c.ManageToken))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Sposta appuntamento", "Giovedì 4 marzo 2027, dalle 10:00 alle 10:20", "marzo 2027", "aprile 2027")
		f := findForm(t, r.Body, "/prenotazioni/"+c.Booking.Code+"/sposta", `name="inizio"`)
		if contains(f.Radios["inizio"], slot(4, 10, 0).Format(time.RFC3339)) {
			t.Errorf("the current slot is offered as a new one")
		}
		// Month links keep the token.
		r2 := e.get(bariHost, bookingPath(c.Booking.Code, "sposta", c.ManageToken)+"&mese=2027-04")
		wantStatus(t, r2, http.StatusOK)
		wantText(t, r2.Body, "Orari liberi di aprile 2027")
		// An error keeps the month shown.
		f2 := findForm(t, r2.Body, "/prenotazioni/"+c.Booking.Code+"/sposta", `name="inizio"`)
		r2 = e.advance(bariHost, f2, "")
		wantStatus(t, r2, http.StatusUnprocessableEntity)
		wantText(t, r2.Body, "Orari liberi di aprile 2027")

		// No slot chosen.
		r = e.advance(bariHost, f, "")
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "inizio", "Scegli il nuovo orario")

		f.Values.Set("inizio", slot(5, 11, 0).Format(time.RFC3339))
		r = e.advance(bariHost, f, "")
		wantStatus(t, r, http.StatusSeeOther)
		r = e.get(bariHost, r.Header.Get("Location"))
		wantText(t, r.Body, "Appuntamento spostato", "Venerdì 5 marzo 2027, dalle 11:00 alle 11:20")

		// A slot that is not one.
		f.Values.Set("inizio", slot(6, 11, 0).Format(time.RFC3339)) // Saturday
		r = e.advance(bariHost, f, "")
		if r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("move to Saturday: got %d, want 422", r.Status)
		}
		wantFieldError(t, r.Body, "inizio", "")
	})
	t.Run("move to a full slot", func(t *testing.T) {
		c := e.create(t, b, b.InPerson, slot(8, 10, 0), booking.InPerson, citizen(6))
		e.create(t, b, b.InPerson, slot(8, 11, 0), booking.InPerson, citizen(7))
		r := e.postForm(bariHost, "/prenotazioni/"+c.Booking.Code+"/sposta", url.Values{
			"token": {c.ManageToken}, "inizio": {slot(8, 11, 0).Format(time.RFC3339)}})
		wantStatus(t, r, http.StatusConflict)
		wantFieldError(t, r.Body, "inizio", "non è più disponibile")
	})
	t.Run("past the cancellation deadline", func(t *testing.T) {
		e := newEnv(t)
		b := e.bari
		c := e.create(t, b, b.InPerson, slot(3, 10, 0), booking.InPerson, validCitizen)
		e.clock.Set(slot(2, 11, 0)) // 23 hours before; the deadline is 24.
		r := e.get(bariHost, booking.ManagePath(c.Booking.Code, c.ManageToken))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Non è più possibile spostare o annullare l'appuntamento online")
		wantNoText(t, r.Body, "Sposta appuntamento")
		r = e.postForm(bariHost, "/prenotazioni/"+c.Booking.Code+"/annulla", url.Values{"token": {c.ManageToken}})
		wantStatus(t, r, http.StatusConflict)
		wantText(t, r.Body, "il termine è scaduto")
		r = e.postForm(bariHost, "/prenotazioni/"+c.Booking.Code+"/sposta", url.Values{
			"token": {c.ManageToken}, "inizio": {slot(4, 10, 0).Format(time.RFC3339)}})
		wantStatus(t, r, http.StatusConflict)
		if got, _ := e.book.Get(t.Context(), "bari", c.Booking.Code, c.ManageToken); got.Status != booking.Active || !got.Start.Equal(slot(3, 10, 0)) {
			t.Errorf("booking changed past the deadline: %+v", got)
		}
	})
}

func TestServicePages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari

	r := e.get(bariHost, "/servizi")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, "Servizi", "Anagrafe e stato civile", "Catasto e urbanistica", b.InPerson.Name, b.Remote.Name, b.OtherService.Name)
	if !strings.Contains(r.Body, `href="/servizi/`+b.InPerson.ID+`"`) {
		t.Errorf("service list lacks the link to the service")
	}
	wantNoText(t, r.Body, "Comune di Lecce")

	r = e.get(bariHost, "/servizi/"+b.Remote.ID)
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, b.Remote.Name, "Cosa serve", "Un documento d'identità", "In presenza", "In videochiamata", "Al telefono",
		"Durata dell'appuntamento: 20 minuti", b.Office.Address)
	if n := strings.Count(r.Body, `data-element="service-booking-access"`); n != 1 {
		t.Errorf("service-booking-access: got %d, want 1", n)
	}

	r = e.get(bariHost, "/uffici")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, b.Office.Name, b.Other.Name, b.Office.Address, "lunedì 09:00–12:00", "sabato chiuso", b.InPerson.Name)

	r = e.get(bariHost, "/servizi/nessuno")
	wantStatus(t, r, http.StatusNotFound)

	r = e.get(bariHost, "/prenota")
	wantStatus(t, r, http.StatusOK)
	wantText(t, r.Body, b.Office.Name, b.Other.Name, b.OtherService.Name, "Orari di apertura")
}
