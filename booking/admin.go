package booking

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// These checks guard what administrators save. They run both in the
// proposer, to answer with field messages before anything is proposed, and
// in apply, so a malformed command can never store a schedule that breaks
// slot computation.

// checkOffice validates an office as saved.
func checkOffice(o Office) error {
	f := map[string]string{}
	if !ValidID(o.ID) {
		f["id"] = "L'identificativo dell'ufficio deve avere da 1 a 64 caratteri tra lettere minuscole, cifre e trattini."
	}
	requireText(f, "name", o.Name, "Inserisci il nome dell'ufficio.")
	requireText(f, "address", o.Address, "Inserisci l'indirizzo dell'ufficio.")
	if o.Email != "" && !validEmail(o.Email) {
		f["email"] = "L'indirizzo email dell'ufficio non è valido."
	}
	if o.Phone != "" && !validPhone(o.Phone) {
		f["phone"] = "Il numero di telefono dell'ufficio non è valido."
	}
	checkWeek(f, "hours", o.Hours)
	return fieldsErr(f)
}

// checkService validates a service as saved.
func checkService(s Service) error {
	f := map[string]string{}
	if !ValidID(s.ID) {
		f["id"] = "L'identificativo del servizio deve avere da 1 a 64 caratteri tra lettere minuscole, cifre e trattini."
	}
	if s.OfficeID == "" {
		f["office_id"] = "Scegli l'ufficio che eroga il servizio."
	}
	requireText(f, "name", s.Name, "Inserisci il nome del servizio.")
	switch {
	case s.Duration < time.Minute || s.Duration > 8*time.Hour:
		f["duration"] = "La durata dell'appuntamento deve essere tra 1 minuto e 8 ore."
	case s.Duration%time.Minute != 0:
		f["duration"] = "La durata dell'appuntamento deve essere un numero intero di minuti."
	}
	if len(s.Channels) == 0 {
		f["channels"] = "Scegli almeno una modalità di svolgimento."
	}
	for i, c := range s.Channels {
		if c != InPerson && c != Video && c != Phone || slices.Index(s.Channels, c) != i {
			f["channels"] = "Le modalità ammesse sono: di persona, video, telefono (ognuna una volta)."
		}
	}
	if s.Capacity < 1 || s.Capacity > 1000 {
		f["capacity"] = "Il numero di sportelli deve essere tra 1 e 1000."
	}
	if s.MinNotice < 0 || s.MinNotice%time.Second != 0 {
		f["min_notice"] = "Il preavviso minimo non è valido."
	}
	if s.HorizonDays < 1 || s.HorizonDays > 366 {
		f["horizon_days"] = "Le prenotazioni devono essere aperte da 1 a 366 giorni in anticipo."
	}
	if s.CancelDeadline < 0 || s.CancelDeadline%time.Second != 0 {
		f["cancel_deadline"] = "Il termine per disdire non è valido."
	}
	if s.MaxActivePerCitizen < 0 {
		f["max_active_per_citizen"] = "Il numero massimo di prenotazioni per cittadino non può essere negativo."
	}
	checkWeek(f, "hours", s.Hours)
	return fieldsErr(f)
}

// checkClosure validates a closure as added.
func checkClosure(c Closure) error {
	f := map[string]string{}
	if !ValidID(c.ID) {
		f["id"] = "L'identificativo della chiusura deve avere da 1 a 64 caratteri tra lettere minuscole, cifre e trattini."
	}
	if c.From.IsZero() || c.To.IsZero() || !validDate(c.From.String()) || !validDate(c.To.String()) {
		f["from"] = "Indica il primo e l'ultimo giorno di chiusura."
	} else if c.To.Before(c.From) {
		f["to"] = "L'ultimo giorno di chiusura precede il primo."
	}
	requireText(f, "reason", c.Reason, "Indica il motivo della chiusura: lo vedranno i cittadini.")
	return fieldsErr(f)
}

// checkOpening validates an extra opening as added.
func checkOpening(o Opening) error {
	f := map[string]string{}
	if !ValidID(o.ID) {
		f["id"] = "L'identificativo dell'apertura deve avere da 1 a 64 caratteri tra lettere minuscole, cifre e trattini."
	}
	if o.OfficeID == "" {
		f["office_id"] = "Scegli l'ufficio."
	}
	if o.Date.IsZero() || !validDate(o.Date.String()) {
		f["date"] = "Indica il giorno dell'apertura straordinaria."
	}
	if len(o.Intervals) == 0 {
		f["intervals"] = "Indica almeno un orario di apertura."
	} else {
		checkIntervals(f, "intervals", o.Intervals)
	}
	return fieldsErr(f)
}

// checkWeek validates the intervals of every weekday.
func checkWeek(f map[string]string, key string, w Week) {
	for d, ivs := range w {
		checkIntervals(f, fmt.Sprintf("%s.%d", key, d), ivs)
	}
}

// checkIntervals requires 0 ≤ start < end ≤ 24:00 and no overlaps.
func checkIntervals(f map[string]string, key string, ivs []Interval) {
	sorted := slices.Clone(ivs)
	slices.SortFunc(sorted, func(a, b Interval) int { return a.Start - b.Start })
	for i, iv := range sorted {
		if iv.Start < 0 || iv.End > minutesPerDay || iv.Start >= iv.End {
			f[key] = "Ogni orario deve iniziare prima di finire, tra le 00:00 e le 24:00."
			return
		}
		if i > 0 && sorted[i-1].End > iv.Start {
			f[key] = "Gli orari si sovrappongono."
			return
		}
	}
}

// validDate reports whether s (as formatted by civil.Date) is a real date:
// civil.Date itself accepts 31 February.
func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

func requireText(f map[string]string, key, v, missing string) {
	switch {
	case strings.TrimSpace(v) == "":
		f[key] = missing
	case utf8.RuneCountInString(v) > 500 || hasControl(v, true):
		f[key] = "Il testo è troppo lungo o contiene caratteri non ammessi."
	}
}

func fieldsErr(f map[string]string) error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// ValidID reports whether id can name an office, service, closure or
// opening: 1 to 64 characters among a-z, 0-9 and "-", not starting with
// "-". IDs appear in page URLs (/servizi/{id}), so they stay readable and
// need no escaping.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
