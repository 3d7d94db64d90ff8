package tenant

import (
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// Italian names of months and weekdays, lower-case as Italian writes them
// inside a sentence. They are read-only.
var (
	italianMonths   = [...]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"}
	italianWeekdays = [...]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}
)

// MonthName returns the Italian name of m, "marzo".
func MonthName(m time.Month) string {
	if m < time.January || m > time.December {
		return m.String()
	}
	return italianMonths[m-1]
}

// WeekdayName returns the Italian name of d, "giovedì".
func WeekdayName(d time.Weekday) string {
	if d < time.Sunday || d > time.Saturday {
		return d.String()
	}
	return italianWeekdays[d]
}

// FormatCivilDate returns d in Italian, "giovedì 11 marzo 2027".
func FormatCivilDate(d civil.Date) string {
	return fmt.Sprintf("%s %d %s %d", WeekdayName(d.Weekday()), d.Day, MonthName(d.Month), d.Year)
}

// FormatDate returns the day of x in the Comune's time zone, in Italian:
// "giovedì 11 marzo 2027".
func (t Tenant) FormatDate(x time.Time) string {
	return FormatCivilDate(civil.DateOf(x.In(t.Location())))
}

// FormatTime returns the wall-clock time of x in the Comune's time zone,
// "10:00".
func (t Tenant) FormatTime(x time.Time) string {
	return x.In(t.Location()).Format("15:04")
}

// FormatDateTime returns x in the Comune's time zone as Italian pages and
// emails write it: "giovedì 11 marzo 2027 ore 10:00".
func (t Tenant) FormatDateTime(x time.Time) string {
	return t.FormatDate(x) + " ore " + t.FormatTime(x)
}
