package main

import (
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
)

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Rilascio carta d'identità elettronica", "rilascio-carta-d-identita-elettronica"},
		{"Ripartizione Tutela Ambiente, Sanità e Igiene", "ripartizione-tutela-ambiente-sanita-e-igiene"},
		{"Consulenza su pratiche edilizie (CILA, SCIA, permesso di costruire)", "consulenza-su-pratiche-edilizie-cila-scia"},
		{"  Più   spazi  ", "piu-spazi"},
	} {
		if got := slug(tc.in); got != tc.want {
			t.Errorf("slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDemoIDsAreValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range demoOffices() {
		ids := []string{d.office.ID}
		for _, s := range d.services {
			ids = append(ids, s.ID)
		}
		for _, id := range ids {
			if !booking.ValidID(id) {
				t.Errorf("demo id %q is not a valid ID", id)
			}
			if seen[id] {
				t.Errorf("demo id %q is used twice", id)
			}
			seen[id] = true
		}
	}
}
