package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
)

// deskForm returns a desk form for office with the services chosen (none
// means every service of the office).
func deskFormFor(office, label string, services ...string) url.Values {
	v := url.Values{fdOffice: {office}, fdLabel: {label}, fdKind: {string(booking.DeskCounter)}, fdScope: {scopeAll}}
	if len(services) > 0 {
		v.Set(fdScope, scopeChosen)
		v[fdServices] = services
	}
	return v
}

// checkedBox reports whether page has the service's checkbox ticked.
func checkedBox(page, serviceID string) bool {
	tag := elementByID(page, "servizi-"+serviceID)
	return tag != "" && strings.Contains(tag, " checked")
}

// TestAdminDesks creates a desk for an office with two of its services
// through the form, finds it in the list and in its edit form, then
// archives and restores it.
func TestAdminDesks(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.bari
	admin := ae.login(b, "admin-1", "Anna Bianchi", "amministratori")
	ctx := context.Background()

	if r := admin.get(bariHost, "/gestione"); !strings.Contains(r.Body, `href="/gestione/sportelli"`) {
		t.Error("administrator home: no link to the desks")
	}
	// "Nuovo sportello" of an office offers that office's services only.
	r := admin.get(bariHost, "/gestione/sportelli/nuovo?ufficio="+b.Office.ID)
	if r.Status != http.StatusOK || elementByID(r.Body, "servizi-"+b.InPerson.ID) == "" || elementByID(r.Body, "servizi-"+b.OtherService.ID) != "" {
		t.Fatalf("new desk of the Anagrafe: got %d, want its services only\n%s", r.Status, text(r.Body))
	}
	f := findForm(t, r.Body, "/gestione/sportelli/nuovo", "")
	if f.Values.Get(fdOffice) != b.Office.ID || f.Values.Get(csrfField) != admin.csrf || f.Values.Get(fdKind) != "counter" {
		t.Errorf("new desk form: got %v", f.Values)
	}

	r = admin.post("/gestione/sportelli/nuovo", deskFormFor(b.Office.ID, "Sportello 3", b.InPerson.ID, b.Remote.ID))
	if loc := r.Header.Get("Location"); r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, "/gestione/sportelli?esito=sportello-creato&indice=") {
		t.Fatalf("create desk: got %d %q\n%s", r.Status, loc, text(r.Body))
	}
	page := admin.follow(t, r)
	body := text(page.Body)
	if !strings.Contains(body, "Sportello creato.") || !strings.Contains(body, "Sportello 3") ||
		!strings.Contains(body, b.InPerson.Name) || !strings.Contains(body, b.Remote.Name) {
		t.Errorf("desk list after saving:\n%s", body)
	}
	desks, err := ae.book.Desks(ctx, b.Tenant.ID, b.Office.ID)
	if err != nil || len(desks) != 1 {
		t.Fatalf("stored desks: got %+v, %v", desks, err)
	}
	d := desks[0]
	if d.Label != "Sportello 3" || d.Kind != booking.DeskCounter || !slices.Equal(d.ServiceIDs, []string{b.InPerson.ID, b.Remote.ID}) {
		t.Errorf("stored desk: got %+v", d)
	}

	// The edit form shows what was stored, and saves a change.
	edit := admin.get(bariHost, "/gestione/sportelli/"+d.ID)
	if edit.Status != http.StatusOK || !checkedBox(edit.Body, b.InPerson.ID) || !checkedBox(edit.Body, b.Remote.ID) ||
		!strings.Contains(elementByID(edit.Body, "ambito-scelti"), "checked") {
		t.Errorf("edit form: got %d\n%s", edit.Status, edit.Body)
	}
	r = admin.post("/gestione/sportelli/"+d.ID, url.Values{fdLabel: {"Postazione video"}, fdKind: {"remote"}, fdScope: {scopeAll}})
	page = admin.follow(t, r)
	if !strings.Contains(page.Body, "Modifiche allo sportello salvate.") || !strings.Contains(text(page.Body), "Tutti i servizi dell'ufficio") {
		t.Errorf("list after the edit:\n%s", text(page.Body))
	}
	if got, _ := ae.book.Desk(ctx, b.Tenant.ID, d.ID); got.Label != "Postazione video" || got.Kind != booking.DeskRemote || got.ServiceIDs != nil {
		t.Errorf("desk after the edit: got %+v", got)
	}

	// Archiving keeps the desk in the list, marked; restoring clears it.
	page = admin.follow(t, admin.post("/gestione/sportelli/"+d.ID+"/archivio", url.Values{"archivia": {"1"}}))
	if !strings.Contains(page.Body, "Sportello archiviato") || !strings.Contains(page.Body, "Postazione video") {
		t.Errorf("list after archiving:\n%s", text(page.Body))
	}
	if got, _ := ae.book.Desk(ctx, b.Tenant.ID, d.ID); !got.Archived {
		t.Error("desk not archived")
	}
	admin.follow(t, admin.post("/gestione/sportelli/"+d.ID+"/archivio", url.Values{"archivia": {"0"}}))
	if got, _ := ae.book.Desk(ctx, b.Tenant.ID, d.ID); got.Archived {
		t.Error("desk not restored")
	}
}

