package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/queue"
)

// kioskRequest sends a request to the kiosk page as the kiosk's browser,
// with its kiosk cookie ("" for none).
func (e *deskEnv) kioskRequest(method, target, cookie string, form url.Values) deskPage {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://"+deskHost+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "http://"+deskHost+target, nil)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: kioskCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return deskPage{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

var kioskLinkRE = regexp.MustCompile(`https?://[^<"\s]+/chiosco\?chiave=[A-Za-z0-9_%-]+`)

// TestKioskEnrolment: an administrator enrols a kiosk in the back
// office and the link, opened on the kiosk, stores its cookie; the
// enrolled kiosk is exempt from the address cap and alone may use the
// kiosk page of an office "solo chioschi registrati"; revoked, it is
// refused. Operators and other offices' supervisors may not manage
// kiosks.
func TestKioskEnrolment(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	operator := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	other := e.login("sup", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{e.tributi.ID}})
	if r := operator.get("/gestione/coda/chioschi"); r.Status != http.StatusForbidden {
		t.Errorf("operator on the kiosks' page: got %d, want 403", r.Status)
	}
	if r := other.get("/gestione/coda/chioschi?ufficio=" + e.anagrafe.ID); r.Status != http.StatusForbidden {
		t.Errorf("another office's supervisor on Anagrafe's kiosks: got %d, want 403", r.Status)
	}
	create := func(u *deskUser, office, label string) deskPage {
		return e.send("POST", "/gestione/coda/chioschi", url.Values{deskCSRFField: {u.csrf}, kioskFormOffice: {office}, kioskFormLabel: {label}}, u.cookie)
	}
	if r := create(other, e.anagrafe.ID, "Ingresso"); r.Status != http.StatusForbidden {
		t.Errorf("another office's supervisor enrols at Anagrafe: got %d, want 403", r.Status)
	}
	if r := create(admin, e.anagrafe.ID, "  "); r.Status != http.StatusUnprocessableEntity || !strings.Contains(officeText(r.Body), "Indicare un nome per il chiosco") {
		t.Errorf("kiosk without a name: got %d\n%s", r.Status, officeText(r.Body))
	}
	page := create(admin, e.anagrafe.ID, "Ingresso principale")
	link := kioskLinkRE.FindString(page.Body)
	if page.Status != http.StatusOK || link == "" || page.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("enrolment: got %d, link %q\n%s", page.Status, link, officeText(page.Body))
	}
	checkDeskAccessible(t, "kiosks page", page.Body)
	u, _ := url.Parse(link)
	kioskPage := "/coda/" + e.anagrafe.ID + "/chiosco"
	if r := e.kioskRequest("GET", kioskPage+"?chiave=inventata", "", nil); r.Status != http.StatusForbidden || r.Header.Get("Set-Cookie") != "" {
		t.Errorf("made-up key: got %d, cookie %q", r.Status, r.Header.Get("Set-Cookie"))
	}
	r := e.kioskRequest("GET", u.RequestURI(), "", nil)
	cookies := (&http.Response{Header: r.Header}).Cookies()
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != kioskPage || len(cookies) != 1 {
		t.Fatalf("enrolment link on the kiosk: %d to %q, cookies %v", r.Status, r.Header.Get("Location"), cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-sportello_kiosk" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("kiosk cookie %+v", c)
	}
	token := c.Value
	// The enrolled kiosk is not held to the address cap; another browser
	// at the same address is.
	e.configureOffice(e.anagrafe.ID, func(c *queue.OfficeConfig) { c.MaxPerIP = 1 })
	take := url.Values{"servizio": {""}}
	for i := range 3 {
		if r := e.kioskRequest("POST", kioskPage, token, take); r.Status != http.StatusOK || !strings.Contains(r.Body, `id="numero"`) {
			t.Fatalf("enrolled kiosk's take %d: %d\n%s", i+1, r.Status, officeText(r.Body))
		}
	}
	if r := e.kioskRequest("POST", kioskPage, "", take); r.Status != http.StatusConflict {
		t.Errorf("unenrolled browser at the address of three tickets: got %d, want 409", r.Status)
	}
	// Kiosks only.
	e.configureOffice(e.anagrafe.ID, func(c *queue.OfficeConfig) { c.KioskOnly, c.MaxPerIP = true, 0 })
	if r := e.kioskRequest("GET", kioskPage, "", nil); r.Status != http.StatusForbidden || !strings.Contains(officeText(r.Body), "non è registrato") {
		t.Errorf("unenrolled browser on a kiosk-only page: got %d\n%s", r.Status, officeText(r.Body))
	}
	if r := e.kioskRequest("POST", kioskPage, "", take); r.Status != http.StatusForbidden {
		t.Errorf("unenrolled browser's take on a kiosk-only page: got %d, want 403", r.Status)
	}
	if r := e.kioskRequest("GET", kioskPage, token, nil); r.Status != http.StatusOK {
		t.Errorf("enrolled kiosk on a kiosk-only page: got %d", r.Status)
	}
	// Revoked.
	list, err := e.q.Kiosks(ctx, e.ten.ID, e.anagrafe.ID)
	if err != nil || len(list) != 1 {
		t.Fatalf("Kiosks: %+v %v", list, err)
	}
	rev := e.send("POST", "/gestione/coda/chioschi/"+list[0].ID+"/revoca", url.Values{deskCSRFField: {admin.csrf}, kioskFormOffice: {e.anagrafe.ID}}, admin.cookie)
	if rev.Status != http.StatusSeeOther {
		t.Fatalf("revoke: got %d\n%s", rev.Status, officeText(rev.Body))
	}
	if l := admin.get(rev.Header.Get("Location")); !strings.Contains(officeText(l.Body), "Chiosco revocato") || !strings.Contains(officeText(l.Body), "Revocato il") {
		t.Errorf("list after the revocation:\n%s", officeText(l.Body))
	}
	if r := e.kioskRequest("GET", kioskPage, token, nil); r.Status != http.StatusForbidden {
		t.Errorf("revoked kiosk: got %d, want 403", r.Status)
	}
	if r := e.send("POST", "/gestione/coda/chioschi/"+list[0].ID+"/revoca", url.Values{kioskFormOffice: {e.anagrafe.ID}}, admin.cookie); r.Status != http.StatusForbidden {
		t.Errorf("revoke without the CSRF token: got %d, want 403", r.Status)
	}
}

