package civil

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseAndString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2026-03-29", Date{2026, time.March, 29}, true},
		{"2024-02-29", Date{2024, time.February, 29}, true},
		{"2025-02-29", Date{}, false},
		{"2026-3-29", Date{}, false},
		{"29/03/2026", Date{}, false},
		{"", Date{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseDate(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if got != tc.want {
				t.Fatalf("ParseDate(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if tc.ok && got.String() != tc.in {
				t.Fatalf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestArithmeticAcrossMonthsAndLeapYears(t *testing.T) {
	d := Date{2024, time.February, 28}
	if got, want := d.AddDays(1), (Date{2024, time.February, 29}); got != want {
		t.Errorf("AddDays(1) = %v, want %v", got, want)
	}
	if got, want := d.AddDays(2), (Date{2024, time.March, 1}); got != want {
		t.Errorf("AddDays(2) = %v, want %v", got, want)
	}
	if got, want := (Date{2026, time.January, 1}).AddDays(-1), (Date{2025, time.December, 31}); got != want {
		t.Errorf("AddDays(-1) = %v, want %v", got, want)
	}
	if got := (Date{2026, time.January, 1}).DaysUntil(Date{2027, time.January, 1}); got != 365 {
		t.Errorf("DaysUntil over 2026 = %d, want 365", got)
	}
	if got := (Date{2027, time.January, 1}).DaysUntil(Date{2026, time.January, 1}); got != -365 {
		t.Errorf("DaysUntil backwards = %d, want -365", got)
	}
	if got := (Date{2026, time.March, 29}).Weekday(); got != time.Sunday {
		t.Errorf("Weekday(2026-03-29) = %v, want Sunday", got)
	}
	a, b := Date{2026, time.March, 29}, Date{2026, time.April, 1}
	if !a.Before(b) || a.After(b) || a.Compare(a) != 0 || b.Compare(a) != 1 {
		t.Errorf("ordering of %v and %v is wrong", a, b)
	}
}

func TestInSkipsTheMissingDSTHour(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Skipf("no Europe/Rome zone: %v", err)
	}
	spring := Date{2026, time.March, 29}
	if _, ok := spring.In(rome, 2, 30); ok {
		t.Error("02:30 on 2026-03-29 in Rome does not exist, want ok=false")
	}
	t3, ok := spring.In(rome, 3, 0)
	if !ok {
		t.Fatal("03:00 on 2026-03-29 exists, want ok=true")
	}
	if _, off := t3.Zone(); off != 2*3600 {
		t.Errorf("offset at 03:00 after the change = %d, want 7200", off)
	}
	t9, _ := Date{2026, time.October, 25}.In(rome, 9, 0)
	if _, off := t9.Zone(); off != 3600 {
		t.Errorf("offset at 09:00 on 2026-10-25 = %d, want 3600", off)
	}
}

func TestJSON(t *testing.T) {
	in := struct {
		D Date `json:"d"`
	}{Date{2026, time.December, 6}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"d":"2026-12-06"}`; got != want {
		t.Fatalf("Marshal = %s, want %s", got, want)
	}
	var out struct {
		D Date `json:"d"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.D != in.D {
		t.Fatalf("Unmarshal = %v, %v; want %v", out.D, err, in.D)
	}
	if err := json.Unmarshal([]byte(`{"d":"2026-13-01"}`), &out); err == nil {
		t.Fatal("Unmarshal of month 13 succeeded, want an error")
	}
}
