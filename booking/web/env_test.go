package web

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The hosts of the two test Comuni.
const (
	bariHost  = "bari.example.it"
	lecceHost = "lecce.example.it"
)

// rome is the Comuni's zone.
var rome = tenant.Tenant{}.Location()

// testNow is the start of every test's clock: Monday 1 March 2027, 08:00.
var testNow = time.Date(2027, 3, 1, 8, 0, 0, 0, rome)

// comune is a test Comune with its seeded offices and services.
type comune struct {
	Tenant tenant.Tenant
	Host   string
	// Office is open Monday to Friday 9–12; InPerson (30 min, capacity 1,
	// in person only, notice 2 h, cancel by 24 h) and Remote (20 min,
	// capacity 2, video, phone and in person) are its services.
	Office   booking.Office
	InPerson booking.Service
	Remote   booking.Service
	// Other is a second office with one service.
	Other        booking.Office
	OtherService booking.Service
}

// env is a handler over a real one-node cluster with two Comuni.
type env struct {
	t       *testing.T
	clock   *clustertest.Clock
	node    *cluster.Node
	book    *booking.Book
	handler *Handler
	srv     http.Handler
	bari    comune
	lecce   comune
}

type envOption func(*Config)

// newEnv starts a node, creates the Comuni "bari" and "lecce" with their
// offices and services, and builds the handler behind site.Tenant.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	cfg := Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: RateLimit{PerMinute: -1}}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	s.Routes(mux)
	e := &env{t: t, clock: clk, node: n, book: book, handler: h, srv: s.Tenant(mux)}
	e.bari = e.seed(reg, "bari", "Comune di Bari", "072006", bariHost)
	e.lecce = e.seed(reg, "lecce", "Comune di Lecce", "075035", lecceHost)
	return e
}

func (e *env) seed(reg *tenant.Registry, id, name, istat, host string) comune {
	t := e.t
	t.Helper()
	ctx := context.Background()
	ten, err := reg.Create(ctx, tenant.Tenant{ID: tenant.ID(id), Name: name, ISTAT: istat})
	if err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	c := comune{Tenant: ten, Host: host}
	c.Office = e.must(e.book.SaveOffice(ctx, ten.ID, booking.Office{
		Name: "Anagrafe " + name, Address: "Corso Vittorio Emanuele 1", Phone: "080 1234567", Hours: week,
	}))
	c.InPerson = e.mustSvc(e.book.SaveService(ctx, ten.ID, booking.Service{
		OfficeID: c.Office.ID, Name: "Rilascio carta d'identità elettronica", Description: "La CIE si richiede allo sportello.",
		Category: "Anagrafe e stato civile", WhatToBring: []string{"Una fototessera recente", "La vecchia carta d'identità"},
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: 2 * time.Hour, HorizonDays: 30, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	}))
	c.Remote = e.mustSvc(e.book.SaveService(ctx, ten.ID, booking.Service{
		OfficeID: c.Office.ID, Name: "Cambio di residenza", Description: "Informazioni sul cambio di residenza.",
		Category: "Anagrafe e stato civile", WhatToBring: []string{"Un documento d'identità"},
		Duration: 20 * time.Minute, Channels: []booking.Channel{booking.InPerson, booking.Video, booking.Phone}, Capacity: 2,
		MinNotice: time.Hour, HorizonDays: 60, CancelDeadline: time.Hour, MaxActivePerCitizen: 1,
	}))
	c.Other = e.must(e.book.SaveOffice(ctx, ten.ID, booking.Office{
		Name: "Ripartizione Urbanistica " + name, Address: "Via Roma 2", Hours: week,
	}))
	c.OtherService = e.mustSvc(e.book.SaveService(ctx, ten.ID, booking.Service{
		OfficeID: c.Other.ID, Name: "Certificato di destinazione urbanistica", Category: "Catasto e urbanistica",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour, MaxActivePerCitizen: 1,
	}))
	return c
}

func (e *env) must(o booking.Office, err error) booking.Office {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("save office: %v", err)
	}
	return o
}

func (e *env) mustSvc(s booking.Service, err error) booking.Service {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("save service: %v", err)
	}
	return s
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// do sends a request to the handler from the address 192.0.2.10. header
// holds extra headers.
func (e *env) do(method, host, target string, body io.Reader, header map[string]string) response {
	req := httptest.NewRequest(method, target, body)
	req.Host = host
	req.RemoteAddr = "192.0.2.10:40000"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.serve(req)
}

