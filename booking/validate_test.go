package booking

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func validRequest() Request {
	return Request{
		ServiceID: "svc",
		Start:     time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC),
		Channel:   InPerson,
		Citizen: Citizen{
			GivenName: "Mario", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S",
			Email: "mario.rossi@example.it",
		},
		Details:         "Rinnovo carta scaduta",
		PrivacyAccepted: true,
	}
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(r *Request)
		fields []string
	}{
		{"valid", func(r *Request) {}, nil},
		{"phone optional in person", func(r *Request) { r.Citizen.Phone = "" }, nil},
		{"valid phone", func(r *Request) { r.Citizen.Phone = "+39 080 577 1111" }, nil},
		{"200 accented characters", func(r *Request) { r.Details = strings.Repeat("è", 200) }, nil},
		{"empty", func(r *Request) { *r = Request{} }, []string{
			"channel", "citizen.email", "citizen.family_name", "citizen.fiscal_code",
			"citizen.given_name", "privacy_accepted", "service_id", "start"}},
		{"unknown channel", func(r *Request) { r.Channel = "fax" }, []string{"channel"}},
		{"bad fiscal code", func(r *Request) { r.Citizen.FiscalCode = "GLABNC72H25H501Y" }, []string{"citizen.fiscal_code"}},
		{"bad email", func(r *Request) { r.Citizen.Email = "mario@" }, []string{"citizen.email"}},
		{"email with name", func(r *Request) { r.Citizen.Email = "Mario <mario@example.it>" }, []string{"citizen.email"}},
		{"email header injection", func(r *Request) { r.Citizen.Email = "a@b.it\r\nBcc: x@y.it" }, []string{"citizen.email"}},
		{"phone needed for phone channel", func(r *Request) { r.Channel = Phone }, []string{"citizen.phone"}},
		{"bad phone", func(r *Request) { r.Citizen.Phone = "chiamami" }, []string{"citizen.phone"}},
		{"201 characters", func(r *Request) { r.Details = strings.Repeat("è", 201) }, []string{"details"}},
		{"control in name", func(r *Request) { r.Citizen.GivenName = "Ma\x00rio" }, []string{"citizen.given_name"}},
		{"privacy", func(r *Request) { r.PrivacyAccepted = false }, []string{"privacy_accepted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.change(&r)
			_, err := CheckRequest(r)
			var got []string
			var ve *ValidationError
			if errors.As(err, &ve) {
				got = slices.Sorted(maps.Keys(ve.Fields))
				for k, msg := range ve.Fields {
					if msg == "" {
						t.Errorf("field %s has no message", k)
					}
				}
			} else if err != nil {
				t.Fatalf("CheckRequest: %v, want a *ValidationError", err)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("invalid fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestCheckRequestNormalises(t *testing.T) {
	t.Parallel()
	r := validRequest()
	r.Citizen.FiscalCode = " rssmra85t10a562s "
	r.Citizen.GivenName = "  Maria   Grazia "
	r.Citizen.Email = " maria@example.it "
	got, err := CheckRequest(r)
	if err != nil {
		t.Fatalf("CheckRequest: %v", err)
	}
	if got.Citizen.FiscalCode != "RSSMRA85T10A562S" {
		t.Errorf("fiscal code = %q, want RSSMRA85T10A562S", got.Citizen.FiscalCode)
	}
	if got.Citizen.GivenName != "Maria Grazia" {
		t.Errorf("given name = %q, want %q", got.Citizen.GivenName, "Maria Grazia")
	}
	if got.Citizen.Email != "maria@example.it" {
		t.Errorf("email = %q, want maria@example.it", got.Citizen.Email)
	}
}
