package tenant_test

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

func date(y int, m time.Month, d int) civil.Date { return civil.Date{Year: y, Month: m, Day: d} }

func civilDate(y int, m time.Month, d int) civil.Date { return date(y, m, d) }

func TestEaster(t *testing.T) {
	t.Parallel()
	known := []civil.Date{
		date(1818, time.March, 22), // the earliest possible date
		date(1900, time.April, 15),
		date(1943, time.April, 25), // the latest possible date
		date(1954, time.April, 18),
		date(1961, time.April, 2),
		date(2000, time.April, 23),
		date(2008, time.March, 23),
		date(2011, time.April, 24),
		date(2019, time.April, 21),
		date(2020, time.April, 12),
		date(2021, time.April, 4),
		date(2022, time.April, 17),
		date(2023, time.April, 9),
		date(2024, time.March, 31),
		date(2025, time.April, 20),
		date(2026, time.April, 5),
		date(2027, time.March, 28),
		date(2028, time.April, 16),
		date(2029, time.April, 1),
		date(2030, time.April, 21),
		date(2038, time.April, 25),
		date(2100, time.March, 28),
		date(2285, time.March, 22),
	}
	for _, want := range known {
		if got := tenant.Easter(want.Year); got != want {
			t.Errorf("Easter(%d) = %s, want %s", want.Year, got, want)
		}
	}
	// Every Easter of the Gregorian calendar is a Sunday between 22 March
	// and 25 April.
	for y := 1583; y <= 4099; y++ {
		e := tenant.Easter(y)
		if e.Weekday() != time.Sunday {
			t.Fatalf("Easter(%d) = %s is a %s, want Sunday", y, e, e.Weekday())
		}
		if e.Before(date(y, time.March, 22)) || e.After(date(y, time.April, 25)) {
			t.Fatalf("Easter(%d) = %s, want between 22 March and 25 April", y, e)
		}
	}
}

func TestNationalHolidays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		year  int
		count int
		check map[civil.Date]string
		none  []civil.Date
	}{
		{
			year:  2025,
			count: 12,
			check: map[civil.Date]string{
				date(2025, time.January, 1):   "Capodanno",
				date(2025, time.January, 6):   "Epifania",
				date(2025, time.April, 20):    "Pasqua",
				date(2025, time.April, 21):    "Lunedì dell'Angelo",
				date(2025, time.April, 25):    "Festa della Liberazione",
				date(2025, time.May, 1):       "Festa del Lavoro",
				date(2025, time.June, 2):      "Festa della Repubblica",
				date(2025, time.August, 15):   "Ferragosto",
				date(2025, time.November, 1):  "Ognissanti",
				date(2025, time.December, 8):  "Immacolata Concezione",
				date(2025, time.December, 25): "Natale",
				date(2025, time.December, 26): "Santo Stefano",
			},
			none: []civil.Date{date(2025, time.October, 4)},
		},
		{
			year:  2026,
			count: 13,
			check: map[civil.Date]string{
				date(2026, time.April, 5):   "Pasqua",
				date(2026, time.April, 6):   "Lunedì dell'Angelo",
				date(2026, time.October, 4): "San Francesco d'Assisi e Santa Caterina da Siena",
			},
		},
		{
			year:  2030,
			count: 13,
			check: map[civil.Date]string{date(2030, time.October, 4): "San Francesco d'Assisi e Santa Caterina da Siena"},
		},
	}
	for _, tt := range tests {
		t.Run(time.Date(tt.year, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006"), func(t *testing.T) {
			hs := tenant.NationalHolidays(tt.year)
			if len(hs) != tt.count {
				t.Errorf("got %d holidays, want %d: %v", len(hs), tt.count, hs)
			}
			got := map[civil.Date]string{}
			for i, h := range hs {
				if i > 0 && h.Date.Before(hs[i-1].Date) {
					t.Errorf("holidays not sorted: %s after %s", h.Date, hs[i-1].Date)
				}
				got[h.Date] = h.Name
			}
			for d, want := range tt.check {
				if got[d] != want {
					t.Errorf("holiday on %s = %q, want %q", d, got[d], want)
				}
			}
			for _, d := range tt.none {
				if name, ok := got[d]; ok {
					t.Errorf("%s is a holiday (%q), want a working day", d, name)
				}
			}
		})
	}
}

