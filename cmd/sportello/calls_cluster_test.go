package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestCallInviteRevokeCluster: the revocation on a two-node cluster
// (real Raft, real node-to-node forwarding). The guest joins through the
// node that does not hold the room (its socket is forwarded), and the
// operator revokes through that node too: the form is forwarded to the
// room's node, which takes the guest out, and from then on the link is
// refused on both nodes.
func TestCallInviteRevokeCluster(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 2, tenant.Register, booking.Register, queue.Register, auth.Register, push.Register,
		media.Register, docs.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	secrets, err := auth.NewSecrets(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	tenants := tenant.NewRegistry(nodes[0], nodes[0].DB(), cfg.BaseDomain)
	bari := demoTenant()
	book := booking.NewBook(nodes[0], nodes[0].DB(), time.Now, rand.Reader)
	lines := queue.New(nodes[0], nodes[0].DB(), book, time.Now, rand.Reader)
	if _, err := seedDemo(ctx, tenants, book, lines, clustertest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	oc, err := lines.Config(ctx, bari.ID, "urp")
	if err != nil {
		t.Fatal(err)
	}
	oc.AlwaysOpen = true
	if err := lines.Configure(ctx, bari.ID, oc); err != nil {
		t.Fatal(err)
	}
	srvs := make([]*httptest.Server, len(nodes))
	allCalls := make([]*calls, len(nodes))
	for i, n := range nodes {
		ncfg := cfg
		ncfg.NodeID = n.Config().NodeID
		c, err := newCalls(ncfg, n, secrets, clustertest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		h, err := newHandler(ncfg, runOptions{calls: c}, n, tenant.NewRegistry(n, n.DB(), cfg.BaseDomain),
			booking.NewBook(n, n.DB(), time.Now, rand.Reader), nil, &pushWiring{}, clustertest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		srvs[i] = httptest.NewServer(h)
		t.Cleanup(srvs[i].Close)
		allCalls[i] = c
	}
	store := auth.NewStore(auth.Config{Proposer: nodes[0], DB: nodes[0].DB()})
	if _, err := store.SaveProvider(ctx, bari.ID, auth.Provider{ID: "test", Name: "Accedi", Issuer: callTestIssuer,
		ClientID: "sportello", ClientSecret: "segreto"}); err != nil {
		t.Fatal(err)
	}
	lr, cookie, err := store.Login(ctx, bari.ID, auth.Identity{Provider: "test", Issuer: callTestIssuer,
		Subject: "sub-urp", Username: "urp", DisplayName: "Olga Verdi"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetGrants(ctx, bari.ID, lr.User.ID, []auth.Grant{{Role: auth.RoleOperator, Offices: []string{"urp"}}}); err != nil {
		t.Fatal(err)
	}
	k, err := lines.Take(ctx, bari, queue.TakeRequest{OfficeID: "urp", Channel: queue.Video, Source: queue.SourceDesk})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.ReadFresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	host := tenants.PrimaryHost(bari)
	do := func(srv *httptest.Server, method, path string, operator bool, form url.Values) (int, string) {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			form.Set(authweb.CSRFField, lr.Session.CSRF)
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, srv.URL+path, body)
		req.Host = host
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if operator {
			req.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: cookie})
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	dial := func(srv *httptest.Server, path string, operator bool) socketMsgs {
		t.Helper()
		h := http.Header{}
		if operator {
			h.Set("Cookie", authweb.SessionCookie+"="+cookie)
		}
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &websocket.DialOptions{Host: host, HTTPHeader: h})
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return socketMsgs{t, c}
	}

	callPath := "/gestione/chiamate/" + k.Ticket.ID
	if status, _ := do(srvs[0], "GET", callPath, true, nil); status != http.StatusOK {
		t.Fatalf("open the call: %d", status)
	}
	room, err := allCalls[0].rooms.ByRef(ctx, bari.ID, media.RoomRef{Kind: media.RefTicket, ID: k.Ticket.ID})
	if err != nil {
		t.Fatal(err)
	}
	at := 0
	if room.Node != nodes[0].Config().NodeID {
		at = 1
	}
	holder, other := srvs[at], srvs[1-at]
	op := dial(holder, callPath, true)
	op.next(ctx, "welcome")
	status, body := do(other, "POST", callPath+"/invito", true, url.Values{"nome": {"Ivo Interprete"}})
	if status != http.StatusOK {
		t.Fatalf("invite through the other node: %d", status)
	}
	link := inviteOf(t, body)
	guest := dial(other, link, false) // forwarded to the room's node
	id, _ := guest.next(ctx, "welcome")["id"].(string)
	op.next(ctx, "participant")
	if err := op.c.Write(ctx, websocket.MessageText, []byte(`{"type":"admit","id":"`+id+`"}`)); err != nil {
		t.Fatal(err)
	}
	guest.next(ctx, "admitted")

	start := time.Now()
	status, body = do(other, "POST", callPath+"/invito/revoca", true, url.Values{"ospite": {id}})
	if status != http.StatusOK || !strings.Contains(body, "è stato fatto uscire dalla chiamata") {
		t.Fatalf("revoke through the node that does not hold the room: %d\n%s", status, body)
	}
	if ended := guest.next(ctx, "ended"); ended["reason"] != "revoked" {
		t.Errorf("the guest's last message: %v", ended)
	}
	t.Logf("revoked through %s, guest out of the call on %s after %v", nodes[1-at].Config().NodeID, room.Node,
		time.Since(start).Round(time.Millisecond))
	for i, srv := range srvs {
		if status, _ := do(srv, "GET", link, false, nil); status != http.StatusGone {
			t.Errorf("node %d: the revoked link: %d, want 410", i+1, status)
		}
	}
	if r, err := allCalls[1-at].rooms.ByRef(ctx, bari.ID, room.Ref); err != nil || r.State != media.StateOpen {
		t.Errorf("the room after the revocation: %+v, %v; want open", r, err)
	}
}
