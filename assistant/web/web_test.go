package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/chat"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

const bariHost = "bari.example.it"

var testNow = time.Date(2027, 3, 1, 10, 0, 0, 0, tenant.Tenant{}.Location())

// catalogues builds each Comune's catalogue from its booking tables, as
// knowledge.Store does.
type catalogues struct{ book *booking.Book }

func (c catalogues) Catalogue(ctx context.Context, t tenant.Tenant) (*knowledge.Catalogue, error) {
	offices, err := c.book.Offices(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	cat := &knowledge.Catalogue{Services: map[string]booking.Service{}, Offices: map[string]booking.Office{}}
	var docs []assistant.Doc
	for _, o := range offices {
		cat.Offices[o.ID] = o
		for _, s := range o.Services {
			cat.Services[s.ID] = s
			docs = append(docs, assistant.Doc{ServiceID: s.ID, OfficeID: o.ID, Name: s.Name, OfficeName: o.Name,
				Description: s.Description, Bring: strings.Join(s.WhatToBring, "; ")})
		}
	}
	cat.Index = assistant.NewIndex(docs)
	return cat, nil
}

type env struct {
	t   *testing.T
	srv http.Handler
}

// newEnv serves the handler over a one-node cluster holding the demo
// catalogue for the Comune of Bari.
func newEnv(t *testing.T, rl RateLimit) *env {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register, queue.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	ctx := context.Background()
	ten, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"})
	if err != nil {
		t.Fatal(err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 13 * 60}}
	}
	for _, o := range assistant.DemoOffices() {
		if _, err := book.SaveOffice(ctx, ten.ID, booking.Office{ID: o.ID, Name: o.Name, Address: o.Address, Phone: o.Phone, Email: o.Email, Hours: week}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range assistant.DemoCatalogue() {
		if _, err := book.SaveService(ctx, ten.ID, booking.Service{ID: s.ID, OfficeID: s.OfficeID, Name: s.Name,
			Description: s.Description, WhatToBring: s.Bring, Duration: 20 * time.Minute, Channels: []booking.Channel{booking.InPerson},
			Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1}); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := chat.New(chat.Config{Catalogues: catalogues{book}, Book: book, Queue: queue.New(n, n.DB(), book, clk.Now, rand.Reader),
		Key: make([]byte, 32), Now: clk.Now, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t), Assistant: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Engine: eng, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: rl})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	s.Routes(mux)
	return &env{t: t, srv: s.Tenant(mux)}
}

type response struct {
	Status int
	Header http.Header
	Body   string
}

func (e *env) do(method, host, target, body string, header map[string]string) response {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Host = host
	req.RemoteAddr = "192.0.2.10:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

var jsonHeader = map[string]string{"Content-Type": "application/json"}

func (e *env) api(body string) response { return e.do("POST", bariHost, APIPath, body, jsonHeader) }

func decode(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// TestAPIConversation: the API answers with the token, the reply, the
// suggestions best first and the actions, and the token carries the
// conversation to the next message.
func TestAPIConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	r := e.api(`{"message":"certificato"}`)
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, Cache-Control %q: %s", r.Status, r.Header.Get("Cache-Control"), r.Body)
	}
	var raw map[string]json.RawMessage
	decode(t, r, &raw)
	for _, k := range []string{"conversation_id", "reply", "suggestions", "actions"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, r.Body)
		}
	}
	var a apiResponse
	decode(t, r, &a)
	if a.ConversationID == "" || len(a.Suggestions) < 2 {
		t.Fatalf("want a clarifying answer with suggestions: %s", r.Body)
	}
	for i := 1; i < len(a.Suggestions); i++ {
		if a.Suggestions[i].Score > a.Suggestions[i-1].Score || a.Suggestions[i].ServiceID == "" || a.Suggestions[i].Name == "" {
			t.Errorf("suggestions: %+v", a.Suggestions)
		}
	}
	body, _ := json.Marshal(apiRequest{Message: a.Suggestions[0].Name, ConversationID: a.ConversationID})
	r = e.api(string(body))
	var b apiResponse
	decode(t, r, &b)
	if r.Status != http.StatusOK || !strings.Contains(b.Reply, "http://"+bariHost+"/servizi/"+a.Suggestions[0].ServiceID) {
		t.Fatalf("follow-up %d: %s", r.Status, r.Body)
	}
	if len(b.Actions) == 0 || b.Actions[0].Type == "" || b.Actions[0].Label == "" {
		t.Errorf("actions %+v", b.Actions)
	}

	// English on request.
	r = e.api(`{"message":"carta d'identità","lang":"en"}`)
	decode(t, r, &b)
	if b.Lang != "en" || !strings.Contains(b.Reply, "is a service of the office") {
		t.Errorf("lang=en: %s", r.Body)
	}
}

