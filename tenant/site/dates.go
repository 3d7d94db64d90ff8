package site

import (
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// Names of months and weekdays per language, written by hand rather than
// taken from a locale library: three languages need forty-odd words, and
// the forms must match what the Comune's staff write (Italian lower-case
// inside a sentence, German and English capitalised). Read-only.
var (
	monthNames = map[string][12]string{
		"it": {"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"},
		"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	}
	weekdayNames = map[string][7]string{
		"it": {"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"},
		"en": {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		"de": {"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
	}
)

// MonthName returns the name of m in lang ("marzo", "March", "März"),
// Italian for a language Sportello does not know.
func MonthName(lang string, m time.Month) string {
	if m < time.January || m > time.December {
		return m.String()
	}
	return monthNames[NormalizeLang(lang)][m-1]
}

// WeekdayName returns the name of d in lang ("giovedì", "Thursday",
// "Donnerstag").
func WeekdayName(lang string, d time.Weekday) string {
	if d < time.Sunday || d > time.Saturday {
		return d.String()
	}
	return weekdayNames[NormalizeLang(lang)][d]
}

// FormatDay returns the day d as a sentence of lang writes it:
// "giovedì 11 marzo 2027", "Thursday 11 March 2027",
// "Donnerstag, 11. März 2027".
func FormatDay(lang string, d civil.Date) string {
	lang = NormalizeLang(lang)
	wd, mo := WeekdayName(lang, d.Weekday()), MonthName(lang, d.Month)
	switch lang {
	case "de":
		return fmt.Sprintf("%s, %d. %s %d", wd, d.Day, mo, d.Year)
	default:
		return fmt.Sprintf("%s %d %s %d", wd, d.Day, mo, d.Year)
	}
}

// FormatDate returns the day of t, in t's own location, in lang (see
// FormatDay). Callers convert t to the Comune's zone first.
func FormatDate(lang string, t time.Time) string { return FormatDay(lang, civil.DateOf(t)) }

// FormatTime returns the wall-clock time of t in t's location, 24-hour in
// every language: "10:00".
func FormatTime(lang string, t time.Time) string { return t.Format("15:04") }

// FormatDateTime returns day and time of t in t's location: "giovedì 11
// marzo 2027 ore 10:00", "Thursday 11 March 2027 at 10:00",
// "Donnerstag, 11. März 2027, 10:00 Uhr".
func FormatDateTime(lang string, t time.Time) string {
	lang = NormalizeLang(lang)
	d, h := FormatDate(lang, t), FormatTime(lang, t)
	switch lang {
	case "en":
		return d + " at " + h
	case "de":
		return d + ", " + h + " Uhr"
	default:
		return d + " ore " + h
	}
}

// FormatTimeRange returns the span between two times of one day, in their
// location: "dalle 10:00 alle 10:30", "from 10:00 to 10:30",
// "von 10:00 bis 10:30 Uhr".
func FormatTimeRange(lang string, from, to time.Time) string {
	a, b := FormatTime(lang, from), FormatTime(lang, to)
	switch NormalizeLang(lang) {
	case "en":
		return "from " + a + " to " + b
	case "de":
		return "von " + a + " bis " + b + " Uhr"
	default:
		return "dalle " + a + " alle " + b
	}
}

// FormatShortDate returns d in digits: "11/03/2027" in Italian and
// English (day first, as in the UK), "11.03.2027" in German.
func FormatShortDate(lang string, d civil.Date) string {
	if NormalizeLang(lang) == "de" {
		return fmt.Sprintf("%02d.%02d.%04d", d.Day, d.Month, d.Year)
	}
	return fmt.Sprintf("%02d/%02d/%04d", d.Day, d.Month, d.Year)
}

// FormatMonth returns the month of d with its year: "marzo 2027",
// "March 2027", "März 2027".
func FormatMonth(lang string, d civil.Date) string {
	return fmt.Sprintf("%s %d", MonthName(lang, d.Month), d.Year)
}
