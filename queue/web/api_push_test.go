package web

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
)

// testPushKey stands for the cluster's VAPID public key.
const testPushKey = "BHgaLb7qMjwfgs3yDkhMSDLhxqOBhfT3iyGQ6pySTzHrykcTq1dVq8XYOHsrF1V1W2p9b9VSZTn7I0YqH7nBmcw"

// pushAnswer is a recorded answer of the push routes.
type pushAnswer struct {
	Status int
	Header http.Header
	Body   string
	Err    errorDetail
}

// pushDo sends a request to the push routes as a script of the page
// would (same origin).
func (e *env) pushDo(method, host, target, contentType, body string, header map[string]string) pushAnswer {
	e.t.Helper()
	req := httptest.NewRequest(method, "http://"+host+target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	a := pushAnswer{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
	if rec.Code >= 400 {
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			e.t.Fatalf("%s %s: error body %q is not {\"error\":{code,message}}", method, target, rec.Body.String())
		}
		a.Err = eb.Error
	}
	return a
}

// subscriptionJSON is what PushSubscription.toJSON() gives for a browser
// of endpoint, with fresh keys.
func subscriptionJSON(t *testing.T, endpoint, lang string) string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	enc := base64.RawURLEncoding
	b, _ := json.Marshal(map[string]any{
		"endpoint": endpoint, "expirationTime": nil, "lang": lang,
		"keys": map[string]string{"p256dh": enc.EncodeToString(k.PublicKey().Bytes()), "auth": enc.EncodeToString(auth)},
	})
	return string(b)
}

// withPushKey turns Web Push on for the env's handler.
func (e *env) withPushKey() {
	e.handler.pushKey = func(context.Context) (string, error) { return testPushKey, nil }
}

