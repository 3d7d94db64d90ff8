package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// This file checks the OpenAPI document against the handlers: every API
// route is described, and every answer the tests get from the API has the
// status codes and fields the document promises. The checker knows the
// subset of JSON Schema the document uses: $ref, type (with "null"),
// properties, required, additionalProperties, items, enum, minimum,
// maxLength and the formats date-time and uri.

// spec is the parsed OpenAPI document.
type spec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas   map[string]json.RawMessage `json:"schemas"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"components"`
}

type operation struct {
	Responses map[string]json.RawMessage `json:"responses"`
}

type responseSpec struct {
	Ref     string `json:"$ref"`
	Content map[string]struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"content"`
}

type schema struct {
	Ref                  string                     `json:"$ref"`
	Type                 json.RawMessage            `json:"type"`
	Properties           map[string]json.RawMessage `json:"properties"`
	Required             []string                   `json:"required"`
	AdditionalProperties json.RawMessage            `json:"additionalProperties"`
	Items                json.RawMessage            `json:"items"`
	Enum                 []any                      `json:"enum"`
	Format               string                     `json:"format"`
	Minimum              *float64                   `json:"minimum"`
	MaxLength            *int                       `json:"maxLength"`
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	var s spec
	if err := json.Unmarshal(openAPIDoc, &s); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &s
}

// operations lists "METHOD /path" of the document.
func (s *spec) operations() []string { return s.operationsOf("") }

// operationsOf lists the operations of the paths whose "x-owner" is owner
// ("" for the paths without one: booking/web's). The document describes
// the whole /api/v1, and queue/web serves the paths marked "queue"; its
// own test checks them against its routes.
func (s *spec) operationsOf(owner string) []string {
	var out []string
	for p, item := range s.Paths {
		var o string
		if raw, ok := item["x-owner"]; ok {
			_ = json.Unmarshal(raw, &o)
		}
		if o != owner {
			continue
		}
		for m := range item {
			switch m {
			case "get", "post", "put", "patch", "delete":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	sort.Strings(out)
	return out
}

// responseSchema returns the schema of the JSON answer of op with status.
func (s *spec) responseSchema(method, path string, status int) (json.RawMessage, error) {
	item, ok := s.Paths[path]
	if !ok {
		return nil, fmt.Errorf("path %s not in the document", path)
	}
	raw, ok := item[strings.ToLower(method)]
	if !ok {
		return nil, fmt.Errorf("%s %s not in the document", method, path)
	}
	var op operation
	if err := json.Unmarshal(raw, &op); err != nil {
		return nil, err
	}
	rraw, ok := op.Responses[strconv.Itoa(status)]
	if !ok {
		return nil, fmt.Errorf("%s %s: status %d not documented", method, path, status)
	}
	var rs responseSpec
	if err := json.Unmarshal(rraw, &rs); err != nil {
		return nil, err
	}
	if rs.Ref != "" {
		name := strings.TrimPrefix(rs.Ref, "#/components/responses/")
		if err := json.Unmarshal(s.Components.Responses[name], &rs); err != nil {
			return nil, fmt.Errorf("response %s: %w", rs.Ref, err)
		}
	}
	c, ok := rs.Content["application/json"]
	if !ok {
		return nil, fmt.Errorf("%s %s %d: no application/json content", method, path, status)
	}
	return c.Schema, nil
}

// validate checks v against the schema raw; at names the place for errors.
func (s *spec) validate(raw json.RawMessage, v any, at string) []string {
	var sc schema
	if err := json.Unmarshal(raw, &sc); err != nil {
		return []string{at + ": bad schema: " + err.Error()}
	}
	if sc.Ref != "" {
		name := strings.TrimPrefix(sc.Ref, "#/components/schemas/")
		ref, ok := s.Components.Schemas[name]
		if !ok {
			return []string{at + ": unknown $ref " + sc.Ref}
		}
		return s.validate(ref, v, at)
	}
	var types []string
	if len(sc.Type) > 0 {
		var one string
		if json.Unmarshal(sc.Type, &one) == nil {
			types = []string{one}
		} else if err := json.Unmarshal(sc.Type, &types); err != nil {
			return []string{at + ": bad type"}
		}
	}
	if len(types) > 0 && !typeMatches(types, v) {
		return []string{fmt.Sprintf("%s: got %T (%v), want %v", at, v, v, types)}
	}
	var errs []string
	if len(sc.Enum) > 0 {
		found := false
		for _, e := range sc.Enum {
			if e == v {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v not in enum %v", at, v, sc.Enum))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range sc.Required {
			if _, ok := x[r]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required field %q missing", at, r))
			}
		}
		for k, val := range x {
			if p, ok := sc.Properties[k]; ok {
				errs = append(errs, s.validate(p, val, at+"."+k)...)
				continue
			}
			switch ap := strings.TrimSpace(string(sc.AdditionalProperties)); {
			case ap == "false":
				errs = append(errs, fmt.Sprintf("%s: field %q not allowed", at, k))
			case ap != "" && ap != "true":
				errs = append(errs, s.validate(sc.AdditionalProperties, val, at+"."+k)...)
			}
		}
	case []any:
		if len(sc.Items) > 0 {
			for i, it := range x {
				errs = append(errs, s.validate(sc.Items, it, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case string:
		switch sc.Format {
		case "date-time":
			if _, err := time.Parse(time.RFC3339, x); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not RFC 3339", at, x))
			}
		case "uri":
			if u, err := url.Parse(x); err != nil || !u.IsAbs() {
				errs = append(errs, fmt.Sprintf("%s: %q is not an absolute URI", at, x))
			}
		}
		if sc.MaxLength != nil && utf8.RuneCountInString(x) > *sc.MaxLength {
			errs = append(errs, fmt.Sprintf("%s: longer than %d", at, *sc.MaxLength))
		}
	case float64:
		if sc.Minimum != nil && x < *sc.Minimum {
			errs = append(errs, fmt.Sprintf("%s: %v below minimum %v", at, x, *sc.Minimum))
		}
	}
	return errs
}

func typeMatches(types []string, v any) bool {
	for _, t := range types {
		switch x := v.(type) {
		case nil:
			if t == "null" {
				return true
			}
		case bool:
			if t == "boolean" {
				return true
			}
		case float64:
			if t == "number" || t == "integer" && x == float64(int64(x)) {
				return true
			}
		case string:
			if t == "string" {
				return true
			}
		case []any:
			if t == "array" {
				return true
			}
		case map[string]any:
			if t == "object" {
				return true
			}
		}
	}
	return false
}

// apiChecker validates API answers against the document and records which
// operations and statuses the tests exercised.
type apiChecker struct {
	spec *spec
	mux  *http.ServeMux

	mu   sync.Mutex
	seen map[string]map[int]bool // "METHOD /path" → statuses
}

func newAPIChecker(t *testing.T, h *Handler) *apiChecker {
	c := &apiChecker{spec: loadSpec(t), mux: http.NewServeMux(), seen: map[string]map[int]bool{}}
	for _, rt := range h.routes {
		if rt.api {
			c.mux.Handle(rt.method+" "+rt.path, http.NotFoundHandler())
		}
	}
	return c
}

// check validates one answer to method target.
func (c *apiChecker) check(t *testing.T, method, target string, r response) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	_, pattern := c.mux.Handler(req)
	if pattern == "" {
		t.Errorf("%s %s matches no API route", method, target)
		return
	}
	_, path, _ := strings.Cut(pattern, " ")
	op := method + " " + path
	c.mu.Lock()
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][r.Status] = true
	c.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ct)
	}
	raw, err := c.spec.responseSchema(method, path, r.Status)
	if err != nil {
		t.Errorf("%s %s: %v", method, target, err)
		return
	}
	var v any
	if err := json.Unmarshal([]byte(r.Body), &v); err != nil {
		t.Errorf("%s %s: body is not JSON: %v\n%s", method, target, err, r.Body)
		return
	}
	for _, e := range c.spec.validate(raw, v, "body") {
		t.Errorf("%s %s %d: %s\n%s", method, target, r.Status, e, r.Body)
	}
}

// TestOpenAPIRoutes checks that the document describes exactly the API
// routes the handler registers.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	h := &Handler{}
	h.routes = h.routeTable()
	s := loadSpec(t)
	var routes []string
	for _, rt := range h.routes {
		if rt.api {
			routes = append(routes, rt.method+" "+rt.path)
		}
	}
	sort.Strings(routes)
	ops := s.operations()
	if strings.Join(routes, "\n") != strings.Join(ops, "\n") {
		t.Errorf("API routes and OpenAPI operations differ:\nroutes:\n%s\ndocument:\n%s",
			strings.Join(routes, "\n"), strings.Join(ops, "\n"))
	}
	for _, r := range routes {
		if !strings.HasPrefix(strings.SplitN(r, " ", 2)[1], "/api/v1/") {
			t.Errorf("API route %s is not under /api/v1/", r)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: got %v, want 3.1.0", doc["openapi"])
	}
}

// TestSchemaChecker makes sure the checker itself rejects what it should.
func TestSchemaChecker(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	raw, err := s.responseSchema("POST", "/api/v1/bookings", 201)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"complete", `{"id":"1","code":"BA-1","start":"2027-03-02T10:00:00+01:00","end":"2027-03-02T10:30:00+01:00","manage_url":"http://x/p","manage_token":"t","join_url":null}`, true},
		{"missing code", `{"id":"1","start":"2027-03-02T10:00:00+01:00","end":"2027-03-02T10:30:00+01:00","manage_url":"http://x/p","manage_token":"t","join_url":null}`, false},
		{"bad time", `{"id":"1","code":"BA-1","start":"2 marzo","end":"2027-03-02T10:30:00+01:00","manage_url":"http://x/p","manage_token":"t","join_url":null}`, false},
		{"relative url", `{"id":"1","code":"BA-1","start":"2027-03-02T10:00:00+01:00","end":"2027-03-02T10:30:00+01:00","manage_url":"/p","manage_token":"t","join_url":null}`, false},
		{"wrong type", `{"id":1,"code":"BA-1","start":"2027-03-02T10:00:00+01:00","end":"2027-03-02T10:30:00+01:00","manage_url":"http://x/p","manage_token":"t","join_url":null}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			errs := s.validate(raw, v, "body")
			if got := len(errs) == 0; got != tt.ok {
				t.Errorf("valid: got %v (%v), want %v", got, errs, tt.ok)
			}
		})
	}
}
