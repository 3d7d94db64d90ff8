package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
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

// callEnv is the real handler of newHandler with calls on a one-node
// cluster: Bari (the demo Comune, its URP taking video tickets at any
// hour) and Altamura, and an operator of Bari's URP logged in.
type callEnv struct {
	t                      *testing.T
	ctx                    context.Context
	srv                    *httptest.Server
	calls                  *calls
	tenants                *tenant.Registry
	lines                  *queue.Queue
	bari                   tenant.Tenant
	bariHost, altamuraHost string
	// cookie and csrf are the URP operator's session.
	cookie, csrf string
}

func newCallEnv(t *testing.T) *callEnv {
	t.Helper()
	node := clustertest.Node(t, tenant.Register, booking.Register, queue.Register, auth.Register, push.Register,
		media.Register, docs.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cfg := defaultConfig()
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	bari := demoTenant()
	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	lines := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	if _, err := seedDemo(ctx, tenants, book, lines, clustertest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	altamura := demoTenant()
	altamura.ID, altamura.Name, altamura.ISTAT, altamura.CodePrefix = "altamura", "Comune di Altamura", "072004", "AL"
	altamura.Sender = tenant.Sender{Name: "Comune di Altamura", Address: "noreply@altamura.localhost"}
	if _, err := tenants.Create(ctx, altamura); err != nil {
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
	srv, calls, store := newCallTestServer(t, cfg, node, tenants, book, bari.ID)
	lr, cookie, err := store.Login(ctx, bari.ID, auth.Identity{Provider: "test", Issuer: callTestIssuer,
		Subject: "sub-urp", Username: "urp", DisplayName: "Olga Verdi"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetGrants(ctx, bari.ID, lr.User.ID, []auth.Grant{{Role: auth.RoleOperator, Offices: []string{"urp"}}}); err != nil {
		t.Fatal(err)
	}
	return &callEnv{t: t, ctx: ctx, srv: srv, calls: calls, tenants: tenants, lines: lines, bari: bari,
		bariHost: tenants.PrimaryHost(bari), altamuraHost: tenants.PrimaryHost(altamura), cookie: cookie, csrf: lr.Session.CSRF}
}

// videoTicket takes a video ticket at Bari's URP.
func (e *callEnv) videoTicket() queue.Ticket {
	e.t.Helper()
	k, err := e.lines.Take(e.ctx, e.bari, queue.TakeRequest{OfficeID: "urp", Channel: queue.Video, Source: queue.SourceDesk})
	if err != nil {
		e.t.Fatal(err)
	}
	return k.Ticket
}

// do sends a request to host; with operator it carries the operator's
// session cookie.
func (e *callEnv) do(method, host, path string, operator bool, body io.Reader, header map[string]string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	if operator {
		req.AddCookie(&http.Cookie{Name: authweb.SessionCookie, Value: e.cookie})
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// invite posts the invite form of the ticket's call with name.
func (e *callEnv) invite(ticket, name string) (int, string) {
	e.t.Helper()
	form := url.Values{authweb.CSRFField: {e.csrf}, "nome": {name}}
	return e.do("POST", e.bariHost, "/gestione/chiamate/"+ticket+"/invito", true, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

var inviteLink = regexp.MustCompile(`id="invito-link" class="form-control" value="([^"]+)"`)

// inviteOf returns the path and query of the invite link on the page.
func inviteOf(t *testing.T, body string) string {
	t.Helper()
	m := inviteLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no invite link on the page:\n%s", body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil || u.Path != invitePath || u.Query().Get("t") == "" {
		t.Fatalf("invite link %q: want %s?t=<token> (%v)", m[1], invitePath, err)
	}
	return u.RequestURI()
}

// TestCallDocumentRetention: a Comune that keeps call documents 7 days
// gets documents that expire 7 days after their upload; the default
// (30 days, [media.documents]) holds for a Comune without its own.
func TestCallDocumentRetention(t *testing.T) {
	t.Parallel()
	e := newCallEnv(t)
	upload := func() docs.Document {
		t.Helper()
		k := e.videoTicket()
		if status, _ := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID, true, nil, nil); status != http.StatusOK {
			t.Fatalf("open the call: %d", status)
		}
		status, body := e.do("POST", e.bariHost, "/gestione/chiamate/"+k.ID+"/documenti?name=a.pdf", true,
			strings.NewReader(string(callPDF())), map[string]string{authweb.CSRFHeader: e.csrf, "Content-Type": "application/pdf"})
		if status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
		ds, err := e.calls.store.ListRef(e.ctx, e.bari.ID, "ticket:"+k.ID)
		if err != nil || len(ds) != 1 {
			t.Fatalf("the ticket's documents: %+v, %v", ds, err)
		}
		return ds[0]
	}
	if d := upload(); d.Expires.Sub(d.Uploaded) != docs.DefaultRetention {
		t.Errorf("default: expires %s after upload, want %s", d.Expires.Sub(d.Uploaded), docs.DefaultRetention)
	}
	s, err := e.tenants.Settings(e.ctx, e.bari.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.DocumentRetentionDays = 7
	if _, err := e.tenants.SaveSettings(e.ctx, e.bari.ID, s); err != nil {
		t.Fatal(err)
	}
	if d := upload(); !d.Expires.Equal(d.Uploaded.Add(7 * 24 * time.Hour)) {
		t.Errorf("7 days: uploaded %s, expires %s; want upload + 7 days", d.Uploaded, d.Expires)
	}
}

// TestCallInvite: the operator's call page offers the invite form; the
// link it makes opens the call page as a guest in the lobby; an empty
// name is refused; a tampered token, the link on another Comune's host,
// a document link's token and the link of an ended room are refused.
func TestCallInvite(t *testing.T) {
	t.Parallel()
	e := newCallEnv(t)
	k := e.videoTicket()
	if status, _ := e.invite(k.ID, "Ivo Interprete"); status != http.StatusNotFound {
		t.Errorf("invite before the call is open: %d, want 404", status)
	}
	status, body := e.do("GET", e.bariHost, "/gestione/chiamate/"+k.ID, true, nil, nil)
	if status != http.StatusOK || !strings.Contains(body, "Invita un collega o un interprete") ||
		!strings.Contains(body, `action="/gestione/chiamate/`+k.ID+`/invito"`) {
		t.Fatalf("operator's call page: %d, no invite form", status)
	}
	if status, body := e.invite(k.ID, "   "); status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "Scrivi il nome della persona che vuoi invitare.") {
		t.Errorf("invite without a name: %d, want 422 with the field error", status)
	}
	if status, _ := e.do("POST", e.bariHost, "/gestione/chiamate/"+k.ID+"/invito", true,
		strings.NewReader("nome=Ivo"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != http.StatusForbidden {
		t.Errorf("invite without the CSRF token: %d, want 403", status)
	}
	status, body = e.invite(k.ID, "Ivo Interprete")
	if status != http.StatusOK {
		t.Fatalf("invite: %d\n%s", status, body)
	}
	link := inviteOf(t, body)

	status, body = e.do("GET", e.bariHost, link, false, nil, nil)
	if status != http.StatusOK || !strings.Contains(body, `data-name="Ivo Interprete"`) || strings.Contains(body, `data-role="operator"`) {
		t.Errorf("the guest's page: %d, want the call page for Ivo Interprete as a participant", status)
	}
	tok := strings.TrimPrefix(link, invitePath+"?t=")
	raw, _ := url.QueryUnescape(tok)
	tampered := raw[:len(raw)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(raw, "AA")]
	if status, _ := e.do("GET", e.bariHost, invitePath+"?t="+url.QueryEscape(tampered), false, nil, nil); status != http.StatusNotFound {
		t.Errorf("tampered token: %d, want 404", status)
	}
	if status, _ := e.do("GET", e.altamuraHost, link, false, nil, nil); status != http.StatusNotFound {
		t.Errorf("the link on another Comune's host: %d, want 404", status)
	}
	// A document link carries a room token too; it is not an invite,
	// whoever uploaded.
	status, body = e.do("POST", e.bariHost, "/gestione/chiamate/"+k.ID+"/documenti?name=a.pdf", true,
		strings.NewReader(string(callPDF())), map[string]string{authweb.CSRFHeader: e.csrf, "Content-Type": "application/pdf"})
	var n struct{ URL string }
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &n) != nil {
		t.Fatalf("operator's upload: %d %s", status, body)
	}
	du, _ := url.Parse(n.URL)
	if status, _ := e.do("GET", e.bariHost, invitePath+"?t="+url.QueryEscape(du.Query().Get("t")), false, nil, nil); status != http.StatusNotFound {
		t.Errorf("a document link's token as an invite: %d, want 404", status)
	}
	// The guest uploads too; its document is the ticket's.
	status, body = e.do("POST", e.bariHost, invitePath+"/documenti?t="+tok+"&name=b.pdf", false,
		strings.NewReader(string(callPDF())), map[string]string{"Content-Type": "application/pdf"})
	if status != http.StatusCreated {
		t.Errorf("guest's upload: %d %s", status, body)
	}
	if ds, err := e.calls.store.ListRef(e.ctx, e.bari.ID, "ticket:"+k.ID); err != nil || len(ds) != 2 ||
		!strings.HasPrefix(ds[1].From, guestPrefix) {
		t.Errorf("the ticket's documents: %+v, %v; want the operator's and the guest's", ds, err)
	}

	room, err := e.calls.rooms.ByRef(e.ctx, e.bari.ID, media.RoomRef{Kind: media.RefTicket, ID: k.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.calls.rooms.End(e.ctx, e.bari.ID, room.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do("GET", e.bariHost, link, false, nil, nil); status != http.StatusGone {
		t.Errorf("the link of an ended room: %d, want 410", status)
	}
	if status, _ := e.invite(k.ID, "Ivo Interprete"); status != http.StatusGone {
		t.Errorf("invite into an ended room: %d, want 410", status)
	}
}

// socketMsgs reads the messages of a call socket.
type socketMsgs struct {
	t *testing.T
	c *websocket.Conn
}

func (e *callEnv) dial(path string, operator bool) socketMsgs {
	e.t.Helper()
	h := http.Header{}
	if operator {
		h.Set("Cookie", authweb.SessionCookie+"="+e.cookie)
	}
	c, _, err := websocket.Dial(e.ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+path,
		&websocket.DialOptions{Host: e.bariHost, HTTPHeader: h})
	if err != nil {
		e.t.Fatalf("dial %s: %v", path, err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return socketMsgs{e.t, c}
}

// next returns the next message of type typ, skipping the others.
func (s socketMsgs) next(ctx context.Context, typ string) map[string]any {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		_, b, err := s.c.Read(ctx)
		if err != nil {
			s.t.Fatalf("waiting for %q: %v", typ, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("message %s: %v", b, err)
		}
		if m["type"] == typ {
			return m
		}
	}
}

// TestCallInviteSocket: the guest's socket (on the invite link's URL)
// joins the room in the lobby; the operator sees them waiting, by name,
// and admits them.
func TestCallInviteSocket(t *testing.T) {
	t.Parallel()
	e := newCallEnv(t)
	k := e.videoTicket()
	op := e.dial("/gestione/chiamate/"+k.ID, true)
	if w := op.next(e.ctx, "welcome"); w["role"] != string(media.RoleOperator) {
		t.Fatalf("operator's welcome: %v", w)
	}
	status, body := e.invite(k.ID, "Carla Collega")
	if status != http.StatusOK {
		t.Fatalf("invite: %d", status)
	}
	guest := e.dial(inviteOf(t, body), false)
	w := guest.next(e.ctx, "welcome")
	if w["lobby"] != true || w["role"] != string(media.RoleGuest) {
		t.Fatalf("guest's welcome: %v, want the lobby as a guest", w)
	}
	id, _ := w["id"].(string)
	if !strings.HasPrefix(id, guestPrefix) {
		t.Errorf("guest's participant ID %q", id)
	}
	joined := op.next(e.ctx, "participant")
	p, _ := joined["participant"].(map[string]any)
	if p["id"] != id || p["name"] != "Carla Collega" || p["lobby"] != true {
		t.Fatalf("operator sees %v, want Carla Collega waiting", joined)
	}
	if err := op.c.Write(e.ctx, websocket.MessageText, []byte(`{"type":"admit","id":"`+id+`"}`)); err != nil {
		t.Fatal(err)
	}
	guest.next(e.ctx, "admitted")
}