func TestPushAPI(t *testing.T) {
	t.Parallel()
	d := loadQueueDoc(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	ctx := context.Background()
	documented := func(op string, a pushAnswer) {
		t.Helper()
		if !d.ops[op][strconv.Itoa(a.Status)] {
			t.Errorf("%s answered %d, which the document does not list", op, a.Status)
		}
	}
	const (
		keyOp   = "GET /api/v1/push/key"
		subOp   = "POST /api/v1/tickets/{id}/push"
		unsubOp = "DELETE /api/v1/tickets/{id}/push"
	)
	k := e.take(e.bari, `{"channel":"in_person"}`)
	if k.Status != http.StatusCreated {
		t.Fatalf("take: %d", k.Status)
	}
	status := path(t, k.Ticket.StatusURL)
	secret := status[strings.Index(status, "secret=")+len("secret="):]
	target := "/api/v1/tickets/" + k.Ticket.ID + "/push?secret=" + secret
	fcm := "https://fcm.googleapis.com/fcm/send/"

	// Without a VAPID key the node offers no push.
	a := e.pushDo("GET", e.bari.host, "/api/v1/push/key", "", "", nil)
	documented(keyOp, a)
	if a.Status != http.StatusNotFound || a.Err.Code != "push_unavailable" {
		t.Errorf("key without push: %d %s", a.Status, a.Err.Code)
	}
	if a := e.pushDo("POST", e.bari.host, target, "application/json", subscriptionJSON(t, fcm+"a", "it"), nil); a.Status != http.StatusNotFound {
		t.Errorf("subscribe without push: %d", a.Status)
	}

	e.withPushKey()
	a = e.pushDo("GET", e.bari.host, "/api/v1/push/key", "", "", nil)
	documented(keyOp, a)
	var key apiPushKeyView
	if err := json.Unmarshal([]byte(a.Body), &key); a.Status != http.StatusOK || err != nil || key.PublicKey != testPushKey {
		t.Errorf("key: %d %s", a.Status, a.Body)
	}
	var got map[string]any
	_ = json.Unmarshal([]byte(a.Body), &got)
	for f := range got {
		if !d.schemas["PushKey"][f] {
			t.Errorf("key answer field %q is not in the PushKey schema", f)
		}
	}

	for _, c := range []struct {
		name, target, ct, body string
		header                 map[string]string
		status                 int
		code                   string
		fields                 []string
	}{
		{"subscribed", target, "application/json", subscriptionJSON(t, fcm+"a", "de"), nil, 204, "", nil},
		{"bearer secret", "/api/v1/tickets/" + k.Ticket.ID + "/push", "application/json", subscriptionJSON(t, fcm+"b", ""),
			map[string]string{"Authorization": "Bearer " + secret}, 204, "", nil},
		{"unknown push service", target, "application/json", subscriptionJSON(t, "https://push.example.com/x", "it"), nil, 422, "validation_failed", []string{"endpoint"}},
		{"private address", target, "application/json", subscriptionJSON(t, "https://10.1.2.3/push/x", "it"), nil, 422, "validation_failed", []string{"endpoint"}},
		{"plain http", target, "application/json", subscriptionJSON(t, "http://fcm.googleapis.com/fcm/send/x", "it"), nil, 422, "validation_failed", []string{"endpoint"}},
		{"no keys", target, "application/json", `{"endpoint":"` + fcm + `c"}`, nil, 422, "validation_failed", []string{"keys.p256dh", "keys.auth"}},
		{"bad keys", target, "application/json", `{"endpoint":"` + fcm + `c","keys":{"p256dh":"AAAA","auth":"AAAA"}}`, nil, 422, "validation_failed", []string{"keys"}},
		{"wrong type", target, "application/json", `{"endpoint":5}`, nil, 422, "validation_failed", []string{"endpoint"}},
		{"unknown field", target, "application/json", `{"endpoint":"` + fcm + `c","colore":"blu"}`, nil, 422, "validation_failed", []string{"colore"}},
		{"malformed", target, "application/json", `{"endpoint":`, nil, 400, "bad_request", nil},
		{"not JSON", target, "text/plain", `{}`, nil, 415, "unsupported_media_type", nil},
		{"too large", target, "application/json", `{"endpoint":"` + fcm + strings.Repeat("x", 5000) + `"}`, nil, 413, "payload_too_large", nil},
		{"no secret", "/api/v1/tickets/" + k.Ticket.ID + "/push", "application/json", subscriptionJSON(t, fcm+"c", "it"), nil, 401, "secret_required", nil},
		{"wrong secret", "/api/v1/tickets/" + k.Ticket.ID + "/push?secret=sbagliato", "application/json", subscriptionJSON(t, fcm+"c", "it"), nil, 404, "not_found", nil},
		{"unknown ticket", "/api/v1/tickets/nessuno/push?secret=" + secret, "application/json", subscriptionJSON(t, fcm+"c", "it"), nil, 404, "not_found", nil},
		{"cross-site", target, "application/json", subscriptionJSON(t, fcm+"c", "it"), map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross_site", nil},
	} {
		a := e.pushDo("POST", e.bari.host, c.target, c.ct, c.body, c.header)
		documented(subOp, a)
		if a.Status != c.status || a.Err.Code != c.code {
			t.Errorf("%s: got %d %s (%s), want %d %s", c.name, a.Status, a.Err.Code, a.Body, c.status, c.code)
		}
		for _, f := range c.fields {
			if a.Err.Fields[f] == "" {
				t.Errorf("%s: no Italian message on field %s: %v", c.name, f, a.Err.Fields)
			}
		}
	}
	// Another Comune's host does not find bari's ticket, secret or not.
	a = e.pushDo("POST", e.lecce.host, target, "application/json", subscriptionJSON(t, fcm+"c", "it"), nil)
	documented(subOp, a)
	if a.Status != http.StatusNotFound {
		t.Errorf("bari's ticket on lecce's host: %d, want 404", a.Status)
	}
	if n, err := e.q.PushSubscriptions(ctx, e.bari.tenant.ID, k.Ticket.ID); err != nil || n != 2 {
		t.Errorf("%d subscriptions (%v), want the 2 accepted", n, err)
	}

	// Unsubscribe one browser, twice: 204 both times.
	for range 2 {
		a = e.pushDo("DELETE", e.bari.host, target, "application/json", `{"endpoint":"`+fcm+`a"}`, nil)
		documented(unsubOp, a)
		if a.Status != http.StatusNoContent {
			t.Errorf("unsubscribe: %d %s", a.Status, a.Body)
		}
	}
	for _, c := range []struct {
		target, body string
		status       int
	}{
		{"/api/v1/tickets/" + k.Ticket.ID + "/push?secret=sbagliato", `{"endpoint":"` + fcm + `b"}`, 404},
		{target, `{}`, 422},
	} {
		a = e.pushDo("DELETE", e.bari.host, c.target, "application/json", c.body, nil)
		documented(unsubOp, a)
		if a.Status != c.status {
			t.Errorf("DELETE %s %s: %d, want %d", c.target, c.body, a.Status, c.status)
		}
	}
	if n, _ := e.q.PushSubscriptions(ctx, e.bari.tenant.ID, k.Ticket.ID); n != 1 {
		t.Errorf("%d subscriptions after unsubscribing one, want 1", n)
	}

	// A closed ticket takes no subscription and keeps none.
	if a := e.do("DELETE", e.bari.host, status, "", ""); a.Status != http.StatusOK {
		t.Fatalf("leave the queue: %d", a.Status)
	}
	a = e.pushDo("POST", e.bari.host, target, "application/json", subscriptionJSON(t, fcm+"d", "it"), nil)
	documented(subOp, a)
	if a.Status != http.StatusConflict || a.Err.Code != "ticket_closed" {
		t.Errorf("subscribe a cancelled ticket: %d %s", a.Status, a.Err.Code)
	}
	if n, _ := e.q.PushSubscriptions(ctx, e.bari.tenant.ID, k.Ticket.ID); n != 0 {
		t.Errorf("%d subscriptions kept after the citizen left", n)
	}
}

// TestPushRequestIsDocumented: the fields the subscription decodes are
// the schemas' properties.
func TestPushRequestIsDocumented(t *testing.T) {
	d := loadQueueDoc(t)
	for _, c := range []struct {
		schema string
		fields []string
	}{
		{"PushSubscription", []string{"endpoint", "expirationTime", "keys", "lang"}},
		{"PushUnsubscribe", []string{"endpoint"}},
		{"PushKey", []string{"public_key"}},
	} {
		for _, f := range c.fields {
			if !d.schemas[c.schema][f] {
				t.Errorf("%s lacks %s", c.schema, f)
			}
		}
		if len(d.schemas[c.schema]) != len(c.fields) {
			t.Errorf("%s has %d properties, want %v", c.schema, len(d.schemas[c.schema]), c.fields)
		}
	}
	for _, v := range []any{apiPushRequest{}, apiPushUnsubscribeRequest{}, apiPushKeyView{}} {
		b, _ := json.Marshal(v)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for f := range m {
			if !d.schemas["PushSubscription"][f] && !d.schemas["PushUnsubscribe"][f] && !d.schemas["PushKey"][f] {
				t.Errorf("field %s of %T is in no push schema", f, v)
			}
		}
	}
}

// TestPushRateLimit: subscriptions have their own bucket per address,
// so subscribing costs no ticket, and too many answer 429.
func TestPushRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: 1, Burst: 2})
	e.withPushKey()
	k := e.take(e.bari, `{"channel":"in_person"}`)
	status := path(t, k.Ticket.StatusURL)
	target := "/api/v1/tickets/" + k.Ticket.ID + "/push" + status[strings.Index(status, "?"):]
	for i, want := range []int{204, 204, 429} {
		a := e.pushDo("POST", e.bari.host, target, "application/json", subscriptionJSON(t, "https://fcm.googleapis.com/fcm/send/r"+strconv.Itoa(i), "it"), nil)
		if a.Status != want {
			t.Errorf("subscription %d: %d, want %d", i, a.Status, want)
		}
		if want == 429 && (a.Header.Get("Retry-After") == "" || a.Err.Code != "rate_limited") {
			t.Errorf("429 without Retry-After or code: %v %s", a.Header, a.Err.Code)
		}
	}
	if k2 := e.take(e.bari, `{"channel":"in_person"}`); k2.Status != http.StatusCreated {
		t.Errorf("a ticket after the subscriptions: %d, want 201 (own bucket)", k2.Status)
	}
}

