package booking

import (
	"fmt"
	"time"
)

// Dates are formatted by hand, per language, rather than with a locale
// library: three languages, a handful of patterns, and the output must
// be the same on every node whatever it has installed.

var (
	englishWeekdays = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	englishMonths   = [12]string{"January", "February", "March", "April", "May", "June",
		"July", "August", "September", "October", "November", "December"}
	germanWeekdays = [7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"}
	germanMonths   = [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni",
		"Juli", "August", "September", "Oktober", "November", "Dezember"}
)

// DayIn returns the day of t in lang, in t's location: "giovedì 11
// marzo 2027", "Thursday 11 March 2027", "Donnerstag, 11. März 2027".
func DayIn(lang string, t time.Time) string {
	switch NormalizeLang(lang) {
	case LangEN:
		return fmt.Sprintf("%s %d %s %d", englishWeekdays[t.Weekday()], t.Day(), englishMonths[t.Month()-1], t.Year())
	case LangDE:
		return fmt.Sprintf("%s, %d. %s %d", germanWeekdays[t.Weekday()], t.Day(), germanMonths[t.Month()-1], t.Year())
	}
	return DayLabel(t)
}

// DateTimeIn returns the day and time of t in lang, in t's location:
// "giovedì 11 marzo 2027 ore 10:00", "Thursday 11 March 2027 at 10:00",
// "Donnerstag, 11. März 2027 um 10:00 Uhr".
func DateTimeIn(lang string, t time.Time) string {
	hm := t.Format("15:04")
	switch NormalizeLang(lang) {
	case LangEN:
		return DayIn(LangEN, t) + " at " + hm
	case LangDE:
		return DayIn(LangDE, t) + " um " + hm + " Uhr"
	}
	return DayLabel(t) + " ore " + hm
}

// deadlineIn is the last moment to cancel, as the manage sentence reads
// it: "giovedì 11 marzo 2027 alle 10:00" (Italian wants the article
// after "entro"), the same as DateTimeIn in the other languages.
func deadlineIn(lang string, t time.Time) string {
	if NormalizeLang(lang) == LangIT {
		return DayLabel(t) + " alle " + t.Format("15:04")
	}
	return DateTimeIn(lang, t)
}

// spanIn formats an appointment in loc: "giovedì 11 marzo 2027, dalle
// 10:00 alle 10:20", "Thursday 11 March 2027, 10:00 to 10:20",
// "Donnerstag, 11. März 2027, 10:00 bis 10:20 Uhr".
func spanIn(lang string, start, end time.Time, loc *time.Location) string {
	s, e := start.In(loc), end.In(loc)
	switch NormalizeLang(lang) {
	case LangEN:
		return DayIn(LangEN, s) + ", " + s.Format("15:04") + " to " + e.Format("15:04")
	case LangDE:
		return DayIn(LangDE, s) + ", " + s.Format("15:04") + " bis " + e.Format("15:04") + " Uhr"
	}
	return DayLabel(s) + ", dalle " + s.Format("15:04") + " alle " + e.Format("15:04")
}

// channelIn names a channel in lang.
func channelIn(lang string, c Channel) string {
	switch c {
	case Video:
		return messages.text(lang, "channel_video")
	case Phone:
		return messages.text(lang, "channel_phone")
	}
	return messages.text(lang, "channel_in_person")
}