// TestAdminDeskInvalid checks that a service of another office, an empty
// name or no service chosen are refused with field errors, and that
// nothing is stored.
func TestAdminDeskInvalid(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.bari
	admin := ae.login(b, "admin-1", "Anna Bianchi", "amministratori")

	r := admin.post("/gestione/sportelli/nuovo", deskFormFor(b.Office.ID, "Sportello 1", b.InPerson.ID, b.OtherService.ID))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(elementByID(r.Body, "servizi-errore"), "invalid-feedback") ||
		!strings.Contains(text(r.Body), "Scegli solo servizi dell'ufficio dello sportello.") {
		t.Errorf("service of another office: got %d\n%s", r.Status, text(r.Body))
	}
	if !strings.Contains(r.Body, `href="#servizi"`) || !strings.Contains(elementByID(r.Body, "errori"), `role="alert"`) {
		t.Error("the error summary does not link to the services")
	}
	if f := findForm(t, r.Body, "/gestione/sportelli/nuovo", ""); f.Values.Get(fdLabel) != "Sportello 1" {
		t.Errorf("typed name not kept: %v", f.Values)
	}

	// Every error at once: the service with the name.
	r = admin.post("/gestione/sportelli/nuovo", deskFormFor(b.Office.ID, "", b.OtherService.ID))
	if r.Status != http.StatusUnprocessableEntity || elementByID(r.Body, "nome-errore") == "" || elementByID(r.Body, "servizi-errore") == "" {
		t.Errorf("no name and a service of another office: got %d, want both errors\n%s", r.Status, text(r.Body))
	}
	r = admin.post("/gestione/sportelli/nuovo", url.Values{fdOffice: {b.Office.ID}, fdLabel: {strings.Repeat("x", 41)}, fdScope: {scopeChosen}})
	for _, id := range []string{"nome-errore", "tipo-errore", "servizi-errore"} {
		if r.Status != http.StatusUnprocessableEntity || elementByID(r.Body, id) == "" {
			t.Errorf("bad name, no kind, no service: got %d, no %s", r.Status, id)
		}
	}
	r = admin.post("/gestione/sportelli/nuovo", url.Values{fdLabel: {"Sportello 1"}, fdKind: {"counter"}, fdScope: {scopeAll}})
	if r.Status != http.StatusUnprocessableEntity || elementByID(r.Body, "ufficio-errore") == "" {
		t.Errorf("no office: got %d\n%s", r.Status, text(r.Body))
	}
	if desks, _ := ae.book.Desks(context.Background(), b.Tenant.ID, ""); len(desks) != 0 {
		t.Errorf("desks stored: %+v", desks)
	}
}

