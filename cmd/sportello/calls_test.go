package main

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestCallOperatorOffices: the operator's call page of a ticket opens
// for the operators of the ticket's office, its supervisors and the
// administrator, and for nobody else of the Comune; an in-person ticket
// has no call, and a closed one's call is over (its documents instead). Real handler of
// newHandler on a one-node cluster, real sessions.
func TestCallOperatorOffices(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, tenant.Register, booking.Register, queue.Register, auth.Register, push.Register,
		media.Register, docs.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := defaultConfig()
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	bari := demoTenant()
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	lines := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	if _, err := seedDemo(ctx, tenants, book, lines, clustertest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	// The URP takes tickets at any hour, so that the test does not
	// depend on the time it runs at.
	oc, err := lines.Config(ctx, bari.ID, "urp")
	if err != nil {
		t.Fatal(err)
	}
	oc.AlwaysOpen = true
	if err := lines.Configure(ctx, bari.ID, oc); err != nil {
		t.Fatal(err)
	}
	take := func(ch queue.Channel) queue.Taken {
		t.Helper()
		k, err := lines.Take(ctx, bari, queue.TakeRequest{OfficeID: "urp", Channel: ch, Source: queue.SourceDesk})
		if err != nil {
			t.Fatalf("take a %s ticket: %v", ch, err)
		}
		return k
	}
	video, inPerson, closedTaken := take(queue.Video).Ticket, take(queue.InPerson).Ticket, take(queue.Phone)
	closed := closedTaken.Ticket
	if _, err := lines.Cancel(ctx, bari.ID, closed.ID, closedTaken.Secret); err != nil {
		t.Fatalf("cancel: %v", err)
	}

	srv, calls, store := newCallTestServer(t, cfg, node, tenants, book, bari.ID)
	type person struct {
		cookie, csrf string
	}
	login := func(name string, grants ...auth.Grant) person {
		t.Helper()
		lr, cookie, err := store.Login(ctx, bari.ID, auth.Identity{Provider: "test", Issuer: callTestIssuer,
			Subject: "sub-" + name, Username: name, DisplayName: name}, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetGrants(ctx, bari.ID, lr.User.ID, grants); err != nil {
			t.Fatal(err)
		}
		return person{cookie, lr.Session.CSRF}
	}
	urp := login("urp", auth.Grant{Role: auth.RoleOperator, Offices: []string{"urp"}})
	ambiente := login("ambiente", auth.Grant{Role: auth.RoleOperator, Offices: []string{"ambiente"}})
	supervisor := login("supervisore", auth.Grant{Role: auth.RoleSupervisor})
	admin := login("admin", auth.Grant{Role: auth.RoleComuneAdmin})

	do := func(method, path string, p person, body io.Reader, header map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tenants.PrimaryHost(bari)
		req.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: p.cookie})
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name   string
		p      person
		ticket string
		want   int
	}{
		{"operator of the office", urp, video.ID, http.StatusOK},
		{"operator of another office", ambiente, video.ID, http.StatusForbidden},
		{"supervisor of every office", supervisor, video.ID, http.StatusOK},
		{"administrator", admin, video.ID, http.StatusOK},
		{"in-person ticket", urp, inPerson.ID, http.StatusNotFound},
		// A closed ticket's call is over: its page sends the operator to
		// the documents the call left (calls_docs.go).
		{"cancelled ticket", urp, closed.ID, http.StatusSeeOther},
	} {
		status, body := do("GET", "/gestione/chiamate/"+c.ticket, c.p, nil, nil)
		if status != c.want {
			t.Errorf("%s: GET the call of ticket %s: %d, want %d", c.name, c.ticket, status, c.want)
		}
		if status == http.StatusOK && !strings.Contains(body, `data-role="operator"`) {
			t.Errorf("%s: not the operator's call page", c.name)
		}
	}
	// The room is the ticket's (no booking): one room, whoever opened it.
	room, err := calls.rooms.ByRef(ctx, bari.ID, media.RoomRef{Kind: media.RefTicket, ID: video.ID})
	if err != nil || room.State != media.StateOpen || room.Node != cfg.NodeID {
		t.Fatalf("the ticket's room: %+v, %v", room, err)
	}

	// An upload by the operator of another office is refused before
	// anything is stored, although it carries its CSRF token.
	status, _ := do("POST", "/gestione/chiamate/"+video.ID+"/documenti?name=a.pdf", ambiente,
		strings.NewReader(string(callPDF())), map[string]string{authweb.CSRFHeader: ambiente.csrf, "Content-Type": "application/pdf"})
	if status != http.StatusForbidden {
		t.Errorf("upload by the operator of another office: %d, want 403", status)
	}
	status, body := do("POST", "/gestione/chiamate/"+video.ID+"/documenti?name=a.pdf", urp,
		strings.NewReader(string(callPDF())), map[string]string{authweb.CSRFHeader: urp.csrf, "Content-Type": "application/pdf"})
	if status != http.StatusCreated || !strings.Contains(body, docPathPrefix) {
		t.Errorf("upload by the office's operator: %d %s, want 201 with the document's link", status, body)
	}
	if ds, err := calls.store.List(ctx, bari.ID, room.ID); err != nil || len(ds) != 1 || ds[0].Ref != "ticket:"+video.ID {
		t.Errorf("the room's documents: %+v, %v; want the one upload, ref ticket:%s", ds, err, video.ID)
	}
}

// callTestIssuer is the OpenID provider of the calls' in-process tests;
// their sessions are made directly in the store.
const callTestIssuer = "https://id.example.it/realms/comuni"

// newCallTestServer serves the node's real handler with the calls wired,
// and registers callTestIssuer for tenant t, so that a test can log
// operators in through the store.
func newCallTestServer(t *testing.T, cfg Config, node *cluster.Node, tenants *tenant.Registry, book *booking.Book, tid tenant.ID) (*httptest.Server, *calls, *auth.Store) {
	t.Helper()
	calls, err := newCalls(cfg, node, nil, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(calls.close)
	handler, err := newHandler(cfg, runOptions{calls: calls}, node, tenants, book, nil, &pushWiring{}, clustertest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	store := auth.NewStore(auth.Config{Proposer: node, DB: node.DB()})
	if _, err := store.SaveProvider(context.Background(), tid, auth.Provider{ID: "test", Name: "Accedi", Issuer: callTestIssuer,
		ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
		t.Fatal(err)
	}
	return srv, calls, store
}
