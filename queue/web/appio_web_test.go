package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// appIOEnv is the queue's web side on a follower of a real three-node
// cluster with the App IO channel registered, every node delivering the
// outbox to a local fake of App IO (App IO itself is outside the
// machine; the fake answers as its API is documented). Bari's Anagrafe
// and Tributi take tickets at any hour and send "manca poco" one place
// ahead.
type appIOEnv struct {
	*officeEnv
	fake    *appio.FakeServer
	sealer  appio.Sealer
	leaderQ *queue.Queue
}

func newAppIOEnv(t *testing.T) *appIOEnv {
	t.Helper()
	fake := appio.NewFakeServer("key-ufficio", "key-cie")
	t.Cleanup(fake.Close)
	sealer := appio.Sealer{Key: bytes.Repeat([]byte{7}, 32)}
	client := &appio.Client{BaseURL: fake.BaseURL()}
	nodes := clustertest.ClusterWith(t, 3, func(n *cluster.Node) {
		book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
		q := queue.New(n, n.DB(), book, time.Now, rand.Reader)
		n.HandleOutbox(queue.AppIOOutboxKind, queue.AppIODeliverer(q, client, func() appio.Sealer { return sealer }, time.Now, clustertest.Logger(t)))
	}, tenant.Register, booking.Register, queue.Register, queue.RegisterAppIO, auth.Register)
	leader := clustertest.Leader(t, nodes...)
	var n *cluster.Node
	for _, m := range nodes {
		if m != leader {
			n = m
			break
		}
	}
	ctx := context.Background()
	e := &appIOEnv{officeEnv: &officeEnv{t: t, node: n}, fake: fake, sealer: sealer}
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	e.book = booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	e.q = queue.New(n, n.DB(), e.book, time.Now, rand.Reader)
	e.leaderQ = queue.New(leader, leader.DB(), booking.NewBook(leader, leader.DB(), time.Now, rand.Reader), time.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.store = auth.NewStore(auth.Config{Proposer: n, DB: n.DB()})
	logins, err := authweb.New(authweb.Config{Store: e.store, Site: s, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Queue: e.q, Site: s, Logger: clustertest.Logger(t), Guard: logins, SessionFrom: authweb.SessionFrom,
		Book: e.book, RateLimit: RateLimit{PerMinute: -1}, AppIOSealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e.srv = s.Tenant(logins.Sessions(mux))
	if e.ten, err = reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006", TimeZone: "Europe/Rome"}); err != nil {
		t.Fatal(err)
	}
	office := func(name, service string) (booking.Office, booking.Service) {
		o, err := e.book.SaveOffice(ctx, e.ten.ID, booking.Office{Name: name, Address: "Corso Vittorio Emanuele 1"})
		if err != nil {
			t.Fatal(err)
		}
		sv, err := e.book.SaveService(ctx, e.ten.ID, booking.Service{OfficeID: o.ID, Name: service, Description: service + ".",
			Category: name, Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
			MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.q.Config(ctx, e.ten.ID, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		c.AlwaysOpen, c.NotifyAhead = true, 1
		if err := e.q.Configure(ctx, e.ten.ID, c); err != nil {
			t.Fatal(err)
		}
		return o, sv
	}
	e.anagrafe, e.cie = office("Anagrafe", "Carta d'identità")
	e.tributi, e.imu = office("Tributi", "IMU")
	if _, err := e.store.SaveProvider(ctx, e.ten.ID, auth.Provider{ID: "regione", Name: "Accedi", Issuer: officeIssuer,
		ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// fiscalCode completes a 15-character stem with its check letter: the
// odd positions (1st, 3rd, …) and the even ones have their own tables,
// and the letter is the sum modulo 26.
func fiscalCode(t *testing.T, stem string) string {
	t.Helper()
	oddTable := []int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for i, r := range stem {
		v := int(r - 'A')
		if r >= '0' && r <= '9' {
			v = int(r - '0')
		}
		if i%2 == 0 {
			sum += oddTable[v]
		} else {
			sum += v
		}
	}
	cf := stem + string(rune('A'+sum%26))
	if !booking.ValidFiscalCode(cf) {
		t.Fatalf("test codice fiscale %s is not valid", cf)
	}
	return cf
}

// take gives a walk-in ticket of office on the page's node.
func (e *appIOEnv) take(office booking.Office) queue.Taken {
	e.t.Helper()
	k, err := e.q.Take(context.Background(), e.ten, queue.TakeRequest{OfficeID: office.ID, Channel: queue.InPerson, Source: queue.SourceDesk})
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// citizen sends a request without a session, as a citizen's browser or
// app on the same site.
func (e *appIOEnv) citizen(method, target, contentType, body string) officeAnswer {
	e.t.Helper()
	req := httptest.NewRequest(method, "http://"+officeHost+target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return officeAnswer{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// waitMessage waits for the fake to accept a message for the codice
// fiscale whose subject is subject.
func (e *appIOEnv) waitMessage(cf, subject string) appio.FakeMessage {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range e.fake.Messages() {
			if m.FiscalCode == cf && m.Subject == subject {
				return m
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no App IO message %q for %s; the fake has %+v", subject, cf, e.fake.Messages())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAppIOSettingsPage saves Anagrafe's App IO key as the Comune's
// administrator: turning the channel on without a key is refused with the
// error on the field and changes nothing; the key saved is never shown
// back nor stored in clear; a service gets its own key; clearing forgets
// the key and turns the channel off. Operators and supervisors may not
// see or post the page, nor may a post without the CSRF token.
func TestAppIOSettingsPage(t *testing.T) {
	t.Parallel()
	e := newAppIOEnv(t)
	ctx := context.Background()
	admin := e.login("admin", auth.Grant{Role: auth.RoleComuneAdmin})
	page := "/gestione/coda/appio?ufficio=" + url.QueryEscape(e.anagrafe.ID)
	setting := func(svc string) queue.AppIOSetting {
		t.Helper()
		s, err := e.q.AppIO(ctx, e.ten.ID, e.anagrafe.ID, svc)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	r := admin.get(page)
	if r.Status != http.StatusOK {
		t.Fatalf("GET: got %d\n%s", r.Status, r.Body)
	}
	for _, s := range []string{"App IO per la coda", "Tutto l&#39;ufficio", "Servizio «Carta d&#39;identità»", `type="password"`, "Nessuna chiave salvata."} {
		if !strings.Contains(r.Body, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	if cfg := admin.get("/gestione/coda/impostazioni?ufficio=" + url.QueryEscape(e.anagrafe.ID)); !strings.Contains(cfg.Body, `href="`+strings.ReplaceAll(page, "&", "&amp;")+`"`) ||
		!strings.Contains(cfg.Body, `href="/gestione/coda/cartello?ufficio=`+e.anagrafe.ID+`"`) {
		t.Error("the queue's settings do not link the App IO page and the poster")
	}

	form := func(svc, key string, on, clear bool, csrf string) url.Values {
		v := url.Values{deskCSRFField: {csrf}, aioOffice: {e.anagrafe.ID}, aioService: {svc}, aioKey: {key}}
		if on {
			v.Set(aioEnabled, "1")
		}
		if clear {
			v.Set(aioClear, "1")
		}
		return v
	}
	r = admin.send("POST", "/gestione/coda/appio", form("", "", true, false, admin.csrf))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Inserisci la chiave API") ||
		!strings.Contains(r.Body, `id="chiave-0-errore"`) || !strings.Contains(r.Body, `href="#chiave-0"`) {
		t.Errorf("on without a key: got %d, want 422 with the error on the field\n%s", r.Status, r.Body)
	}
	if s := setting(""); s.Enabled || s.HasKey {
		t.Errorf("a refused save changed the setting: %+v", s)
	}
	r = admin.send("POST", "/gestione/coda/appio", form("", "chiave con spazi", true, false, admin.csrf))
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "La chiave API non è valida") {
		t.Errorf("a key with spaces: got %d, want 422", r.Status)
	}

	r = admin.send("POST", "/gestione/coda/appio", form("", "key-ufficio", true, false, admin.csrf))
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/gestione/coda/appio?") {
		t.Fatalf("save: got %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if s := setting(""); !s.Enabled || !s.HasKey {
		t.Errorf("after the save: %+v, want on with a key", s)
	}
	r = admin.get(r.Header.Get("Location"))
	if !strings.Contains(r.Body, "Impostazioni di App IO salvate.") || !strings.Contains(r.Body, "Una chiave è già salvata") {
		t.Errorf("the page after the save does not confirm it")
	}
	if strings.Contains(r.Body, "key-ufficio") {
		t.Error("the page shows the saved key")
	}
	var sealed string
	if err := e.node.DB().QueryRow(`SELECT sealed_key FROM queue_appio WHERE tenant = ? AND office_id = ? AND service_id = ''`,
		e.ten.ID, e.anagrafe.ID).Scan(&sealed); err != nil || sealed == "" || strings.Contains(sealed, "key-ufficio") {
		t.Errorf("stored key %q (%v): want it sealed", sealed, err)
	}
	// An empty key keeps the saved one: turning off and on again.
	if r := admin.send("POST", "/gestione/coda/appio", form("", "", false, false, admin.csrf)); r.Status != http.StatusSeeOther {
		t.Fatalf("off: got %d", r.Status)
	}
	if s := setting(""); s.Enabled || !s.HasKey {
		t.Errorf("off keeping the key: %+v", s)
	}
	if r := admin.send("POST", "/gestione/coda/appio", form(e.cie.ID, "key-cie", true, false, admin.csrf)); r.Status != http.StatusSeeOther {
		t.Fatalf("the service's key: got %d", r.Status)
	}
	if s := setting(e.cie.ID); !s.Enabled || !s.HasKey {
		t.Errorf("the service's setting: %+v", s)
	}
	if r := admin.send("POST", "/gestione/coda/appio", form(e.imu.ID, "key-cie", true, false, admin.csrf)); r.Status != http.StatusNotFound {
		t.Errorf("a service of another office: got %d, want 404", r.Status)
	}
	if r := admin.send("POST", "/gestione/coda/appio", form(e.cie.ID, "", true, true, admin.csrf)); r.Status != http.StatusSeeOther {
		t.Fatalf("clear: got %d", r.Status)
	}
	if s := setting(e.cie.ID); s.Enabled || s.HasKey {
		t.Errorf("after clearing: %+v, want off without a key", s)
	}

	before := setting("")
	for _, u := range []*officeUser{
		e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}}),
		e.login("sup", auth.Grant{Role: auth.RoleSupervisor}),
	} {
		if r := u.get(page); r.Status != http.StatusForbidden {
			t.Errorf("GET by a non-administrator: got %d, want 403", r.Status)
		}
		if r := u.send("POST", "/gestione/coda/appio", form("", "key-cie", true, false, u.csrf)); r.Status != http.StatusForbidden {
			t.Errorf("POST by a non-administrator: got %d, want 403", r.Status)
		}
	}
	if r := admin.send("POST", "/gestione/coda/appio", form("", "", false, false, "not-the-token")); r.Status != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: got %d, want 403", r.Status)
	}
	if after := setting(""); after != before {
		t.Errorf("refused posts changed the setting: %+v → %+v", before, after)
	}
}

// TestAppIOFromTheTicketPage turns App IO on for Anagrafe, then follows
// two citizens: one gives the codice fiscale on the ticket's page (a
// wrong one first, refused with the error next to the field), the other
// through the API. When the desk, on another node, calls them, the
// messages reach the App IO fake with the office's key. Tributi has no
// App IO: its ticket page has no form and the API answers
// appio_unavailable.
func TestAppIOFromTheTicketPage(t *testing.T) {
	t.Parallel()
	e := newAppIOEnv(t)
	ctx := context.Background()
	d := loadQueueDoc(t)
	if _, err := e.q.SaveAppIO(ctx, e.ten, e.anagrafe.ID, "", "key-ufficio", true, false, e.sealer); err != nil {
		t.Fatal(err)
	}
	maria, luigi := fiscalCode(t, "RSSMRA85T10A662"), fiscalCode(t, "BNCLGU80A01A662")
	e.fake.SetProfile(maria, true)
	e.fake.SetProfile(luigi, true)

	first := e.take(e.anagrafe)
	km := e.take(e.anagrafe)
	kl := e.take(e.anagrafe)
	ticketPage := ticketPath(km.Ticket.ID, km.Secret)
	r := e.citizen("GET", ticketPage, "", "")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "Ricevi gli avvisi anche sull&#39;app IO") ||
		!strings.Contains(r.Body, `action="/coda/biglietto/`+km.Ticket.ID+`/appio"`) {
		t.Fatalf("the ticket's page lacks the App IO form: %d\n%s", r.Status, r.Body)
	}
	post := func(cf string) officeAnswer {
		return e.citizen("POST", "/coda/biglietto/"+km.Ticket.ID+"/appio", "application/x-www-form-urlencoded",
			url.Values{"secret": {km.Secret}, aioFiscalCode: {cf}}.Encode())
	}
	r = post("RSSMRA85T10A662Z")
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Il codice fiscale non è valido") ||
		!strings.Contains(r.Body, `aria-invalid="true"`) || !strings.Contains(r.Body, `value="RSSMRA85T10A662Z"`) ||
		strings.Contains(r.Body, `http-equiv="refresh"`) {
		t.Errorf("a wrong codice fiscale: got %d, want 422 with the error\n%s", r.Status, r.Body)
	}
	r = e.citizen("POST", "/coda/biglietto/"+km.Ticket.ID+"/appio", "application/x-www-form-urlencoded",
		url.Values{"secret": {"not-the-secret"}, aioFiscalCode: {maria}}.Encode())
	if r.Status != http.StatusNotFound {
		t.Errorf("a wrong secret: got %d, want 404", r.Status)
	}
	r = post(strings.ToLower(maria))
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != ticketPage+"&appio=attivo" {
		t.Fatalf("subscribe: got %d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	if r := e.citizen("GET", r.Header.Get("Location"), "", ""); !strings.Contains(r.Body, `id="appio-fatto"`) {
		t.Error("the page does not confirm the subscription")
	}

	// The API, for Luigi.
	const op = "POST /api/v1/tickets/{id}/appio"
	api := func(k queue.Taken, secret, body string) officeAnswer {
		t.Helper()
		a := e.citizen("POST", "/api/v1/tickets/"+k.Ticket.ID+"/appio?secret="+url.QueryEscape(secret), "application/json", body)
		if !d.ops[op][strconv.Itoa(a.Status)] {
			t.Errorf("%s answered %d, which the document does not list", op, a.Status)
		}
		return a
	}
	if a := api(kl, "not-the-secret", `{"fiscal_code":"`+luigi+`"}`); a.Status != http.StatusNotFound {
		t.Errorf("API with a wrong secret: got %d", a.Status)
	}
	if a := api(kl, kl.Secret, `{"fiscal_code":"BNCLGU80A01A662Q"}`); a.Status != http.StatusUnprocessableEntity || !strings.Contains(a.Body, "fiscal_code") {
		t.Errorf("API with a wrong codice fiscale: got %d %s", a.Status, a.Body)
	}
	if a := api(kl, kl.Secret, `{"fiscal_code":"`+luigi+`","lang":"en"}`); a.Status != http.StatusNoContent {
		t.Fatalf("API: got %d %s", a.Status, a.Body)
	}
	kt := e.take(e.tributi)
	if r := e.citizen("GET", ticketPath(kt.Ticket.ID, kt.Secret), "", ""); r.Status != http.StatusOK || strings.Contains(r.Body, "/appio\"") {
		t.Errorf("Tributi's ticket page offers App IO (%d)", r.Status)
	}
	a := api(kt, kt.Secret, `{"fiscal_code":"`+luigi+`"}`)
	var eb errorBody
	_ = json.Unmarshal([]byte(a.Body), &eb)
	if a.Status != http.StatusNotFound || eb.Error.Code != "appio_unavailable" {
		t.Errorf("API for Tributi: got %d %s, want 404 appio_unavailable", a.Status, a.Body)
	}

	for _, msg := range e.fake.Messages() {
		if strings.HasPrefix(msg.Subject, "È il tuo turno") || strings.HasPrefix(msg.Subject, "It's your turn") {
			t.Fatalf("a \"your turn\" message before any call: %+v", msg)
		}
	}
	// The desk calls the line on the leader, another node than the
	// page's.
	for _, want := range []queue.Taken{first, km, kl} {
		k, err := e.leaderQ.CallNext(ctx, e.ten, e.anagrafe.ID, "Sportello 1", nil)
		if err != nil || k.ID != want.Ticket.ID {
			t.Fatalf("CallNext: %s %v, want %s", k.Number, err, want.Ticket.Number)
		}
		if _, err := e.leaderQ.StartServing(ctx, e.ten.ID, k.ID, "Sportello 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.leaderQ.Served(ctx, e.ten.ID, k.ID, "Sportello 1"); err != nil {
			t.Fatal(err)
		}
	}
	// "È il tuo turno" is the call's: it can only come after it.
	if m := e.waitMessage(maria, "È il tuo turno: biglietto "+km.Ticket.Number); m.Key != "key-ufficio" {
		t.Errorf("Maria's message was sent with the key %q, want the office's", m.Key)
	}
	if m := e.waitMessage(luigi, "It's your turn: ticket "+kl.Ticket.Number); m.Key != "key-ufficio" {
		t.Errorf("Luigi's message was sent with the key %q, want the office's", m.Key)
	}
	for _, msg := range e.fake.Messages() {
		if msg.FiscalCode != maria && msg.FiscalCode != luigi {
			t.Errorf("a message for someone who gave no codice fiscale: %+v", msg)
		}
	}
	// Once served, the ticket takes no subscription.
	if a := api(km, km.Secret, `{"fiscal_code":"`+maria+`"}`); a.Status != http.StatusConflict {
		t.Errorf("API for a served ticket: got %d, want 409", a.Status)
	}
}