// pushBoxRE finds the hidden box push.js shows.
var pushBoxRE = regexp.MustCompile(`<div id="avvisi"[^>]*\shidden[^>]*data-push-url="([^"]+)"[^>]*data-push-ticket="([^"]+)"`)

// TestTicketPageOffersPush: the ticket page carries the hidden button,
// its polite live region and the script (same origin), and the script is
// served; a closed ticket's page has none of them.
func TestTicketPageOffersPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.withPushKey()
	k := e.take(e.bari, `{"channel":"in_person"}`)
	status := path(t, k.Ticket.StatusURL)
	page := e.browse("GET", e.bari.host, "/coda/biglietto/"+k.Ticket.ID+status[strings.Index(status, "?"):], nil)
	if page.Status != http.StatusOK {
		t.Fatalf("ticket page: %d", page.Status)
	}
	m := pushBoxRE.FindStringSubmatch(page.Body)
	if m == nil || html.UnescapeString(m[1]) != "/api/v1/tickets/"+k.Ticket.ID+"/push" || m[2] != k.Ticket.ID {
		t.Fatalf("no hidden push box naming the ticket's route:\n%s", page.Body)
	}
	for _, want := range []string{">Avvisami con una notifica</button>", `id="avvisi-stato" class="small" role="status" aria-live="polite"`,
		`<script src="/coda/push.js" nonce=`, `data-push-secret="`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("ticket page lacks %s", want)
		}
	}
	accessible(t, "ticket page with push", page.Body)
	js := e.browse("GET", e.bari.host, pushScriptPath, nil)
	if js.Status != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(js.Body, `"remember-ticket"`) || !strings.Contains(js.Body, "/api/v1/push/key") ||
		strings.Contains(js.Body, "innerHTML") {
		t.Errorf("push.js: %d %s", js.Status, js.Header.Get("Content-Type"))
	}
	if a := e.do("DELETE", e.bari.host, status, "", ""); a.Status != http.StatusOK {
		t.Fatal("leave")
	}
	page = e.browse("GET", e.bari.host, "/coda/biglietto/"+k.Ticket.ID+status[strings.Index(status, "?"):], nil)
	if strings.Contains(page.Body, `id="avvisi"`) || strings.Contains(page.Body, "push.js") {
		t.Errorf("a closed ticket's page offers notifications")
	}
}