// TestAdminDeskAccess checks that an operator gets 403 on every desk
// route, and that an administrator of Bari can neither see nor change
// Lecce's desks by ID, nor put a desk in Lecce's office.
func TestAdminDeskAccess(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	ctx := context.Background()
	bari, lecce := ae.bari, ae.lecce
	operator := ae.login(bari, "op-1", "Olga Verdi", "operatori")
	admin := ae.login(bari, "admin-1", "Anna Bianchi", "amministratori")
	mine, err := ae.book.WriteDesk(ctx, bari.Tenant.ID, booking.Desk{OfficeID: bari.Office.ID, Label: "Sportello 1", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ae.book.WriteDesk(ctx, lecce.Tenant.ID, booking.Desk{OfficeID: lecce.Office.ID, Label: "Sportello di Lecce", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{"/gestione/sportelli", "/gestione/sportelli/nuovo", "/gestione/sportelli/" + mine.ID} {
		if r := operator.get(bariHost, p); r.Status != http.StatusForbidden {
			t.Errorf("operator GET %s: got %d, want 403", p, r.Status)
		}
	}
	for _, p := range []string{"/gestione/sportelli/nuovo", "/gestione/sportelli/" + mine.ID, "/gestione/sportelli/" + mine.ID + "/archivio"} {
		if r := operator.post(p, deskFormFor(bari.Office.ID, "Intruso")); r.Status != http.StatusForbidden {
			t.Errorf("operator POST %s: got %d, want 403", p, r.Status)
		}
	}
	if r := operator.get(bariHost, "/gestione"); strings.Contains(r.Body, `href="/gestione/sportelli"`) {
		t.Error("operator home links to the desks")
	}

	if r := admin.get(bariHost, "/gestione/sportelli/"+theirs.ID); r.Status != http.StatusNotFound {
		t.Errorf("Lecce's desk on Bari's host: got %d, want 404", r.Status)
	}
	if r := admin.get(bariHost, "/gestione/sportelli"); strings.Contains(r.Body, "Sportello di Lecce") {
		t.Error("Lecce's desk listed in Bari's back office")
	}
	if r := admin.get(lecceHost, "/gestione/sportelli"); r.Status != http.StatusSeeOther {
		t.Errorf("Bari's session on Lecce's host: got %d, want 303 to the login", r.Status)
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/gestione/sportelli/" + theirs.ID, deskFormFor(lecce.Office.ID, "Intruso")},
		{"/gestione/sportelli/" + theirs.ID + "/archivio", url.Values{"archivia": {"1"}}},
	} {
		if r := admin.post(p.path, p.form); r.Status != http.StatusNotFound {
			t.Errorf("POST %s: got %d, want 404", p.path, r.Status)
		}
	}
	r := admin.post("/gestione/sportelli/nuovo", deskFormFor(lecce.Office.ID, "Intruso"))
	if r.Status != http.StatusUnprocessableEntity || elementByID(r.Body, "ufficio-errore") == "" {
		t.Errorf("desk in Lecce's office from Bari: got %d\n%s", r.Status, text(r.Body))
	}
	r = admin.post("/gestione/sportelli/nuovo", deskFormFor(bari.Office.ID, "Intruso", lecce.InPerson.ID))
	if r.Status != http.StatusUnprocessableEntity || elementByID(r.Body, "servizi-errore") == "" {
		t.Errorf("Lecce's service in Bari's desk: got %d", r.Status)
	}
	if d, _ := ae.book.Desk(ctx, lecce.Tenant.ID, theirs.ID); d.Label != "Sportello di Lecce" || d.Archived {
		t.Errorf("Lecce's desk changed: %+v", d)
	}
	if desks, _ := ae.book.Desks(ctx, bari.Tenant.ID, ""); len(desks) != 1 {
		t.Errorf("Bari's desks: got %+v, want its one", desks)
	}
}

// TestAdminDeskRestoreClash restores a desk whose name another desk of
// the office took meanwhile: the list says why, and nothing changes.
func TestAdminDeskRestoreClash(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.bari
	ctx := context.Background()
	admin := ae.login(b, "admin-1", "Anna Bianchi", "amministratori")
	old, err := ae.book.WriteDesk(ctx, b.Tenant.ID, booking.Desk{OfficeID: b.Office.ID, Label: "Sportello 1", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ae.book.ArchiveDesk(ctx, b.Tenant.ID, old.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := ae.book.WriteDesk(ctx, b.Tenant.ID, booking.Desk{OfficeID: b.Office.ID, Label: "Sportello 1", Kind: booking.DeskCounter}, false); err != nil {
		t.Fatal(err)
	}
	r := admin.post("/gestione/sportelli/"+old.ID+"/archivio", url.Values{"archivia": {"0"}})
	if r.Status != http.StatusConflict || !strings.Contains(text(r.Body), "Cambia il nome di uno dei due") {
		t.Errorf("restore onto a name in use: got %d\n%s", r.Status, text(r.Body))
	}
	checkAccessible(t, "restore clash", r.Body)
	if d, _ := ae.book.Desk(ctx, b.Tenant.ID, old.ID); !d.Archived {
		t.Error("the desk was restored")
	}
}

// TestAdminDeskAccessibility runs the accessibility checks on the desk
// pages, with and without errors.
func TestAdminDeskAccessibility(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.bari
	admin := ae.login(b, "admin-1", "Anna Bianchi", "amministratori")
	w, err := ae.book.WriteDesk(context.Background(), b.Tenant.ID, booking.Desk{OfficeID: b.Office.ID, Label: "Sportello 1",
		Kind: booking.DeskCounter, ServiceIDs: []string{b.InPerson.ID}}, false)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]response{
		"desks":                 admin.get(bariHost, "/gestione/sportelli"),
		"new desk":              admin.get(bariHost, "/gestione/sportelli/nuovo"),
		"new desk of an office": admin.get(bariHost, "/gestione/sportelli/nuovo?ufficio="+b.Office.ID),
		"edit desk":             admin.get(bariHost, "/gestione/sportelli/"+w.ID),
		"desk errors":           admin.post("/gestione/sportelli/nuovo", url.Values{fdScope: {scopeChosen}}),
	}
	for name, r := range pages {
		if r.Status >= 500 {
			t.Errorf("%s: status %d", name, r.Status)
			continue
		}
		checkAccessible(t, name, r.Body)
	}
}

// TestAdminDeskAppointments reserves a desk for appointments through the
// form: the checkbox, labelled and with its hint, is stored, shown in
// the list and in the edit form, and an edit without it clears it.
func TestAdminDeskAppointments(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	b := ae.bari
	admin := ae.login(b, "admin-1", "Anna Bianchi", "amministratori")
	ctx := context.Background()

	r := admin.get(bariHost, "/gestione/sportelli/nuovo?ufficio="+b.Office.ID)
	box := elementByID(r.Body, fdAppointments)
	if r.Status != http.StatusOK || !strings.Contains(box, `type="checkbox"`) || strings.Contains(box, " checked") ||
		!strings.Contains(box, `aria-describedby="appuntamenti-aiuto"`) || elementByID(r.Body, "appuntamenti-aiuto") == "" ||
		!strings.Contains(r.Body, `<label class="form-check-label" for="appuntamenti">Riservato agli appuntamenti</label>`) {
		t.Fatalf("new desk form: got %d, want an unticked, labelled checkbox with its hint; box %q", r.Status, box)
	}
	form := deskFormFor(b.Office.ID, "Sportello prenotati")
	form.Set(fdAppointments, "1")
	r = admin.post("/gestione/sportelli/nuovo", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("create a reserved desk: got %d\n%s", r.Status, text(r.Body))
	}
	if page := admin.follow(t, r); !strings.Contains(text(page.Body), "Riservato agli appuntamenti") {
		t.Errorf("list does not mark the reserved desk:\n%s", text(page.Body))
	}
	desks, err := ae.book.Desks(ctx, b.Tenant.ID, b.Office.ID)
	if err != nil || len(desks) != 1 || !desks[0].Appointments {
		t.Fatalf("stored desks: got %+v, %v; want one reserved", desks, err)
	}
	d := desks[0]
	edit := admin.get(bariHost, "/gestione/sportelli/"+d.ID)
	if !strings.Contains(elementByID(edit.Body, fdAppointments), " checked") {
		t.Errorf("edit form: the checkbox is not ticked")
	}
	// A form sent back with an error keeps the tick.
	bad := deskFormFor(b.Office.ID, "")
	bad.Set(fdAppointments, "1")
	if r := admin.post("/gestione/sportelli/"+d.ID, bad); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(elementByID(r.Body, fdAppointments), " checked") {
		t.Errorf("form with an error: got %d, want 422 with the checkbox still ticked", r.Status)
	}
	if got, _ := ae.book.Desk(ctx, b.Tenant.ID, d.ID); !got.Appointments || got.Label != "Sportello prenotati" {
		t.Errorf("refused edit changed the desk: %+v", got)
	}
	// Unticked, the browser sends no field: the reservation is cleared.
	admin.follow(t, admin.post("/gestione/sportelli/"+d.ID, deskFormFor(b.Office.ID, "Sportello prenotati")))
	if got, _ := ae.book.Desk(ctx, b.Tenant.ID, d.ID); got.Appointments {
		t.Errorf("desk still reserved after an edit without the checkbox: %+v", got)
	}
}
