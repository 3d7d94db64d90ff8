package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// fairForm is the service form's fair-access fields as typed (issue 11).
type fairForm struct {
	MaxEmail, MaxPhone, Proof string
	ConfirmFrom, ConfirmBy    string
	ReleaseDays, ReleaseAt    string
}

// fairFormOf writes settings as the form shows them; off is "0" and an
// empty time.
func fairFormOf(s booking.FairSettings) fairForm {
	f := fairForm{
		MaxEmail: strconv.Itoa(s.MaxActivePerEmail), MaxPhone: strconv.Itoa(s.MaxActivePerPhone),
		Proof: strconv.Itoa(s.ProofOfWork), ConfirmFrom: hoursText(s.ConfirmFrom), ConfirmBy: hoursText(s.ConfirmBy),
		ReleaseDays: strconv.Itoa(s.ReleaseDaysAhead),
	}
	if s.ReleaseDaysAhead > 0 {
		f.ReleaseAt = fmt.Sprintf("%02d:%02d", s.ReleaseAt/60, s.ReleaseAt%60)
	}
	return f
}

func readFairForm(get func(string) string) fairForm {
	return fairForm{
		MaxEmail: get(fsMaxEmail), MaxPhone: get(fsMaxPhone), Proof: get(fsProof),
		ConfirmFrom: get(fsConfirmFrom), ConfirmBy: get(fsConfirmBy),
		ReleaseDays: get(fsReleaseDays), ReleaseAt: get(fsReleaseAtMin),
	}
}

// parse reads the settings, setting fe for what is not a number or a time;
// an empty field is "off".
func (f fairForm) parse(fe formErrors) booking.FairSettings {
	s := booking.FairSettings{
		MaxActivePerEmail: fe.parseCount(fsMaxEmail, f.MaxEmail, 0),
		MaxActivePerPhone: fe.parseCount(fsMaxPhone, f.MaxPhone, 0),
		ProofOfWork:       fe.parseCount(fsProof, f.Proof, 0),
		ConfirmFrom:       fe.parseHours(fsConfirmFrom, f.ConfirmFrom),
		ConfirmBy:         fe.parseHours(fsConfirmBy, f.ConfirmBy),
		ReleaseDaysAhead:  fe.parseCount(fsReleaseDays, f.ReleaseDays, 0),
	}
	if at := strings.TrimSpace(f.ReleaseAt); at != "" {
		t, err := time.Parse("15:04", strings.ReplaceAll(at, ".", ":"))
		if err != nil {
			fe[fsReleaseAtMin] = "Scrivi l'ora come 08:00."
		} else {
			s.ReleaseAt = t.Hour()*60 + t.Minute()
		}
	} else if s.ReleaseDaysAhead > 0 {
		fe[fsReleaseAtMin] = "Indica a che ora si pubblicano i nuovi orari, per esempio 08:00."
	}
	return s
}

// fields are the form's fair-access inputs.
func (f fairForm) fields(fe formErrors) []field {
	return []field{
		{ID: fsMaxEmail, Label: "Prenotazioni attive per indirizzo email", Type: "number", Min: "0", Value: f.MaxEmail, Error: fe[fsMaxEmail],
			Help: "Quante prenotazioni future dello stesso servizio possono usare lo stesso indirizzo email, anche con codici fiscali diversi; 0 per nessun limite."},
		{ID: fsMaxPhone, Label: "Prenotazioni attive per numero di telefono", Type: "number", Min: "0", Value: f.MaxPhone, Error: fe[fsMaxPhone],
			Help: "Come sopra, per il numero di telefono; 0 per nessun limite."},
		{ID: fsProof, Label: "Verifica anti-abuso (difficoltà)", Type: "number", Min: "0", Value: f.Proof, Error: fe[fsProof],
			Help: fmt.Sprintf("Un piccolo calcolo che il browser del cittadino svolge mentre compila il modulo, e che rende costose le prenotazioni automatiche; nessun CAPTCHA. 0 la spegne; 18 richiede circa un secondo su un telefono, il massimo è %d.", booking.MaxProofBits)},
		{ID: fsConfirmFrom, Label: "Conferma: si apre (ore prima dell'appuntamento)", Type: "text", Value: f.ConfirmFrom, Error: fe[fsConfirmFrom],
			Help: "Per esempio 72: da tre giorni prima il cittadino può confermare con il link ricevuto."},
		{ID: fsConfirmBy, Label: "Conferma: scade (ore prima dell'appuntamento)", Type: "text", Value: f.ConfirmBy, Error: fe[fsConfirmBy],
			Help: "Per esempio 24: un appuntamento non confermato entro un giorno prima viene liberato per altri cittadini. 0 non chiede conferma."},
		{ID: fsReleaseDays, Label: "Pubblicazione scaglionata (giorni di anticipo)", Type: "number", Min: "0", Value: f.ReleaseDays, Error: fe[fsReleaseDays],
			Help: "Per esempio 30: ogni giorno si pubblicano gli orari del giorno che cade fra 30 giorni, invece che tutti insieme. 0 pubblica tutto subito."},
		{ID: fsReleaseAtMin, Label: "Ora di pubblicazione", Type: "text", Value: f.ReleaseAt, Error: fe[fsReleaseAtMin],
			Help: "A che ora si pubblicano i nuovi orari, per esempio 08:00."},
	}
}
