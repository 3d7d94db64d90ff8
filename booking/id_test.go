package booking

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"anagrafe", true},
		{"rilascio-carta-d-identita-elettronica", true},
		{"6ae9acf9a1696f834603510f2e304b8a", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-urp", false},
		{"Anagrafe", false},
		{"carta identità", false},
		{"../admin", false},
		{"a/b", false},
		{"a?b=c", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestSaveRefusesUnsafeIDs(t *testing.T) {
	o := Office{ID: "urp/../x", Name: "URP", Address: "Corso Vittorio Emanuele II, 84"}
	err := checkOffice(o)
	ve, ok := err.(*ValidationError)
	if !ok || ve.Fields["id"] == "" {
		t.Fatalf("checkOffice with id %q = %v, want a field error on id", o.ID, err)
	}
}
