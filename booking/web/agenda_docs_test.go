package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// newDocsEnv is newAdminEnv with the documents of video calls: the node
// also runs media/docs, and the handler lists a booking's documents
// from a real store.
func newDocsEnv(t *testing.T) (*adminEnv, *docs.Store) {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register, auth.Register, docs.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Now: clk.Now})
	logins, err := authweb.New(authweb.Config{Store: store, Site: s, Logger: clustertest.Logger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ds := docs.NewStore(n, nil, clk.Now)
	h, err := New(Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: RateLimit{PerMinute: -1},
		Guard: logins, SessionFrom: authweb.SessionFrom, Tenants: reg, Documents: ds})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	logins.Routes(mux)
	s.Routes(mux)
	e := &env{t: t, clock: clk, node: n, book: book, handler: h, srv: s.Tenant(logins.Sessions(mux))}
	e.bari = e.seed(reg, "bari", "Comune di Bari", "072006", bariHost)
	e.lecce = e.seed(reg, "lecce", "Comune di Lecce", "075035", lecceHost)
	for _, c := range []comune{e.bari, e.lecce} {
		if _, err := store.SaveProvider(context.Background(), c.Tenant.ID, auth.Provider{
			ID: "regione", Name: "Accedi", Issuer: issuer, ClientID: "sportello", ClientSecret: "segreto",
		}); err != nil {
			t.Fatal(err)
		}
	}
	return &adminEnv{env: e, store: store}, ds
}

// TestAgendaDocuments: the documents of a booking's video call are
// listed under the booking on the agenda, and their links download them
// for the operators of the booking's office; an operator of another
// office, a user of another Comune, a document of no booking and an
// anonymous browser get nothing.
func TestAgendaDocuments(t *testing.T) {
	t.Parallel()
	ae, ds := newDocsEnv(t)
	ctx := context.Background()
	b := ae.create(t, ae.bari, ae.bari.Remote, tuesday(9, 0), booking.Video, citizen(1))
	ob := ae.create(t, ae.bari, ae.bari.OtherService, tuesday(9, 0), booking.InPerson, citizen(2))
	pdf := append([]byte("%PDF-1.4\n% carta d'identità\n"), bytes.Repeat([]byte("x"), 3000)...)
	put := func(ref, name string) docs.Document {
		t.Helper()
		d, err := ds.Put(ctx, "bari", "room-1", ref, "cit-"+b.Booking.Code, name, bytes.NewReader(pdf), docs.Policy{})
		if err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
		return d
	}
	mine := put("booking:"+b.Booking.Code, "carta identità.pdf")
	others := put("booking:"+ob.Booking.Code, "altro.pdf")
	ticket := put("ticket:T-1", "biglietto.pdf")

	op := ae.loginWith(ae.bari, "op-a", "Olga Verdi", auth.Grant{Role: auth.RoleOperator, Offices: []string{ae.bari.Office.ID}})
	r := op.get(bariHost, agendaURL(ae.bari.Office.ID, civil.DateOf(tuesday(9, 0))))
	if r.Status != http.StatusOK {
		t.Fatalf("agenda: %d", r.Status)
	}
	link := "/gestione/documenti/" + mine.ID
	wantText(t, r.Body, "Documenti della videochiamata", mine.Name)
	if !strings.Contains(r.Body, `href="`+link+`"`) {
		t.Errorf("agenda: no link %s to the booking's document", link)
	}
	if strings.Contains(r.Body, others.ID) || strings.Contains(r.Body, ticket.ID) {
		t.Errorf("agenda of the office lists documents of other bookings")
	}

	r = op.get(bariHost, link)
	if r.Status != http.StatusOK || r.Body != string(pdf) {
		t.Fatalf("download by the office's operator: %d, %d bytes; want 200 and the document", r.Status, len(r.Body))
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
		t.Errorf("Content-Disposition %q, want attachment", cd)
	}
	for _, c := range []struct {
		name string
		u    *user
		host string
		path string
		want int
	}{
		{"document of another office", op, bariHost, "/gestione/documenti/" + others.ID, http.StatusNotFound},
		{"document of a ticket", op, bariHost, "/gestione/documenti/" + ticket.ID, http.StatusNotFound},
		{"unknown document", op, bariHost, "/gestione/documenti/nessuno", http.StatusNotFound},
		{"operator of another office", ae.loginWith(ae.bari, "op-b", "Bruno Neri",
			auth.Grant{Role: auth.RoleOperator, Offices: []string{ae.bari.Other.ID}}), bariHost, link, http.StatusNotFound},
		{"administrator of another Comune", ae.loginWith(ae.lecce, "adm-l", "Luca Rosa",
			auth.Grant{Role: auth.RoleComuneAdmin}), lecceHost, link, http.StatusNotFound},
		{"supervisor of every office", ae.loginWith(ae.bari, "sup", "Carla Blu",
			auth.Grant{Role: auth.RoleSupervisor}), bariHost, link, http.StatusOK},
	} {
		if r := c.u.get(c.host, c.path); r.Status != c.want {
			t.Errorf("%s: GET %s: %d, want %d", c.name, c.path, r.Status, c.want)
		}
	}
	if r := ae.get(bariHost, link); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/_auth/login") {
		t.Errorf("anonymous: %d %s, want 303 to the login", r.Status, r.Header.Get("Location"))
	}
}
