package booking

import (
	"fmt"
	"strings"
	"time"
)

var italianWeekdays = [7]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}

var italianMonths = [12]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno",
	"luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"}

// DayLabel returns the day of t in Italian, "giovedì 11 marzo 2027", in
// t's location (pass a time already in the Comune's zone).
func DayLabel(t time.Time) string {
	return fmt.Sprintf("%s %d %s %d", italianWeekdays[t.Weekday()], t.Day(), italianMonths[t.Month()-1], t.Year())
}

// SlotLabel returns how a slot is named to citizens, "Giovedì 11 marzo
// 2027 ore 10:00", in start's location.
func SlotLabel(start time.Time) string {
	d := DayLabel(start)
	return strings.ToUpper(d[:1]) + d[1:] + " ore " + start.Format("15:04")
}