// TestWaitingRoomPush: the waiting room offers the button once checked
// in, and its route subscribes the booking's ticket with the join token
// (a wrong token: 404, nothing stored).
func TestWaitingRoomPush(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	e.withPushKey()
	video := e.bookAt(monday(10, 30), booking.Video, fiscalCodes[0])
	e.clock.Set(monday(10, 20))
	room := e.browse("GET", e.bari.host, booking.JoinPath(video.Code, video.JoinToken), nil)
	m := pushBoxRE.FindStringSubmatch(room.Body)
	if room.Status != http.StatusOK || m == nil {
		t.Fatalf("waiting room without the push box: %d\n%s", room.Status, room.Body)
	}
	k, err := e.q.BookingTicket(context.Background(), e.bari.tenant.ID, video.Code)
	if err != nil {
		t.Fatal(err)
	}
	subURL := html.UnescapeString(m[1])
	if m[2] != k.ID || subURL != "/chiamata/"+video.Code+"/notifiche?t="+video.JoinToken {
		t.Errorf("push box: url %s ticket %s", subURL, m[2])
	}
	if strings.Contains(room.Body, "data-push-secret") {
		t.Error("the waiting room has no ticket secret to give")
	}
	bad := e.pushDo("POST", e.bari.host, "/chiamata/"+video.Code+"/notifiche?t=sbagliato", "application/json",
		subscriptionJSON(t, "https://updates.push.services.mozilla.com/wpush/v2/x", "it"), nil)
	if bad.Status != http.StatusNotFound {
		t.Errorf("wrong join token: %d", bad.Status)
	}
	ok := e.pushDo("POST", e.bari.host, subURL, "application/json",
		subscriptionJSON(t, "https://updates.push.services.mozilla.com/wpush/v2/x", "it"), nil)
	if ok.Status != http.StatusNoContent {
		t.Errorf("waiting room subscription: %d %s", ok.Status, ok.Body)
	}
	if n, _ := e.q.PushSubscriptions(context.Background(), e.bari.tenant.ID, k.ID); n != 1 {
		t.Errorf("%d subscriptions of the room's ticket, want 1", n)
	}
	// Before the check-in (another booking, its room not open yet) there
	// is no ticket to subscribe.
	later := e.bookAt(monday(11, 30), booking.Video, fiscalCodes[1])
	e.clock.Set(monday(10, 21))
	if a := e.pushDo("POST", e.bari.host, "/chiamata/"+later.Code+"/notifiche?t="+later.JoinToken, "application/json",
		subscriptionJSON(t, "https://updates.push.services.mozilla.com/wpush/v2/y", "it"), nil); a.Status != http.StatusNotFound {
		t.Errorf("room not checked in: %d, want 404", a.Status)
	}
}