// newRequest builds a request with a string body ("" for none).
func newRequest(method, host, target, body string, header map[string]string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

func (e *env) serve(req *http.Request) response {
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func (e *env) get(host, target string) response { return e.do("GET", host, target, nil, nil) }

// postForm posts form values as a browser on host's own pages would.
func (e *env) postForm(host, target string, v url.Values) response {
	e.t.Helper()
	return e.do("POST", host, target, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type":   "application/x-www-form-urlencoded",
		"Origin":         "http://" + host,
		"Sec-Fetch-Site": "same-origin",
	})
}

// postJSON posts a JSON body.
func (e *env) postJSON(host, target, body string, header map[string]string) response {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range header {
		h[k] = v
	}
	return e.do("POST", host, target, strings.NewReader(body), h)
}

// slot returns the start of a slot on day (of March 2027) at hh:mm.
func slot(day, hh, mm int) time.Time { return time.Date(2027, 3, day, hh, mm, 0, 0, rome) }

// validCitizen is a citizen whose data pass every check.
var validCitizen = booking.Citizen{
	GivenName: "Mario", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "mario.rossi@example.org",
}

// citizen returns the n-th (0–99) of a hundred different valid citizens.
func citizen(n int) booking.Citizen {
	base := fmt.Sprintf("RSSMRA85T10A5%02d", n%100)
	for c := 'A'; c <= 'Z'; c++ {
		if cf := base + string(c); booking.ValidFiscalCode(cf) {
			return booking.Citizen{GivenName: "Mario", FamilyName: "Rossi", FiscalCode: cf, Email: fmt.Sprintf("mario%d@example.org", n)}
		}
	}
	panic("no check character for " + base)
}

// create books directly through the Book, for tests of the manage pages.
func (e *env) create(t testing.TB, c comune, svc booking.Service, start time.Time, ch booking.Channel, cit booking.Citizen) booking.Created {
	t.Helper()
	cr, err := e.book.Create(context.Background(), c.Tenant, booking.Request{
		ServiceID: svc.ID, Start: start, Channel: ch, Citizen: cit, PrivacyAccepted: true,
	}, "http://"+c.Host)
	if err != nil {
		t.Fatalf("create booking: %v", err)
	}
	return cr
}

// HTML helpers. The pages are ours, so a few regular expressions read
// them reliably: attributes are always double-quoted by html/template.

var (
	formRE     = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE    = regexp.MustCompile(`<input\b[^>]*>`)
	textareaRE = regexp.MustCompile(`(?s)<textarea\b([^>]*)>(.*?)</textarea>`)
	attrRE     = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?`)
	tagRE      = regexp.MustCompile(`<[^>]*>`)
	spaceRE    = regexp.MustCompile(`\s+`)
)

// attrs parses the attributes of a tag.
func attrs(tag string) map[string]string {
	tag = strings.TrimPrefix(strings.TrimSuffix(tag, ">"), "<")
	if i := strings.IndexAny(tag, " \t\n"); i >= 0 {
		tag = tag[i:]
	} else {
		tag = ""
	}
	out := map[string]string{}
	for _, m := range attrRE.FindAllStringSubmatch(tag, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// form is a parsed form of a page.
type form struct {
	Action string
	Values url.Values
	// Radios lists the values offered for each radio group.
	Radios map[string][]string
}

// findForm returns the form of page whose action is action and whose body
// contains marker ("" for the first with that action).
func findForm(t *testing.T, page, action, marker string) form {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		a := attrs("<form" + m[1] + ">")
		if a["action"] != action || !strings.Contains(m[2], marker) {
			continue
		}
		f := form{Action: action, Values: url.Values{}, Radios: map[string][]string{}}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			ia := attrs(in)
			name := ia["name"]
			if name == "" {
				continue
			}
			_, checked := ia["checked"]
			switch ia["type"] {
			case "radio":
				f.Radios[name] = append(f.Radios[name], ia["value"])
				if checked {
					f.Values.Set(name, ia["value"])
				}
			case "checkbox":
				if checked {
					f.Values.Set(name, ia["value"])
				}
			default:
				f.Values.Add(name, ia["value"])
			}
		}
		for _, ta := range textareaRE.FindAllStringSubmatch(m[2], -1) {
			f.Values.Set(attrs("<textarea" + ta[1] + ">")["name"], html.UnescapeString(ta[2]))
		}
		return f
	}
	t.Fatalf("no form with action %q containing %q in page:\n%s", action, marker, page)
	return form{}
}

// text returns the page's text without tags, spaces collapsed.
func text(page string) string {
	return strings.TrimSpace(spaceRE.ReplaceAllString(html.UnescapeString(tagRE.ReplaceAllString(page, " ")), " "))
}

// elementByID returns the start tag of the element with id.
func elementByID(page, id string) string {
	re := regexp.MustCompile(`<[a-z]+\b[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	return re.FindString(page)
}