// TestAPIErrors: bad input answers the API's JSON error with the field
// at fault, and changes nothing.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	long, _ := json.Marshal(apiRequest{Message: strings.Repeat("x", chat.MaxMessage+1)})
	for _, tc := range []struct {
		name, body string
		header     map[string]string
		status     int
		code       string
		field      string
	}{
		{"empty", `{"message":""}`, jsonHeader, 422, "invalid", "message"},
		{"blank", `{"message":"   "}`, jsonHeader, 422, "invalid", "message"},
		{"too long", string(long), jsonHeader, 422, "invalid", "message"},
		{"bad lang", `{"message":"ciao","lang":"fr"}`, jsonHeader, 422, "invalid", "lang"},
		{"unknown field", `{"message":"ciao","name":"x"}`, jsonHeader, 422, "invalid", "name"},
		{"wrong type", `{"message":3}`, jsonHeader, 422, "invalid", "message"},
		{"malformed", `{"message":`, jsonHeader, 400, "malformed", ""},
		{"trailing", `{"message":"ciao"} {}`, jsonHeader, 400, "malformed", ""},
		{"not json", `message=ciao`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "media", ""},
		{"too large", `{"message":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`, jsonHeader, 413, "too_large", ""},
		{"cross site", `{"message":"ciao"}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403, "cross_site", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", bariHost, APIPath, tc.body, tc.header)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			var eb errorBody
			decode(t, r, &eb)
			if eb.Error.Code != tc.code || eb.Error.Message == "" {
				t.Errorf("error %+v, want code %s", eb.Error, tc.code)
			}
			if tc.field != "" && eb.Error.Fields[tc.field] == "" {
				t.Errorf("fields %v lack %s", eb.Error.Fields, tc.field)
			}
		})
	}
	// An unknown host is no Comune.
	if r := e.do("POST", "nessuno.example.it", APIPath, `{"message":"ciao"}`, jsonHeader); r.Status != http.StatusNotFound {
		t.Errorf("unknown host: %d", r.Status)
	}
}

// TestAPIRateLimit: past the burst, 429 with Retry-After.
func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: 1, Burst: 2})
	for i := range 2 {
		if r := e.api(`{"message":"ciao"}`); r.Status != http.StatusOK {
			t.Fatalf("message %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := e.api(`{"message":"ciao"}`)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third message: %d, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	var eb errorBody
	decode(t, r, &eb)
	if eb.Error.Code != "rate_limited" {
		t.Errorf("code %q", eb.Error.Code)
	}
}

var hiddenConversation = regexp.MustCompile(`name="conversazione" value="([^"]*)"`)

// TestPageWithoutJavaScript: the page holds the conversation with plain
// forms: the exchange in a polite live log, a labelled field, suggestions
// as buttons; a refused message shows its error on the field.
func TestPageWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	r := e.do("GET", bariHost, PagePath, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET: %d", r.Status)
	}
	for _, want := range []string{`role="log"`, `aria-live="polite"`, `<label for="messaggio"`, `id="messaggio" name="messaggio"`, `href="/assistente/widget.css?v=`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(r.Body) {
		t.Errorf("page has an inline script")
	}
	form := url.Values{"messaggio": {"certificato"}}
	r = e.do("POST", bariHost, PagePath, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.Status != http.StatusOK {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	for _, want := range []string{"certificato", "Quale ti serve", `name="messaggio" value="Certificati anagrafici e stato di famiglia"`, `id="ultima"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("answer page lacks %s", want)
		}
	}
	m := hiddenConversation.FindStringSubmatch(r.Body)
	if m == nil || m[1] == "" {
		t.Fatalf("no conversation token in the page")
	}
	form = url.Values{"messaggio": {"Certificati anagrafici e stato di famiglia"}, "conversazione": {htmlUnescape(m[1])}}
	r = e.do("POST", bariHost, PagePath, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	for _, want := range []string{"Quale ti serve", "Marca da bollo", `href="http://bari.example.it/servizi/certificati"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("second answer lacks %s", want)
		}
	}
	form = url.Values{"messaggio": {""}, "conversazione": {htmlUnescape(m[1])}}
	r = e.do("POST", bariHost, PagePath, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `id="messaggio-errore"`) || !strings.Contains(r.Body, `aria-invalid="true"`) {
		t.Errorf("empty message: %d, want 422 with the field's error", r.Status)
	}
}

// TestPageHandoffLink: the office's phone is a working tel: link on the
// page.
func TestPageHandoffLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	form := url.Values{"messaggio": {"vorrei parlare con un operatore dei tributi"}}
	r := e.do("POST", bariHost, PagePath, form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if !strings.Contains(r.Body, `href="tel:0800001010"`) || strings.Contains(r.Body, "ZgotmplZ") {
		t.Errorf("no tel: link to Tributi in the page (status %d)", r.Status)
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&#43;", "+", "&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// TestWidget: the script is served as JavaScript with its strings and
// revalidates by ETag; the stylesheet's versioned URL is cached for a
// year.
func TestWidget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	r := e.do("GET", bariHost, WidgetPath, "", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") || r.Header.Get("ETag") == "" {
		t.Fatalf("widget.js: %d %v", r.Status, r.Header)
	}
	if !strings.Contains(r.Body, "SPORTELLO_ASSISTANT") || !strings.Contains(r.Body, "Assistente virtuale") || !strings.Contains(r.Body, "Virtual assistant") {
		t.Errorf("widget.js lacks its strings")
	}
	if r2 := e.do("GET", bariHost, WidgetPath, "", map[string]string{"If-None-Match": r.Header.Get("ETag")}); r2.Status != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", r2.Status)
	}
	style := regexp.MustCompile(`"style":"([^"]+)"`).FindStringSubmatch(r.Body)
	if style == nil {
		t.Fatalf("widget.js names no stylesheet")
	}
	r = e.do("GET", bariHost, style[1], "", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("widget.css: %d %v", r.Status, r.Header)
	}
}

// TestMessagesComplete: every language has Italian's keys.
func TestMessagesComplete(t *testing.T) {
	if m := messages.Missing(); len(m) > 0 {
		t.Errorf("missing strings: %v", m)
	}
}