// configureOffice changes an office's queue configuration.
func (e *deskEnv) configureOffice(office string, change func(*queue.OfficeConfig)) {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.q.Config(ctx, e.ten.ID, office)
	if err != nil {
		e.t.Fatal(err)
	}
	change(&c)
	if err := e.q.Configure(ctx, e.ten.ID, c); err != nil {
		e.t.Fatalf("Configure %s: %v", office, err)
	}
}

// TestReleaseFromAPausedDesk: a supervisor sees "Rimetti in coda per
// tutti" on a ticket transferred to a paused desk and releases it; an
// operator neither sees nor may use it.
func TestReleaseFromAPausedDesk(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	ctx := context.Background()
	sup := e.login("sup", auth.Grant{Role: auth.RoleSupervisor, Offices: []string{e.anagrafe.ID}}, auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	op := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	k := e.take(e.anagrafe.ID, queue.NoPriority)
	e.take(e.anagrafe.ID, queue.NoPriority)
	if r := sup.post("/gestione/coda/chiama", e.anagrafe.ID, "a-1"); r.Status != http.StatusSeeOther {
		t.Fatalf("call: %d", r.Status)
	}
	if _, err := e.q.Transfer(ctx, e.ten, k.ID, e.desks["a-1"], queue.TransferTo{Desk: e.desks["a-2"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.q.PauseDesk(ctx, e.ten, e.anagrafe.ID, e.desks["a-2"], "Riunione"); err != nil {
		t.Fatal(err)
	}
	target := "/gestione/coda/" + k.ID + "/rilascia"
	page := sup.get(deskURL(e.anagrafe.ID, e.desks["a-1"]))
	if !strings.Contains(page.Body, `action="`+target+`"`) {
		t.Fatalf("supervisor's page has no release button:\n%s", officeText(page.Body))
	}
	checkDeskAccessible(t, "desk page with a release", page.Body)
	if p := op.get(deskURL(e.anagrafe.ID, e.desks["a-1"])); strings.Contains(p.Body, target) {
		t.Errorf("an operator sees the release button")
	}
	if r := op.post(target, e.anagrafe.ID, "a-1"); r.Status != http.StatusForbidden {
		t.Errorf("operator's release: got %d, want 403", r.Status)
	}
	r := sup.post(target, e.anagrafe.ID, "a-1")
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "esito=rilasciato") {
		t.Fatalf("release: %d %q\n%s", r.Status, r.Header.Get("Location"), officeText(r.Body))
	}
	got, err := e.q.Ticket(ctx, e.ten.ID, k.ID)
	if err != nil || got.ForDesk != "" || got.State != queue.Waiting {
		t.Errorf("released ticket: %+v %v", got, err)
	}
	if r := sup.post(target, e.anagrafe.ID, "a-1"); r.Status != http.StatusConflict {
		t.Errorf("second release: got %d, want 409", r.Status)
	}
}
