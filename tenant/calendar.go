package tenant

import (
	"sort"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// Holiday is a day on which the Comune's offices are closed, with the name
// shown to citizens ("Festa della Repubblica").
type Holiday struct {
	Date civil.Date `json:"date"`
	Name string     `json:"name"`
}

// firstYearOfSaintFrancis is the first year in which 4 October (San
// Francesco d'Assisi e Santa Caterina da Siena, patrons of Italy) is again a
// national holiday, restored by a 2025 law.
const firstYearOfSaintFrancis = 2026

// NationalHolidays returns the Italian national public holidays of year,
// sorted by date. Two holidays may fall on the same day (Easter Sunday was 25
// April in 1943 and will be in 2038); both are listed.
func NationalHolidays(year int) []Holiday {
	easter := Easter(year)
	hs := []Holiday{
		{civil.Date{Year: year, Month: time.January, Day: 1}, "Capodanno"},
		{civil.Date{Year: year, Month: time.January, Day: 6}, "Epifania"},
		{easter, "Pasqua"},
		{easter.AddDays(1), "Lunedì dell'Angelo"},
		{civil.Date{Year: year, Month: time.April, Day: 25}, "Festa della Liberazione"},
		{civil.Date{Year: year, Month: time.May, Day: 1}, "Festa del Lavoro"},
		{civil.Date{Year: year, Month: time.June, Day: 2}, "Festa della Repubblica"},
		{civil.Date{Year: year, Month: time.August, Day: 15}, "Ferragosto"},
		{civil.Date{Year: year, Month: time.November, Day: 1}, "Ognissanti"},
		{civil.Date{Year: year, Month: time.December, Day: 8}, "Immacolata Concezione"},
		{civil.Date{Year: year, Month: time.December, Day: 25}, "Natale"},
		{civil.Date{Year: year, Month: time.December, Day: 26}, "Santo Stefano"},
	}
	if year >= firstYearOfSaintFrancis {
		hs = append(hs, Holiday{civil.Date{Year: year, Month: time.October, Day: 4}, "San Francesco d'Assisi e Santa Caterina da Siena"})
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Date.Before(hs[j].Date) })
	return hs
}

// Easter returns the date of Easter Sunday of year in the Gregorian
// calendar, by the anonymous Gregorian computus (Meeus/Jones/Butcher),
// valid for every year from 1583.
func Easter(year int) civil.Date {
	a := year % 19             // position in the 19-year Metonic cycle
	b, c := year/100, year%100 // century and year of the century
	d, e := b/4, b%4           // leap centuries
	f := (b + 8) / 25          // lunar correction, step 1
	g := (b - f + 1) / 3       // lunar correction, step 2
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	n := h + l - 7*m + 114
	return civil.Date{Year: year, Month: time.Month(n / 31), Day: n%31 + 1}
}

// Closures returns the days of year on which every office of the Comune is
// closed: the national holidays and the Comune's patron days, sorted by
// date.
func (t Tenant) Closures(year int) []Holiday {
	hs := NationalHolidays(year)
	for _, p := range t.PatronDays {
		switch {
		case !p.Date.IsZero():
			if p.Date.Year == year {
				hs = append(hs, Holiday{p.Date, p.Name})
			}
		case p.Month == time.February && p.Day == 29 && !isLeap(year):
			// A saint of 29 February is celebrated only in leap years.
		case p.Month != 0 && p.Day != 0:
			hs = append(hs, Holiday{civil.Date{Year: year, Month: p.Month, Day: p.Day}, p.Name})
		}
	}
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Date.Before(hs[j].Date) })
	return hs
}

// ClosedOn reports whether the Comune's offices are closed on d for a
// national holiday or a patron day, with the reason for citizens. When
// several holidays fall on d, reason names them all ("Pasqua e Festa della
// Liberazione").
func (t Tenant) ClosedOn(d civil.Date) (closed bool, reason string) {
	// Every booking asks this of its day, on every node (the FSM checks
	// the slot): the usual answer, open, comes without building and
	// sorting the year's list.
	if !t.closedOn(d) {
		return false, ""
	}
	var names []string
	for _, h := range t.Closures(d.Year) {
		if h.Date == d {
			names = append(names, h.Name)
		}
	}
	if len(names) == 0 {
		return false, ""
	}
	if len(names) == 1 {
		return true, names[0]
	}
	return true, strings.Join(names[:len(names)-1], ", ") + " e " + names[len(names)-1]
}

// closedOn reports whether d is among Closures(d.Year), without building
// the list. TestClosedOnMatchesClosures holds the two together.
func (t Tenant) closedOn(d civil.Date) bool {
	switch {
	case d.Month == time.January && (d.Day == 1 || d.Day == 6),
		d.Month == time.April && d.Day == 25,
		d.Month == time.May && d.Day == 1,
		d.Month == time.June && d.Day == 2,
		d.Month == time.August && d.Day == 15,
		d.Month == time.October && d.Day == 4 && d.Year >= firstYearOfSaintFrancis,
		d.Month == time.November && d.Day == 1,
		d.Month == time.December && (d.Day == 8 || d.Day == 25 || d.Day == 26):
		return true
	case d.Month == time.March || d.Month == time.April:
		if e := Easter(d.Year); d == e || d == e.AddDays(1) {
			return true
		}
	}
	for _, p := range t.PatronDays {
		switch {
		case !p.Date.IsZero():
			if p.Date == d {
				return true
			}
		case p.Month == time.February && p.Day == 29 && !isLeap(d.Year):
		case p.Month == d.Month && p.Day == d.Day:
			return true
		}
	}
	return false
}

func isLeap(year int) bool {
	return year%4 == 0 && (year%100 != 0 || year%400 == 0)
}
