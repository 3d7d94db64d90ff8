package tenant_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/sportello-virtuale/sportello/tenant"
)

// TestSaveSettings changes a Comune's settings through the replicated
// command: its own fields change, the others (ID, domains, ISTAT, patron
// days) stay, and Resolve sees the change at once.
func TestSaveSettings(t *testing.T) {
	t.Parallel()
	reg, n := newRegistry(t)
	ctx := context.Background()
	before, err := reg.Create(ctx, bari())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Resolve(ctx, "bari."+base); err != nil { // fills the cache
		t.Fatal(err)
	}
	s := tenant.Settings{Name: " Città di Bari ", Region: "Regione Puglia",
		Branding: tenant.Branding{PrimaryColor: "#1A5E20", LogoURL: "https://www.comune.bari.it/stemma.svg"},
		Sender:   tenant.Sender{Name: "Prenotazioni Bari", Address: "prenotazioni@comune.bari.it"},
		ReplyTo:  " urp@comune.bari.it "}
	if r, err := reg.ReplyTo(ctx, "bari"); err != nil || r != "" {
		t.Errorf("ReplyTo before any save: got %q, %v; want none", r, err)
	}
	index, err := reg.SaveSettings(ctx, "bari", s)
	if err != nil {
		t.Fatal(err)
	}
	if index == 0 {
		t.Errorf("index: got 0, want the command's")
	}
	if err := n.WaitApplied(ctx, index); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Resolve(ctx, "bari."+base)
	if err != nil {
		t.Fatal(err)
	}
	want := tenant.SettingsOf(got)
	if want.Name != "Città di Bari" || want.Branding.PrimaryColor != "#1a5e20" || want.Sender != s.Sender ||
		want.Branding.LogoURL != s.Branding.LogoURL {
		t.Errorf("settings after save: got %+v", want)
	}
	if all, err := reg.Settings(ctx, "bari"); err != nil || all.ReplyTo != "urp@comune.bari.it" || all.Name != "Città di Bari" {
		t.Errorf("Settings: got %+v, %v; want the saved Reply-To", all, err)
	}
	if r, err := reg.ReplyTo(ctx, "lecce"); err != nil || r != "" {
		t.Errorf("ReplyTo of a Comune without settings: got %q, %v", r, err)
	}
	if !slices.Equal(got.Domains, before.Domains) || got.ISTAT != before.ISTAT || got.CodePrefix != before.CodePrefix ||
		!slices.Equal(got.PatronDays, before.PatronDays) || !got.Created.Equal(before.Created) {
		t.Errorf("other fields changed: got %+v, want as %+v", got, before)
	}
}

func TestSaveSettingsRefused(t *testing.T) {
	t.Parallel()
	reg, _ := newRegistry(t)
	ctx := context.Background()
	before, err := reg.Create(ctx, bari())
	if err != nil {
		t.Fatal(err)
	}
	bad := tenant.Settings{Name: "", Branding: tenant.Branding{PrimaryColor: "blu", LogoURL: "http://x.it/a.png"},
		Sender: tenant.Sender{Address: "non-valido@"}, ReplyTo: "Urp <urp@comune.bari.it>"}
	_, err = reg.SaveSettings(ctx, "bari", bad)
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	for _, k := range []string{"name", "branding.primary_color", "branding.logo_url", "sender.address", "reply_to"} {
		if ve.Fields[k] == "" {
			t.Errorf("no error for %s in %v", k, ve.Fields)
		}
	}
	if _, err := reg.SaveSettings(ctx, "nessuno", tenant.SettingsOf(before)); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("unknown Comune: got %v, want ErrNotFound", err)
	}
	got, err := reg.Get(ctx, "bari")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tenant.SettingsOf(got), tenant.SettingsOf(before)) {
		t.Errorf("refused save changed the Comune: got %+v, want %+v", tenant.SettingsOf(got), tenant.SettingsOf(before))
	}
}

func TestContrastWithWhite(t *testing.T) {
	for _, tc := range []struct {
		color string
		want  float64
	}{
		{"#ffffff", 1}, {"#000000", 21}, {"#0066CC", 5.57}, {"#ffcc00", 1.51},
	} {
		got, err := tenant.ContrastWithWhite(tc.color)
		if err != nil || math.Abs(got-tc.want) > 0.05 {
			t.Errorf("ContrastWithWhite(%s): got %.2f, %v; want %.2f", tc.color, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "#fff", "0066cc", "#0066cg", "#+66ccc"} {
		if _, err := tenant.ContrastWithWhite(bad); !errors.Is(err, tenant.ErrBadColor) {
			t.Errorf("ContrastWithWhite(%q): got %v, want ErrBadColor", bad, err)
		}
	}
}

// TestSaveSettingsLanguages: the administrator chooses the languages the
// citizen pages offer and which comes first; an empty list keeps them; a
// language without catalogs or a repeated one is refused, changing
// nothing.
func TestSaveSettingsLanguages(t *testing.T) {
	ctx := context.Background()
	t.Parallel()
	reg, _ := newRegistry(t)
	if _, err := reg.Create(ctx, tenant.Tenant{ID: "bolzano", Name: "Comune di Bolzano", ISTAT: "021008"}); err != nil {
		t.Fatal(err)
	}
	save := func(langs ...string) error {
		s, err := reg.Settings(ctx, "bolzano")
		if err != nil {
			t.Fatal(err)
		}
		s.Languages = langs
		_, err = reg.SaveSettings(ctx, "bolzano", s)
		return err
	}
	langs := func() []string {
		got, err := reg.Get(ctx, "bolzano")
		if err != nil {
			t.Fatal(err)
		}
		return got.Languages
	}
	if err := save(" DE ", "it"); err != nil {
		t.Fatal(err)
	}
	if got := langs(); !slices.Equal(got, []string{"de", "it"}) {
		t.Fatalf("languages after saving de, it: got %v", got)
	}
	if err := save(); err != nil {
		t.Fatal(err)
	}
	if got := langs(); !slices.Equal(got, []string{"de", "it"}) {
		t.Fatalf("an empty list changed the languages: got %v", got)
	}
	for _, bad := range [][]string{{"fr"}, {"it", "it"}, {"ita"}} {
		var ve *tenant.ValidationError
		if err := save(bad...); !errors.As(err, &ve) {
			t.Errorf("languages %v: got %v, want a validation error", bad, err)
		}
		if got := langs(); !slices.Equal(got, []string{"de", "it"}) {
			t.Errorf("refused languages %v changed them: got %v", bad, got)
		}
	}
}