func TestClosedOn(t *testing.T) {
	t.Parallel()
	bari := tenant.Tenant{
		ID:   "bari",
		Name: "Comune di Bari",
		PatronDays: []tenant.PatronDay{
			{Name: "San Nicola", Month: time.December, Day: 6},
			{Name: "Traslazione delle reliquie di San Nicola", Date: date(2026, time.May, 8)},
			{Name: "San Leap", Month: time.February, Day: 29},
		},
	}
	tests := []struct {
		day    civil.Date
		closed bool
		reason string
	}{
		{date(2026, time.December, 6), true, "San Nicola"},
		{date(2031, time.December, 6), true, "San Nicola"},
		{date(2026, time.May, 8), true, "Traslazione delle reliquie di San Nicola"},
		{date(2027, time.May, 8), false, ""},
		{date(2028, time.February, 29), true, "San Leap"},
		{date(2027, time.March, 1), false, ""},
		{date(2026, time.October, 4), true, "San Francesco d'Assisi e Santa Caterina da Siena"},
		{date(2025, time.October, 4), false, ""},
		{date(2026, time.April, 6), true, "Lunedì dell'Angelo"},
		{date(2026, time.April, 7), false, ""},
		{date(2038, time.April, 25), true, "Pasqua e Festa della Liberazione"},
		{date(2026, time.December, 7), false, ""},
		{date(2026, time.December, 25), true, "Natale"},
	}
	for _, tt := range tests {
		t.Run(tt.day.String(), func(t *testing.T) {
			closed, reason := bari.ClosedOn(tt.day)
			if closed != tt.closed || reason != tt.reason {
				t.Errorf("ClosedOn(%s) = %v, %q; want %v, %q", tt.day, closed, reason, tt.closed, tt.reason)
			}
		})
	}
	// Another Comune does not close on Bari's patron day.
	other := tenant.Tenant{ID: "lecce", Name: "Comune di Lecce"}
	if closed, _ := other.ClosedOn(date(2026, time.December, 6)); closed {
		t.Errorf("Lecce closed on 6 December, want open")
	}
}

func TestLocation(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"", "Europe/Rome", "Not/AZone"} {
		if got := (tenant.Tenant{TimeZone: tz}).Location().String(); got != "Europe/Rome" {
			t.Errorf("Location() with TimeZone %q = %s, want Europe/Rome", tz, got)
		}
	}
	if got := (tenant.Tenant{TimeZone: "Europe/Zurich"}).Location().String(); got != "Europe/Zurich" {
		t.Errorf("Location() = %s, want Europe/Zurich", got)
	}
}

// TestClosedOnMatchesClosures checks the quick test ClosedOn makes first
// against the list it stands for: every day of fifty years, with patron
// days of every kind (a yearly day, 29 February, one dated day, one that
// falls on a national holiday, and an incomplete one that closes nothing).
func TestClosedOnMatchesClosures(t *testing.T) {
	t.Parallel()
	tn := tenant.Tenant{PatronDays: []tenant.PatronDay{
		{Name: "San Nicola", Month: time.May, Day: 8},
		{Name: "San Romano", Month: time.February, Day: 29},
		{Name: "Visita del Presidente", Date: date(2031, time.March, 3)},
		{Name: "San Giovanni", Month: time.June, Day: 2},
		{Name: "Senza giorno", Month: time.July},
	}}
	for year := 2000; year < 2050; year++ {
		listed := map[civil.Date]bool{}
		for _, h := range tn.Closures(year) {
			listed[h.Date] = true
		}
		for d := date(year, time.January, 1); d.Year == year; d = d.AddDays(1) {
			got, reason := tn.ClosedOn(d)
			if got != listed[d] {
				t.Fatalf("ClosedOn(%v) = %v, Closures lists it: %v", d, got, listed[d])
			}
			if got != (reason != "") {
				t.Fatalf("ClosedOn(%v) = %v with reason %q", d, got, reason)
			}
		}
	}
	for _, c := range []struct {
		d    civil.Date
		want string
	}{
		{date(2030, time.May, 8), "San Nicola"},
		{date(2028, time.February, 29), "San Romano"},
		{date(2027, time.March, 1), ""},
		{date(2031, time.March, 3), "Visita del Presidente"},
		{date(2032, time.March, 3), ""},
		{date(2030, time.June, 2), "Festa della Repubblica e San Giovanni"},
		{date(2030, time.July, 1), ""},
		{date(2038, time.April, 25), "Pasqua e Festa della Liberazione"},
		{date(2025, time.October, 4), ""},
		{date(2026, time.October, 4), "San Francesco d'Assisi e Santa Caterina da Siena"},
	} {
		if closed, reason := tn.ClosedOn(c.d); closed != (c.want != "") || reason != c.want {
			t.Errorf("ClosedOn(%v) = %v, %q; want %q", c.d, closed, reason, c.want)
		}
	}
}
