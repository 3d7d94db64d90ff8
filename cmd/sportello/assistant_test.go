package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// TestMountAssistant: off, nothing is mounted; on, the API answers on a
// Comune's host over the node's knowledge store; a language model without
// its key file is a configuration error.
func TestMountAssistant(t *testing.T) {
	n := clustertest.New(t, cluster.Config{}, tenant.Register, booking.Register, queue.Register, knowledge.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	if _, err := reg.Create(context.Background(), tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"}); err != nil {
		t.Fatal(err)
	}
	book := booking.NewBook(n, n.DB(), time.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t), Assistant: true})
	if err != nil {
		t.Fatal(err)
	}
	deps := assistantDeps{Catalogues: knowledge.NewStore(n, n.DB(), book), Book: book,
		Queue: queue.New(n, n.DB(), book, time.Now, rand.Reader), Site: s, Log: clustertest.Logger(t)}

	mux := http.NewServeMux()
	if eng, err := mountAssistant(AssistantConfig{}, deps, mux); err != nil || eng != nil {
		t.Fatalf("off: %v, %v", eng, err)
	}
	bad := AssistantConfig{Enabled: true, LLM: AssistantLLMConfig{Enabled: true, URL: "http://127.0.0.1:1", Model: "m",
		APIKeyFile: filepath.Join(t.TempDir(), "missing.key")}}
	if _, err := mountAssistant(bad, deps, http.NewServeMux()); err == nil {
		t.Errorf("a missing API key file was accepted")
	}
	key := filepath.Join(t.TempDir(), "llm.key")
	if err := os.WriteFile(key, []byte("sk-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	on := AssistantConfig{Enabled: true, LLM: AssistantLLMConfig{Enabled: true, URL: "http://127.0.0.1:1", Model: "m", APIKeyFile: key, Timeout: 50 * time.Millisecond}}
	if eng, err := mountAssistant(on, deps, mux); err != nil || eng == nil {
		t.Fatalf("on: %v, %v", eng, err)
	}
	s.Routes(mux)
	req := httptest.NewRequest("POST", "/api/v1/assistant", strings.NewReader(`{"message":"ciao"}`))
	req.Host = "bari.example.it"
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Tenant(mux).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"conversation_id":"c1.`) {
		t.Errorf("API: %d %s", rec.Code, rec.Body)
	}
}
