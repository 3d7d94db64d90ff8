package chat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/chat/openai"
)

// fakeModel is a local HTTP server speaking the OpenAI chat completions
// API. It stands for the language model a Comune hosts outside Sportello
// (vLLM, llama.cpp, Ollama…), which the optional backend calls: no model
// runs in the tests. answer builds the reply from the prompt.
func fakeModel(t *testing.T, answer func(prompt string) (string, int, time.Duration)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-comune" {
			http.Error(w, "wrong path or key", http.StatusUnauthorized)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Messages []struct{ Role, Content string }
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "llama-comune" || len(req.Messages) != 2 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		text, status, delay := answer(req.Messages[1].Content)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		if status != http.StatusOK {
			http.Error(w, "model error", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"message": map[string]string{"role": "assistant", "content": text}}}})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// TestRephrase: the model's rewording is used when it keeps to the facts;
// an answer that invents a number or a link, an error and a timeout all
// give the grounded reply. Slot offers and bookings are never sent to the
// model.
func TestRephrase(t *testing.T) {
	t.Parallel()
	mode := atomic.Value{}
	mode.Store("good")
	srv, calls := fakeModel(t, func(prompt string) (string, int, time.Duration) {
		if !strings.Contains(prompt, "FACTS:") || !strings.Contains(prompt, "/servizi/cie") {
			return "prompt without facts", 200, 0
		}
		switch mode.Load() {
		case "invent":
			return "Porta una fototessera; costa 22 euro. Info: " + testBase + "/servizi/cie", 200, 0
		case "link":
			return "Vedi https://example.com/truffa", 200, 0
		case "error":
			return "", 500, 0
		case "slow":
			return "Troppo tardi.", 200, 10 * time.Second
		}
		return "Ecco cosa portare per la carta d'identità: una fototessera recente e il documento scaduto. Trovi tutto su " + testBase + "/servizi/cie", 200, 0
	})
	model, err := openai.New(openai.Config{URL: srv.URL, Model: "llama-comune", APIKey: "sk-comune"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Rephraser = model; c.RephraseTimeout = 2 * time.Second })
	ask := func() Response {
		c := e.conv(e.bari)
		return c.say("cosa serve per la carta d'identità?")
	}
	r := ask()
	wantReply(t, r, "Ecco cosa portare per la carta d'identità")
	for _, m := range []string{"invent", "link", "error", "slow"} {
		mode.Store(m)
		r = ask()
		if !strings.HasPrefix(r.Reply, "Per «Carta d'identità elettronica (CIE)» porta:") {
			t.Errorf("%s: want the grounded reply, got %q", m, r.Reply)
		}
	}
	mode.Store("good")
	before := calls.Load()
	c := e.conv(e.bari)
	r = c.say("prenota la carta d'identità")
	if len(actions(r, ActionBook)) == 0 || calls.Load() != before {
		t.Errorf("slot offer: %d model calls, actions %+v", calls.Load()-before, r.Actions)
	}
}

func TestGrounded(t *testing.T) {
	facts := "Anagrafe, Piazza del Municipio 1, telefono 080 000 1001, https://bari.example.it/servizi/cie, 16 euro"
	for out, want := range map[string]bool{
		"L'anagrafe è in Piazza del Municipio 1: chiama lo 080 000 1001.": true,
		"Costa 16 euro, vedi https://bari.example.it/servizi/cie.":        true,
		"Costa 22 euro.":                        false,
		"Scrivi a info@truffa.it":               false,
		"Vedi https://bari.example.it/servizi/": true,
		"":                                      false,
		"Vedi https://evil.example/":            false,
	} {
		if got := grounded(out, facts); got != want {
			t.Errorf("grounded(%q) = %v, want %v", out, got, want)
		}
	}
}
