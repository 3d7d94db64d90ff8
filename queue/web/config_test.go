package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/queue"
)

// config reads an office's queue configuration on the node serving the
// pages.
func (e *officeEnv) config(officeID string) queue.OfficeConfig {
	e.t.Helper()
	c, err := e.q.Config(context.Background(), e.ten.ID, officeID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// validSettings is a settings form of Anagrafe that CheckConfig accepts.
func (e *officeEnv) validSettings(csrf string) url.Values {
	return url.Values{
		deskCSRFField: {csrf}, cfgOffice: {e.anagrafe.ID}, cfgGroupPrefix + e.cie.ID: {"C"},
		cfgEarly: {"20"}, cfgLate: {"5"}, cfgSample: {"7"}, cfgDailyCap: {"150"}, cfgMaxPerDevice: {"3"},
		cfgMaxPerIP: {"40"}, cfgNotifyAhead: {"4"}, cfgProofOfWork: {"12"}, cfgStopBefore: {"30"}, cfgAlwaysOpen: {"1"},
	}
}

// TestConfigOnlyForTheAdministrator checks that operators and
// supervisors, even of the office, neither see nor change the settings.
func TestConfigOnlyForTheAdministrator(t *testing.T) {
	t.Parallel()
	e := newOfficeEnv(t, nil)
	before := e.config(e.anagrafe.ID)
	for _, u := range []*officeUser{
		e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}}),
		e.login("sup", auth.Grant{Role: auth.RoleSupervisor}),
	} {
		if r := u.get("/gestione/coda/impostazioni"); r.Status != http.StatusForbidden {
			t.Errorf("GET: got %d, want 403", r.Status)
		}
		if r := u.send("POST", "/gestione/coda/impostazioni", e.validSettings(u.csrf)); r.Status != http.StatusForbidden {
			t.Errorf("POST: got %d, want 403", r.Status)
		}
	}
	anonymous := &officeUser{e: e}
	if r := anonymous.get("/gestione/coda/impostazioni"); r.Status != http.StatusSeeOther ||
		!strings.HasPrefix(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous GET: got %d %q, want 303 to the login", r.Status, r.Header.Get("Location"))
	}
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	form := e.validSettings("not-the-token")
	if r := admin.send("POST", "/gestione/coda/impostazioni", form); r.Status != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: got %d, want 403", r.Status)
	}
	if after := e.config(e.anagrafe.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("refused posts changed the settings:\n%+v\n%+v", before, after)
	}
}

