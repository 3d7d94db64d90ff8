package web

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The public API has one OpenAPI document for all of /api/v1, served by
// booking/web; the paths it marks "x-owner": "queue" are served here. These
// tests check them against this package's routes and answers.

// queueDoc is the part of the document this package serves.
type queueDoc struct {
	ops     map[string]map[string]bool // "POST /api/v1/…" → documented statuses
	ticket  map[string]bool            // properties of the Ticket schema
	require []string                   // its required properties
	// schemas are the properties of every schema, by name.
	schemas map[string]map[string]bool
}

func loadQueueDoc(t *testing.T) queueDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "booking", "web", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
				Required   []string                   `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	d := queueDoc{ops: map[string]map[string]bool{}, ticket: map[string]bool{}, schemas: map[string]map[string]bool{}}
	for name, sc := range doc.Components.Schemas {
		d.schemas[name] = map[string]bool{}
		for p := range sc.Properties {
			d.schemas[name][p] = true
		}
	}
	for p, item := range doc.Paths {
		var owner string
		_ = json.Unmarshal(item["x-owner"], &owner)
		if owner != "queue" {
			continue
		}
		for m, raw := range item {
			if !slices.Contains([]string{"get", "post", "put", "patch", "delete"}, m) {
				continue
			}
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", m, p, err)
			}
			st := map[string]bool{}
			for code := range op.Responses {
				st[code] = true
			}
			d.ops[strings.ToUpper(m)+" "+p] = st
		}
	}
	k := doc.Components.Schemas["Ticket"]
	for name := range k.Properties {
		d.ticket[name] = true
	}
	d.require = k.Required
	return d
}

// routePattern finds the API routes this package registers.
var routePattern = regexp.MustCompile(`mux\.Handle(?:Func)?\("((?:GET|POST|PUT|PATCH|DELETE) /api/v1/[^"]*)"`)

func TestOpenAPIDescribesEveryQueueRoute(t *testing.T) {
	d := loadQueueDoc(t)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range routePattern.FindAllStringSubmatch(string(b), -1) {
			routes = append(routes, m[1])
		}
	}
	var ops []string
	for op := range d.ops {
		ops = append(ops, op)
	}
	sort.Strings(routes)
	sort.Strings(ops)
	if len(routes) == 0 || strings.Join(routes, "\n") != strings.Join(ops, "\n") {
		t.Errorf("queue API routes and the operations the document gives the queue differ:\nroutes:\n%s\ndocument:\n%s",
			strings.Join(routes, "\n"), strings.Join(ops, "\n"))
	}
}

func TestQueueAnswersAsDocumented(t *testing.T) {
	t.Parallel()
	d := loadQueueDoc(t)
	e := newEnv(t, RateLimit{PerMinute: -1})
	check := func(op string, status int, body string) {
		t.Helper()
		if !d.ops[op][strconv.Itoa(status)] {
			t.Errorf("%s answered %d, which the document does not list", op, status)
		}
		if status >= 300 {
			return
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		for k := range got {
			if !d.ticket[k] {
				t.Errorf("%s: field %q is not in the Ticket schema", op, k)
			}
		}
		for _, k := range d.require {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: required field %q missing", op, k)
			}
		}
	}
	raw := func(method, target, contentType, body string) (int, string) {
		req := httptest.NewRequest(method, "http://"+e.bari.host+target, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	take := "POST /api/v1/offices/{id}/tickets"
	code, body := raw("POST", "/api/v1/offices/"+e.bari.office.ID+"/tickets", "application/json", `{"channel":"in_person"}`)
	check(take, code, body)
	var k apiTicket
	if err := json.Unmarshal([]byte(body), &k); err != nil || k.StatusURL == "" {
		t.Fatalf("take: %d %s", code, body)
	}
	for _, c := range []struct{ ct, body string }{{"text/plain", `{}`}, {"application/json", `{`}, {"application/json", `{"channel":"fax"}`}} {
		code, body := raw("POST", "/api/v1/offices/"+e.bari.office.ID+"/tickets", c.ct, c.body)
		check(take, code, body)
	}
	code, body = raw("POST", "/api/v1/offices/nessuno/tickets", "application/json", `{"channel":"in_person"}`)
	check(take, code, body)

	ticket := "/api/v1/tickets/{id}"
	status := path(t, k.StatusURL)
	for _, target := range []string{status, "/api/v1/tickets/" + k.ID, "/api/v1/tickets/nessuno?secret=x"} {
		code, body := raw("GET", target, "", "")
		check("GET "+ticket, code, body)
	}
	code, body = raw("DELETE", status, "", "")
	check("DELETE "+ticket, code, body)
	code, body = raw("DELETE", status, "", "")
	check("DELETE "+ticket, code, body)

	challenge := "GET /api/v1/offices/{id}/challenge"
	code, body = raw("GET", "/api/v1/offices/"+e.bari.office.ID+"/challenge", "", "")
	if !d.ops[challenge][strconv.Itoa(code)] || code != 200 {
		t.Errorf("%s answered %d", challenge, code)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != len(d.schemas["Challenge"]) {
		t.Errorf("%s: %s, want the Challenge schema's %d fields", challenge, body, len(d.schemas["Challenge"]))
	}
	for k := range got {
		if !d.schemas["Challenge"][k] {
			t.Errorf("%s: field %q is not in the Challenge schema", challenge, k)
		}
	}
	code, _ = raw("GET", "/api/v1/offices/nessuno/challenge", "", "")
	if !d.ops[challenge][strconv.Itoa(code)] {
		t.Errorf("%s answered %d, which the document does not list", challenge, code)
	}
}

// TestTicketRequestIsDocumented: the fields the take decodes are the
// TicketRequest and Proof schemas' properties, no more and no less.
func TestTicketRequestIsDocumented(t *testing.T) {
	d := loadQueueDoc(t)
	for _, c := range []struct {
		schema string
		v      any
	}{{"TicketRequest", apiTicketRequest{}}, {"Proof", proof{}}, {"Challenge", challengeView{}}} {
		var fields []string
		rt := reflect.TypeOf(c.v)
		for i := range rt.NumField() {
			fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
		}
		var props []string
		for p := range d.schemas[c.schema] {
			props = append(props, p)
		}
		sort.Strings(fields)
		sort.Strings(props)
		if strings.Join(fields, " ") != strings.Join(props, " ") {
			t.Errorf("%s: the code has %v, the document %v", c.schema, fields, props)
		}
	}
}
