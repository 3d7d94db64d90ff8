// Package openai is the optional language-model backend of the virtual
// assistant: a client of an OpenAI-compatible /v1/chat/completions
// endpoint (vLLM, llama.cpp's server, Ollama, LocalAI, or a hosted
// service) that the Comune runs and configures per node. It implements
// chat.Rephraser: it only rewords a reply the engine built from the
// Comune's data, told that the facts block is the only content allowed;
// the engine checks the answer again and keeps its own reply when the
// model fails, is slow or strays. It is off unless configured.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Config configures a Client.
type Config struct {
	// URL is the endpoint's base, "http://llm.comune.local:8000": the
	// client posts to URL + "/v1/chat/completions".
	URL string
	// Model is the model's name on that endpoint.
	Model string
	// APIKey, when set, is sent as a bearer token.
	APIKey string
	// Timeout bounds one call (the engine also bounds it); 0 means 4 s.
	Timeout time.Duration
	// MaxTokens bounds the answer; 0 means 400.
	MaxTokens int
	// HTTPClient is the client to use; nil means a new one with Timeout.
	HTTPClient *http.Client
}

// Client calls the endpoint. It is safe for concurrent use.
type Client struct {
	url, model, key string
	maxTokens       int
	http            *http.Client
}

// maxAnswer bounds the endpoint's answer read: a reworded reply is a few
// hundred words.
const maxAnswer = 64 << 10

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.Model == "" {
		return nil, errors.New("openai: URL and Model are required")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("openai: URL %q is not http(s)", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 4 * time.Second
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 400
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{url: strings.TrimRight(cfg.URL, "/") + "/v1/chat/completions", model: cfg.Model,
		key: cfg.APIKey, maxTokens: cfg.MaxTokens, http: hc}, nil
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type request struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	Temperature float64   `json:"temperature"`
	MaxTokens   int       `json:"max_tokens"`
	Stream      bool      `json:"stream"`
}

type response struct {
	Choices []struct {
		Message message `json:"message"`
	} `json:"choices"`
}

// system is the instruction: reword, add nothing. The engine does not
// rely on the model obeying it (chat.grounded checks the answer).
const system = `You rephrase the replies of a municipality's virtual assistant so that they read naturally and kindly.
Rules: use ONLY the information in the FACTS block; do not add any fact, number, date, time, price, address, phone number,
email address or link that is not written there; keep every link, code, date and time of the reply exactly as written;
do not give advice of your own; answer in the language %s; answer with the reworded reply only.`

var languageNames = map[string]string{"it": "Italian", "en": "English", "de": "German"}

// Rephrase implements chat.Rephraser.
func (c *Client) Rephrase(ctx context.Context, lang, facts, draft string) (string, error) {
	name := languageNames[lang]
	if name == "" {
		name = "Italian"
	}
	body, err := json.Marshal(request{
		Model: c.model, Temperature: 0.2, MaxTokens: c.maxTokens,
		Messages: []message{
			{Role: "system", Content: fmt.Sprintf(system, name)},
			{Role: "user", Content: "FACTS:\n" + facts + "\n\nREPLY TO REPHRASE:\n" + draft},
		},
	})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("openai: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return "", fmt.Errorf("openai: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("openai: status %d", resp.StatusCode)
	}
	if len(data) > maxAnswer {
		return "", errors.New("openai: answer too large")
	}
	var out response
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("openai: decode answer: %w", err)
	}
	if len(out.Choices) == 0 || strings.TrimSpace(out.Choices[0].Message.Content) == "" {
		return "", errors.New("openai: empty answer")
	}
	return out.Choices[0].Message.Content, nil
}