// TestConfigRefusesBadInput checks that invalid values are shown with
// their errors next to the fields and change nothing.
func TestConfigRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newOfficeEnv(t, nil)
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	before := e.config(e.anagrafe.ID)

	r := admin.get("/gestione/coda/impostazioni")
	if r.Status != http.StatusOK {
		t.Fatalf("GET: got %d\n%s", r.Status, r.Body)
	}
	// The first office by name, its service's letter select with A–Z and
	// the defaults.
	for _, want := range []string{`name="csrf" value="` + admin.csrf + `"`, `name="ufficio" value="` + e.anagrafe.ID + `"`,
		`<label for="` + cfgGroupPrefix + e.cie.ID + `">`, `<option value="Z">Z</option>`, `<option value="A" selected>A</option>`,
		`id="anticipo" name="anticipo" value="15"`, `aria-describedby="anticipo-aiuto"`, `id="campione" name="campione" value="10"`,
		`id="stop_prima" name="stop_prima" value="15"`, `aria-live="assertive"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("form lacks %s", want)
		}
	}

	checkLabels(t, "settings", r.Body)

	for _, c := range []struct {
		name  string
		set   map[string]string
		field string
		msg   string
	}{
		{"not a number", map[string]string{cfgEarly: "dieci"}, cfgEarly, "Scrivi un numero intero"},
		{"empty", map[string]string{cfgSample: ""}, cfgSample, "Indica un numero."},
		{"out of CheckConfig's range", map[string]string{cfgLate: "121"}, cfgLate, "Il ritardo ammesso va da 0 a 120 minuti."},
		{"sample zero", map[string]string{cfgSample: "0"}, cfgSample, "Il numero di servizi per la stima va da 1 a 100."},
		{"negative", map[string]string{cfgMaxPerIP: "-1"}, cfgMaxPerIP, "indirizzo di rete vanno da 0"},
		{"a minute overflow", map[string]string{cfgEarly: "9223372036854775807"}, cfgEarly, "Indica da 0 a 1440 minuti"},
		{"daily cap", map[string]string{cfgDailyCap: "1000000"}, cfgDailyCap, "biglietti al giorno"},
		{"stop before", map[string]string{cfgStopBefore: "300"}, cfgStopBefore, "240 minuti"},
		{"not a letter", map[string]string{cfgGroupPrefix + e.cie.ID: "1"}, cfgGroupPrefix + e.cie.ID, "una sola lettera maiuscola"},
	} {
		form := e.validSettings(admin.csrf)
		for k, v := range c.set {
			form.Set(k, v)
		}
		r := admin.send("POST", "/gestione/coda/impostazioni", form)
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: got %d, want 422", c.name, r.Status)
			continue
		}
		if !strings.Contains(officeText(r.Body), c.msg) || !strings.Contains(r.Body, `id="`+c.field+`-errore"`) ||
			!strings.Contains(r.Body, `href="#`+c.field+`"`) {
			t.Errorf("%s: no error %q at field %s:\n%s", c.name, c.msg, c.field, officeText(r.Body))
		}
		// The typed values are kept.
		if c.name == "not a number" && !strings.Contains(r.Body, `value="dieci"`) {
			t.Errorf("%s: the typed value is lost", c.name)
		}
		if after := e.config(e.anagrafe.ID); !reflect.DeepEqual(after, before) {
			t.Errorf("%s changed the settings:\n%+v\n%+v", c.name, before, after)
		}
	}
	if r := admin.send("POST", "/gestione/coda/impostazioni", url.Values{deskCSRFField: {admin.csrf}, cfgOffice: {"nessuno"}}); r.Status != http.StatusNotFound {
		t.Errorf("unknown office: got %d, want 404", r.Status)
	}
	if r := admin.send("POST", "/gestione/coda/impostazioni", url.Values{deskCSRFField: {admin.csrf}}); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(officeText(r.Body), "Scegli l'ufficio") {
		t.Errorf("no office: got %d, want 422", r.Status)
	}
}

// TestConfigSaves checks that a valid form saves every field, read back
// on the node, and that another office is left alone.
func TestConfigSaves(t *testing.T) {
	t.Parallel()
	e := newOfficeEnv(t, nil)
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	other := e.config(e.tributi.ID)
	r := admin.send("POST", "/gestione/coda/impostazioni", e.validSettings(admin.csrf))
	want := "/gestione/coda/impostazioni?esito=salvato&ufficio=" + e.anagrafe.ID
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != want {
		t.Fatalf("save: got %d %q, want 303 to %s\n%s", r.Status, r.Header.Get("Location"), want, officeText(r.Body))
	}
	got := e.config(e.anagrafe.ID)
	exp := queue.OfficeConfig{
		OfficeID: e.anagrafe.ID, Groups: map[string]string{e.cie.ID: "C"},
		EarlyCheckIn: 20 * time.Minute, LateCheckIn: 5 * time.Minute, Sample: 7,
		DailyCap: 150, MaxPerDevice: 3, MaxPerIP: 40, NotifyAhead: 4, ProofOfWork: 12, StopBefore: 30 * time.Minute, AlwaysOpen: true,
		ConfirmWithin: queue.DefaultConfirmWithin,
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("saved:\n got %+v\nwant %+v", got, exp)
	}
	// The save is in the audit log, as the administrator's.
	entries, err := e.node.Audit(context.Background(), string(e.ten.ID), cluster.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, a := range entries {
		if a.Type == queue.CmdConfigure && a.Actor.ID != "" && strings.Contains(a.Summary, "office="+e.anagrafe.ID) {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit entry of the save: %+v", entries)
	}
	if after := e.config(e.tributi.ID); !reflect.DeepEqual(after, other) {
		t.Errorf("saving Anagrafe changed Tributi")
	}
	page := admin.get(want)
	if page.Status != http.StatusOK || !strings.Contains(officeText(page.Body), "Impostazioni salvate") ||
		!strings.Contains(page.Body, `<option value="C" selected>C</option>`) || !strings.Contains(page.Body, `id="campione" name="campione" value="7"`) ||
		!strings.Contains(page.Body, `name="sempre_aperta" value="1" checked`) {
		t.Errorf("page after the save:\n%s", officeText(page.Body))
	}
	// Unchecking the box saves false; the service's letter is kept.
	form := e.validSettings(admin.csrf)
	form.Del(cfgAlwaysOpen)
	if r := admin.send("POST", "/gestione/coda/impostazioni", form); r.Status != http.StatusSeeOther {
		t.Fatalf("second save: got %d", r.Status)
	}
	if c := e.config(e.anagrafe.ID); c.AlwaysOpen || c.Groups[e.cie.ID] != "C" {
		t.Errorf("after unchecking: %+v", c)
	}
	// The settings of the other office are shown on request.
	if r := admin.get("/gestione/coda/impostazioni?ufficio=" + e.tributi.ID); r.Status != http.StatusOK ||
		!strings.Contains(r.Body, `name="ufficio" value="`+e.tributi.ID+`"`) || !strings.Contains(officeText(r.Body), "Lettera di «IMU»") {
		t.Errorf("Tributi's settings: got %d", r.Status)
	}
}

// TestConfigConfirmAndKiosks: the settings page turns on the
// confirmation by email, with its time, and the kiosks-only rule; a bad
// time is refused with its field's error; a form without the time (an
// older page) keeps the saved one.
func TestConfigConfirmAndKiosks(t *testing.T) {
	t.Parallel()
	e := newOfficeEnv(t, nil)
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	page := admin.get("/gestione/coda/impostazioni?ufficio=" + e.anagrafe.ID)
	for _, want := range []string{`name="conferma_email"`, `name="solo_chioschi"`, `name="conferma_minuti" value="15"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("settings page lacks %s", want)
		}
	}
	form := e.validSettings(admin.csrf)
	form.Set(cfgConfirmEmail, "1")
	form.Set(cfgKioskOnly, "1")
	form.Set(cfgConfirmMins, "2")
	if r := admin.send("POST", "/gestione/coda/impostazioni", form); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(officeText(r.Body), "Il tempo per confermare il biglietto via email va da 5 a 120 minuti") {
		t.Errorf("two minutes to confirm: got %d\n%s", r.Status, officeText(r.Body))
	}
	if c := e.config(e.anagrafe.ID); c.ConfirmEmail || c.KioskOnly {
		t.Errorf("a refused form changed the settings: %+v", c)
	}
	form.Set(cfgConfirmMins, "30")
	if r := admin.send("POST", "/gestione/coda/impostazioni", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: got %d\n%s", r.Status, officeText(r.Body))
	}
	if c := e.config(e.anagrafe.ID); !c.ConfirmEmail || !c.KioskOnly || c.ConfirmWithin != 30*time.Minute {
		t.Errorf("saved: %+v", c)
	}
	form.Del(cfgConfirmMins)
	form.Del(cfgKioskOnly)
	if r := admin.send("POST", "/gestione/coda/impostazioni", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save without the time: got %d\n%s", r.Status, officeText(r.Body))
	}
	if c := e.config(e.anagrafe.ID); !c.ConfirmEmail || c.KioskOnly || c.ConfirmWithin != 30*time.Minute {
		t.Errorf("saved without the time: %+v", c)
	}
}
