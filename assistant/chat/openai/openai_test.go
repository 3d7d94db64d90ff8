package openai

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The servers here stand for the language model a Comune hosts outside
// Sportello: local test servers speaking the OpenAI chat completions API.

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {URL: "http://x"}, {Model: "m"}, {URL: "ftp://x", Model: "m"}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestRephraseAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		want   string
	}{
		"ok":        {200, `{"choices":[{"message":{"role":"assistant","content":"Riformulato."}}]}`, "Riformulato."},
		"error":     {503, `{}`, ""},
		"no choice": {200, `{"choices":[]}`, ""},
		"empty":     {200, `{"choices":[{"message":{"role":"assistant","content":"  "}}]}`, ""},
		"not json":  {200, `<html>`, ""},
		"too large": {200, `{"choices":[{"message":{"content":"` + strings.Repeat("x", maxAnswer) + `"}}]}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "" {
					http.Error(w, "no key expected", 400)
					return
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := New(Config{URL: srv.URL + "/", Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Rephrase(context.Background(), "it", "fatti", "bozza")
			if tc.want == "" {
				if err == nil {
					t.Errorf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
