package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// flowState returns the form values of a complete, valid booking of svc.
func flowState(svc booking.Service, start time.Time) url.Values {
	return url.Values{
		"servizio": {svc.ID}, "inizio": {start.Format(time.RFC3339)}, "canale": {"in_person"},
		"dettagli": {"Nessuna nota"}, "nome": {"Mario"}, "cognome": {"Rossi"},
		"codice_fiscale": {"RSSMRA85T10A562S"}, "email": {"mario.rossi@example.org"}, "privacy": {"1"},
	}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

// wantFieldError checks that the page shows msg next to the field id, that
// the field points to it with aria-describedby, and that the summary at the
// top links to the field.
func wantFieldError(t *testing.T, page, id, msg string) {
	t.Helper()
	errID := id + "-errore"
	el := elementByID(page, errID)
	if el == "" {
		t.Fatalf("no element #%s on page:\n%s", errID, page)
	}
	i := strings.Index(page, el)
	if rest := page[i:]; !strings.Contains(text(rest[:strings.Index(rest, "</div>")]), msg) {
		t.Errorf("#%s: want message containing %q, got %q", errID, msg, text(rest[:strings.Index(rest, "</div>")]))
	}
	field := elementByID(page, id)
	if !strings.Contains(attrs(field)["aria-describedby"], errID) {
		t.Errorf("#%s: aria-describedby lacks %s: %s", id, errID, field)
	}
	if !strings.Contains(page, `<a href="#`+id+`">`) {
		t.Errorf("error summary lacks a link to #%s", id)
	}
}

func TestFlowErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	good := flowState(svc, slot(2, 10, 0))

	t.Run("step 1 without a service", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", url.Values{"passo": {"1"}, "vai": {"2"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "1/5", "Scegli il servizio.")
		wantFieldError(t, r.Body, "servizio", "Scegli il servizio.")
	})
	t.Run("step 1 with another Comune's service", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", url.Values{"passo": {"1"}, "vai": {"2"}, "servizio": {e.lecce.InPerson.ID}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "servizio", "non è disponibile")
		wantNoText(t, r.Body, e.lecce.Office.Name)
	})
	t.Run("step 2 without a slot", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "2", "vai", "3", "inizio", ""))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "2/5")
		wantFieldError(t, r.Body, "inizio", "Scegli la data e l'orario")
	})
	t.Run("step 2 with a malformed slot", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "2", "vai", "3", "inizio", "domani"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "inizio", "non è valido")
	})
	t.Run("step 3 with a channel the service lacks", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "3", "vai", "4", "canale", "video", "dettagli", "tenuto"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "3/5")
		wantFieldError(t, r.Body, "canale", "non offre la modalità")
		if !strings.Contains(r.Body, ">tenuto</textarea>") {
			t.Errorf("details not kept")
		}
	})
	t.Run("step 3 with details too long", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "3", "vai", "4", "dettagli", strings.Repeat("à", 201)))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "dettagli", "al massimo 200 caratteri")
	})
	t.Run("step 4 errors next to fields with the data kept", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "4", "vai", "5",
			"nome", "", "codice_fiscale", "RSSMRA85T10A562X", "email", "mario@", "telefono", "abc"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "4/5", "Controlla i dati inseriti")
		wantFieldError(t, r.Body, "nome", "Inserisci il nome.")
		wantFieldError(t, r.Body, "codice_fiscale", "Il codice fiscale non è valido")
		wantFieldError(t, r.Body, "email", "L'indirizzo email non è valido")
		wantFieldError(t, r.Body, "telefono", "Il numero di telefono non è valido")
		f := findForm(t, r.Body, "/prenota", `name="nome"`)
		for k, want := range map[string]string{"cognome": "Rossi", "codice_fiscale": "RSSMRA85T10A562X", "email": "mario@", "telefono": "abc"} {
			if got := f.Values.Get(k); got != want {
				t.Errorf("%s kept: got %q, want %q", k, got, want)
			}
		}
		if el := elementByID(r.Body, "cognome"); strings.Contains(el, "aria-invalid") {
			t.Errorf("valid field marked invalid: %s", el)
		}
		// The earlier steps' choices ride along.
		if f.Values.Get("servizio") != svc.ID || f.Values.Get("inizio") == "" || f.Values.Get("dettagli") != "Nessuna nota" {
			t.Errorf("state lost: %v", f.Values)
		}
	})
	t.Run("phone required for a phone call", func(t *testing.T) {
		remote := e.bari.Remote
		r := e.postForm(bariHost, "/prenota", with(flowState(remote, slot(2, 10, 0)), "canale", "phone", "passo", "4", "vai", "5"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "telefono", "Inserisci il numero di telefono")
	})
	t.Run("step 5 without privacy", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenotazioni", with(good, "passo", "5", "privacy", ""))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "5/5", "Mario", "Rossi")
		wantFieldError(t, r.Body, "privacy", "informativa")
	})
	t.Run("a forged jump forward shows the first step with errors", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "1", "vai", "5", "email", ""))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "4/5")
		wantFieldError(t, r.Body, "email", "Inserisci l'indirizzo email")
	})
	t.Run("back keeps what was typed without validating", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "4", "vai", "3", "nome", "Maria", "email", "sbagliata"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "3/5")
		f := findForm(t, r.Body, "/prenota", `name="dettagli"`)
		if f.Values.Get("nome") != "Maria" || f.Values.Get("email") != "sbagliata" {
			t.Errorf("typed data lost going back: %v", f.Values)
		}
	})
	t.Run("Modifica from the summary", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "5", "vai", "2"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "2/5")
		f := findForm(t, r.Body, "/prenota", `name="inizio"`)
		if f.Values.Get("inizio") != slot(2, 10, 0).Format(time.RFC3339) {
			t.Errorf("chosen slot not checked: %v", f.Values)
		}
		if f.Values.Get("nome") != "Mario" {
			t.Errorf("applicant lost: %v", f.Values)
		}
	})
	t.Run("month selector", func(t *testing.T) {
		remote := flowState(e.bari.Remote, slot(2, 10, 0))
		r := e.postForm(bariHost, "/prenota", with(remote, "passo", "2", "mese", "2027-03"))
		wantStatus(t, r, http.StatusOK)
		mf := findForm(t, r.Body, "/prenota", `name="mese"`)
		if mf.Values.Get("nome") != "Mario" || mf.Values.Get("inizio") == "" {
			t.Errorf("month form lacks the state: %v", mf.Values)
		}
		for _, m := range []string{`value="2027-03"`, `value="2027-04"`} {
			if !strings.Contains(r.Body, `name="mese" `+m) {
				t.Errorf("month button %s missing", m)
			}
		}
		if strings.Contains(r.Body, `value="2027-05"`) {
			t.Errorf("May offered past the 60-day horizon")
		}
		r = e.postForm(bariHost, "/prenota", with(remote, "passo", "2", "mese", "2027-04"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Orari liberi di aprile 2027", "Giovedì 1 aprile 2027", "Venerdì 30 aprile 2027")
		wantNoText(t, r.Body, "Martedì 2 marzo 2027")
		// The 30-day horizon of the other service ends on 31 March.
		r = e.postForm(bariHost, "/prenota", with(good, "passo", "2", "mese", "2027-04"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Orari liberi di marzo 2027")
		if strings.Contains(r.Body, `value="2027-04"`) {
			t.Errorf("April offered past the 30-day horizon")
		}
	})
	t.Run("Easter Monday is closed", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenota", with(good, "passo", "1", "vai", "2"))
		wantStatus(t, r, http.StatusOK)
		wantText(t, r.Body, "Venerdì 26 marzo 2027", "Martedì 30 marzo 2027")
		wantNoText(t, r.Body, "29 marzo")
	})
	t.Run("unknown preselected service", func(t *testing.T) {
		r := e.get(bariHost, "/prenota?servizio=nessuno")
		wantStatus(t, r, http.StatusNotFound)
		wantText(t, r.Body, "non è disponibile", e.bari.Office.Name, e.bari.Other.Name)
	})
}

// TestFlowCreateConflicts covers what can go wrong once "Invia" is pressed.
func TestFlowCreateConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.bari.InPerson
	other := booking.Citizen{GivenName: "Anna", FamilyName: "Bianchi", FiscalCode: "MRARSS80A01H501T", Email: "anna@example.org"}
	e.create(t, e.bari, svc, slot(3, 10, 0), booking.InPerson, other)

	t.Run("slot taken meanwhile", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenotazioni", flowState(svc, slot(3, 10, 0)))
		wantStatus(t, r, http.StatusConflict)
		wantText(t, r.Body, "2/5")
		wantFieldError(t, r.Body, "inizio", "non è più disponibile")
		f := findForm(t, r.Body, "/prenota", `name="inizio"`)
		if f.Values.Get("nome") != "Mario" {
			t.Errorf("data lost: %v", f.Values)
		}
	})
	t.Run("inside the notice", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenotazioni", flowState(svc, slot(1, 9, 0)))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantText(t, r.Body, "2/5")
		wantFieldError(t, r.Body, "inizio", "troppo vicino")
	})
	t.Run("not a slot", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenotazioni", flowState(svc, slot(2, 10, 7)))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		wantFieldError(t, r.Body, "inizio", "")
	})
	t.Run("already booked", func(t *testing.T) {
		r := e.postForm(bariHost, "/prenotazioni", flowState(svc, slot(4, 10, 0)))
		wantStatus(t, r, http.StatusSeeOther)
		r = e.postForm(bariHost, "/prenotazioni", flowState(svc, slot(5, 10, 0)))
		wantStatus(t, r, http.StatusConflict)
		wantText(t, r.Body, "5/5", "Hai già una prenotazione attiva per questo servizio")
	})
	t.Run("rate limited", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.RateLimit = RateLimit{PerMinute: 1, Burst: 1} })
		r := e.postForm(bariHost, "/prenotazioni", flowState(e.bari.InPerson, slot(2, 10, 0)))
		wantStatus(t, r, http.StatusSeeOther)
		r = e.postForm(bariHost, "/prenotazioni", flowState(e.bari.Remote, slot(2, 10, 0)))
		wantStatus(t, r, http.StatusTooManyRequests)
		if ra := r.Header.Get("Retry-After"); ra != "60" {
			t.Errorf("Retry-After: got %q, want 60", ra)
		}
		wantText(t, r.Body, "5/5", "Troppe prenotazioni", "Mario")
	})
}
