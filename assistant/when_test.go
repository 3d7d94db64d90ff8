package assistant

import (
	"testing"
	"time"
)

func rome(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseWhen(t *testing.T) {
	loc := rome(t)
	at := func(s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		x, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	// Wednesday 25 November 2026, 10:00 in Rome.
	wed := "2026-11-25 10:00"
	for _, c := range []struct {
		now, text, from, to string
		earliest            bool
	}{
		{wed, "oggi", "2026-11-25 10:00", "2026-11-26 00:00", false},
		{wed, "domani", "2026-11-26 00:00", "2026-11-27 00:00", false},
		{wed, "dopodomani", "2026-11-27 00:00", "2026-11-28 00:00", false},
		{wed, "domani mattina", "2026-11-26 09:00", "2026-11-26 13:00", false},
		{wed, "Domani pomeriggio", "2026-11-26 14:00", "2026-11-26 18:00", false},
		{wed, "stasera", "2026-11-25 18:00", "2026-11-25 21:00", false},
		{wed, "nel pomeriggio", "2026-11-25 14:00", "2026-11-25 18:00", false},
		{wed, "in serata", "2026-11-25 18:00", "2026-11-25 21:00", false},
		{wed, "lunedì prossimo", "2026-11-30 00:00", "2026-12-01 00:00", false},
		{wed, "lunedi prossimo", "2026-11-30 00:00", "2026-12-01 00:00", false},
		{wed, "questo venerdì", "2026-11-27 00:00", "2026-11-28 00:00", false},
		{wed, "venerdì", "2026-11-27 00:00", "2026-11-28 00:00", false},
		{wed, "venerdì prossimo", "2026-12-04 00:00", "2026-12-05 00:00", false},
		{wed, "il prossimo venerdì", "2026-12-04 00:00", "2026-12-05 00:00", false},
		{wed, "mercoledì", "2026-11-25 10:00", "2026-11-26 00:00", false},
		{wed, "il 3 dicembre", "2026-12-03 00:00", "2026-12-04 00:00", false},
		{wed, "3/12", "2026-12-03 00:00", "2026-12-04 00:00", false},
		{wed, "3 dic", "2026-12-03 00:00", "2026-12-04 00:00", false},
		{wed, "il 3 dicembre dopo le 15", "2026-12-03 15:00", "2026-12-04 00:00", false},
		{wed, "prima delle 11", "2026-11-25 10:00", "2026-11-25 11:00", false},
		{wed, "alle 10 e mezza", "2026-11-25 10:30", "2026-11-25 11:00", false},
		{wed, "verso le 10", "2026-11-25 10:00", "2026-11-25 10:30", false},
		{wed, "la settimana prossima", "2026-11-30 00:00", "2026-12-07 00:00", false},
		{wed, "fra due giorni", "2026-11-27 00:00", "2026-11-28 00:00", false},
		{wed, "tra 2 giorni", "2026-11-27 00:00", "2026-11-28 00:00", false},
		{wed, "entro fine mese", "2026-11-25 10:00", "2026-12-01 00:00", true},
		{wed, "entro la fine del mese", "2026-11-25 10:00", "2026-12-01 00:00", true},
		{wed, "il prima possibile", "2026-11-25 10:00", "", true},
		{wed, "appena possibile grazie", "2026-11-25 10:00", "", true},
		{wed, "domani alle 3", "2026-11-26 15:00", "2026-11-26 15:30", false},
		{wed, "domani alle 9", "2026-11-26 09:00", "2026-11-26 09:30", false},
		{wed, "giovedì dalle 10 alle 12", "2026-11-26 10:00", "2026-11-26 12:00", false},
		{wed, "lunedì tra le 10 e le 12", "2026-11-30 10:00", "2026-11-30 12:00", false},
		{"2026-12-15 10:00", "il 3 gennaio", "2027-01-03 00:00", "2027-01-04 00:00", false},
		{"2026-12-15 10:00", "3/1", "2027-01-03 00:00", "2027-01-04 00:00", false},
		{wed, "il 20", "2026-12-20 00:00", "2026-12-21 00:00", false},
		{wed, "lunedì 30 novembre alle 11", "2026-11-30 11:00", "2026-11-30 11:30", false},
		{wed, "3/12/2027", "2027-12-03 00:00", "2027-12-04 00:00", false},
		{wed, "entro venerdì", "2026-11-25 10:00", "2026-11-28 00:00", true},
		{wed, "alle 11 meno un quarto", "2026-11-25 10:45", "2026-11-25 11:15", false},
		{wed, "tra una settimana", "2026-12-02 00:00", "2026-12-03 00:00", false},
		{wed, "il mese prossimo", "2026-12-01 00:00", "2027-01-01 00:00", false},
		{wed, "giovedì alle 10:30", "2026-11-26 10:30", "2026-11-26 11:00", false},
		{wed, "giovedi alle 10.30", "2026-11-26 10:30", "2026-11-26 11:00", false},
		{wed, "alle 9", "2026-11-26 09:00", "2026-11-26 09:30", false},
		{wed, "a mezzogiorno", "2026-11-25 12:00", "2026-11-25 12:30", false},
		{wed, "lunedì della settimana prossima", "2026-11-30 00:00", "2026-12-01 00:00", false},
		{wed, "il primo dicembre", "2026-12-01 00:00", "2026-12-02 00:00", false},
		{wed, "domani verso le 11", "2026-11-26 10:30", "2026-11-26 11:30", false},
		{wed, "sabato mattina", "2026-11-28 09:00", "2026-11-28 13:00", false},
		{wed, "domani dopo le 15", "2026-11-26 15:00", "2026-11-27 00:00", false},
		{wed, "domani alle dieci e mezza", "2026-11-26 10:30", "2026-11-26 11:00", false},
		{wed, "venerdì alle 4 del pomeriggio", "2026-11-27 16:00", "2026-11-27 16:30", false},
		{wed, "il 10 dicembre 2026 alle ore 9", "2026-12-10 09:00", "2026-12-10 09:30", false},
		// English fallback.
		{wed, "tomorrow morning", "2026-11-26 09:00", "2026-11-26 13:00", false},
		{wed, "next monday at 10", "2026-11-30 10:00", "2026-11-30 10:30", false},
		{wed, "friday afternoon", "2026-11-27 14:00", "2026-11-27 18:00", false},
		{wed, "as soon as possible", "2026-11-25 10:00", "", true},
		{wed, "3 december after 3", "2026-12-03 15:00", "2026-12-04 00:00", false},
		// Summer time starts on Sunday 29 March 2026, ends on Sunday 25
		// October 2026: wall-clock times stay wall-clock times.
		{"2026-03-28 11:00", "domani alle 10", "2026-03-29 10:00", "2026-03-29 10:30", false},
		{"2026-03-28 11:00", "lunedì", "2026-03-30 00:00", "2026-03-31 00:00", false},
		{"2026-10-24 11:00", "domani alle 10", "2026-10-25 10:00", "2026-10-25 10:30", false},
		{"2026-10-23 15:00", "fra due giorni alle 9", "2026-10-25 09:00", "2026-10-25 09:30", false},
	} {
		t.Run(c.now+" "+c.text, func(t *testing.T) {
			got, ok := ParseWhen(c.text, at(c.now), loc)
			if !ok {
				t.Fatalf("ParseWhen(%q) not understood, want %s–%s", c.text, c.from, c.to)
			}
			if !got.From.Equal(at(c.from)) || !got.To.Equal(at(c.to)) || got.Earliest != c.earliest {
				t.Errorf("ParseWhen(%q) = %s–%s earliest %v, want %s–%s earliest %v", c.text,
					got.From.In(loc).Format("2006-01-02 15:04"), fmtOrZero(got.To, loc), got.Earliest, c.from, c.to, c.earliest)
			}
		})
	}
}

func fmtOrZero(x time.Time, loc *time.Location) string {
	if x.IsZero() {
		return ""
	}
	return x.In(loc).Format("2006-01-02 15:04")
}

func TestParseWhenNothing(t *testing.T) {
	loc := rome(t)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, loc)
	for _, q := range []string{
		"vorrei un appuntamento per la carta d'identità",
		"ho cambiato casa",
		"grazie",
		"",
	} {
		if w, ok := ParseWhen(q, now, loc); ok {
			t.Errorf("ParseWhen(%q) = %+v, want not understood", q, w)
		}
	}
}

// TestParseWhenDSTDayLength checks that "domani" across a change of
// summer time is the whole civil day: 23 hours in March, 25 in October.
func TestParseWhenDSTDayLength(t *testing.T) {
	loc := rome(t)
	for _, c := range []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2026, 3, 28, 11, 0, 0, 0, loc), 23 * time.Hour},
		{time.Date(2026, 10, 24, 11, 0, 0, 0, loc), 25 * time.Hour},
		{time.Date(2026, 11, 24, 11, 0, 0, 0, loc), 24 * time.Hour},
	} {
		w, ok := ParseWhen("domani", c.now, loc)
		if !ok {
			t.Fatal("domani not understood")
		}
		if got := w.To.Sub(w.From); got != c.want {
			t.Errorf("domani from %s lasts %s, want %s", c.now, got, c.want)
		}
	}
	// 10:00 on 29 March 2026 is summer time (UTC+2): 08:00 UTC.
	w, _ := ParseWhen("domani alle 10", time.Date(2026, 3, 28, 11, 0, 0, 0, loc), loc)
	if want := time.Date(2026, 3, 29, 8, 0, 0, 0, time.UTC); !w.From.Equal(want) {
		t.Errorf("domani alle 10 = %s, want %s", w.From.UTC(), want)
	}
}
