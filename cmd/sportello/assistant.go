package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/chat"
	"github.com/sportello-virtuale/sportello/assistant/chat/openai"
	assistantweb "github.com/sportello-virtuale/sportello/assistant/web"
	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// AssistantConfig is [assistant]: the virtual assistant of issue 9 (the
// API /api/v1/assistant, the page /assistente and the chat widget on the
// citizen pages). Zero values take the package defaults.
type AssistantConfig struct {
	// Enabled mounts the assistant and shows its link and widget on every
	// Comune's citizen pages (site.Options.Assistant).
	Enabled bool `toml:"enabled"`
	// ConversationTTL is how long a conversation lives after its last
	// message (default 30m). Conversations are never written anywhere:
	// they travel sealed in the token the client sends back.
	ConversationTTL time.Duration `toml:"conversation_ttl"`
	// MaxTurns bounds the messages of one conversation (default 60);
	// MaxConversations the conversations one node serves at once
	// (default 20000).
	MaxTurns         int `toml:"max_turns"`
	MaxConversations int `toml:"max_conversations"`
	// MessagesPerMinute and Burst limit the messages of one client
	// address (default 30 a minute, burst 20); -1 disables the limit.
	MessagesPerMinute float64 `toml:"messages_per_minute"`
	Burst             int     `toml:"burst"`
	// LLM is the optional language model that rewords the replies.
	LLM AssistantLLMConfig `toml:"llm"`
}

// AssistantLLMConfig is [assistant.llm]: an OpenAI-compatible
// /v1/chat/completions endpoint the Comune hosts (vLLM, llama.cpp,
// Ollama…), off by default. It only rewords replies built from the
// Comune's data; when it fails, is slow or adds a fact, the grounded reply
// is used.
type AssistantLLMConfig struct {
	Enabled bool `toml:"enabled"`
	// URL is the endpoint's base ("http://10.0.0.5:8000"); Model its
	// model name.
	URL   string `toml:"url"`
	Model string `toml:"model"`
	// APIKeyFile holds the bearer token, if the endpoint wants one (a
	// file, so that the key is not in the config).
	APIKeyFile string `toml:"api_key_file"`
	// Timeout bounds one call (default 4s).
	Timeout time.Duration `toml:"timeout"`
}

// assistantDeps are what the assistant needs from the node's wiring.
type assistantDeps struct {
	// Catalogues is the node's *knowledge.Store.
	Catalogues chat.Catalogues
	Book       *booking.Book
	// Queue is the node's virtual queue (nil: no tickets, the assistant
	// gives the offices' contacts).
	Queue *queue.Queue
	Site  *site.Site
	// Secrets is the node's secrets.key: the conversations' sealing key
	// is derived from it, so that every node opens every token.
	Secrets *auth.Secrets
	HTTP    HTTPConfig
	Log     *slog.Logger
}

// mountAssistant builds the assistant from cfg and mounts its routes on
// mux (the tenant mux, behind site.Tenant). It does nothing when the
// assistant is off. It returns the engine (nil when off), whose Live()
// the metrics may report.
func mountAssistant(cfg AssistantConfig, d assistantDeps, mux *http.ServeMux) (*chat.Engine, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if d.Catalogues == nil || d.Book == nil || d.Site == nil {
		return nil, errors.New("assistant: catalogues, book and site are required")
	}
	key := d.Secrets.Derive("assistant.conversation")
	if key == nil {
		// Without secrets.key (a test's handler) a node-local key: a
		// conversation then continues only on this node.
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		d.Log.Warn("assistant: no secrets key; conversations are sealed with a key of this node only", "component", "assistant")
	}
	var rephraser chat.Rephraser
	if cfg.LLM.Enabled {
		apiKey := ""
		if cfg.LLM.APIKeyFile != "" {
			b, err := os.ReadFile(cfg.LLM.APIKeyFile)
			if err != nil {
				return nil, fmt.Errorf("assistant.llm.api_key_file: %w", err)
			}
			apiKey = strings.TrimSpace(string(b))
		}
		client, err := openai.New(openai.Config{URL: cfg.LLM.URL, Model: cfg.LLM.Model, APIKey: apiKey, Timeout: cfg.LLM.Timeout})
		if err != nil {
			return nil, fmt.Errorf("assistant.llm: %w", err)
		}
		rephraser = client
	}
	engine, err := chat.New(chat.Config{
		Catalogues: d.Catalogues, Book: d.Book, Queue: d.Queue, Key: key,
		TTL: cfg.ConversationTTL, MaxTurns: cfg.MaxTurns, MaxConversations: cfg.MaxConversations,
		Rephraser: rephraser, RephraseTimeout: cfg.LLM.Timeout, Logger: d.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("assistant: %w", err)
	}
	h, err := assistantweb.New(assistantweb.Config{
		Engine: engine, Site: d.Site, Logger: d.Log, TrustProxyHeaders: d.HTTP.TrustProxyHeaders,
		RateLimit: assistantweb.RateLimit{PerMinute: cfg.MessagesPerMinute, Burst: cfg.Burst},
	})
	if err != nil {
		return nil, err
	}
	h.Routes(mux)
	return engine, nil
}
