package appio

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
	"unicode/utf8"
)

// DefaultBaseURL is the production endpoint of App IO's Services API.
const DefaultBaseURL = "https://api.io.pagopa.it/api/v1"

// keyHeader carries the service's API key on every request.
const keyHeader = "Ocp-Apim-Subscription-Key"

// Limits of a message's content, as App IO documents them: a request
// outside them is refused with 400, so the client checks first.
const (
	MinSubject  = 10
	MaxSubject  = 120
	MinMarkdown = 80
	MaxMarkdown = 10000
)

// Errors of the client. ErrNoProfile and ErrNotAllowed mean "do not send"
// and are final; ErrRetry wraps answers worth trying again later (429 and
// 5xx, or the network); any other error is a refusal that a retry would
// not change.
var (
	ErrNoProfile  = errors.New("appio: the citizen has no App IO profile")
	ErrNotAllowed = errors.New("appio: the citizen does not accept messages from this service")
	ErrRetry      = errors.New("appio: temporary failure, retry later")
	ErrRefused    = errors.New("appio: request refused")
)

// Client calls App IO. It holds no key: each call names the service's.
type Client struct {
	// BaseURL is DefaultBaseURL in production, a FakeServer's URL in
	// tests.
	BaseURL string
	// HTTP is the client used; nil means one with a 10 s timeout.
	HTTP *http.Client
}

// Message is what the citizen reads in the app.
type Message struct {
	FiscalCode string
	Subject    string
	Markdown   string
	// DueDate, when set, shows in the app as the message's deadline
	// (the appointment, or the end of an offer).
	DueDate time.Time
}

// Check reports whether m fits App IO's limits.
func (m Message) Check() error {
	switch n := utf8.RuneCountInString(m.Subject); {
	case n < MinSubject || n > MaxSubject:
		return fmt.Errorf("%w: subject of %d characters, want %d–%d", ErrRefused, n, MinSubject, MaxSubject)
	}
	switch n := utf8.RuneCountInString(m.Markdown); {
	case n < MinMarkdown || n > MaxMarkdown:
		return fmt.Errorf("%w: markdown of %d characters, want %d–%d", ErrRefused, n, MinMarkdown, MaxMarkdown)
	}
	if m.FiscalCode == "" {
		return fmt.Errorf("%w: no fiscal code", ErrRefused)
	}
	return nil
}

// profileRequest and profileAnswer are the body and answer of POST
// /profiles, the current form of the profile check (the older GET
// /profiles/{fiscal_code} put the code in the URL, hence in every log).
type profileRequest struct {
	FiscalCode string `json:"fiscal_code"`
}

type profileAnswer struct {
	SenderAllowed bool `json:"sender_allowed"`
}

type messageRequest struct {
	FiscalCode       string         `json:"fiscal_code"`
	FeatureLevelType string         `json:"feature_level_type"`
	Content          messageContent `json:"content"`
}

type messageContent struct {
	Subject  string `json:"subject"`
	Markdown string `json:"markdown"`
	DueDate  string `json:"due_date,omitempty"`
}

type messageAnswer struct {
	ID string `json:"id"`
}

// Profile checks whether the citizen with fiscalCode may receive messages
// from the service of key: nil when allowed, ErrNoProfile (404),
// ErrNotAllowed (sender_allowed false), or an error.
func (c *Client) Profile(ctx context.Context, key, fiscalCode string) error {
	var a profileAnswer
	status, err := c.do(ctx, key, "/profiles", profileRequest{FiscalCode: fiscalCode}, &a)
	switch {
	case status == http.StatusNotFound:
		return ErrNoProfile
	case err != nil:
		return err
	case !a.SenderAllowed:
		return ErrNotAllowed
	}
	return nil
}

// Send checks the profile and, if allowed, sends m; it returns App IO's
// message ID.
func (c *Client) Send(ctx context.Context, key string, m Message) (string, error) {
	if err := m.Check(); err != nil {
		return "", err
	}
	if err := c.Profile(ctx, key, m.FiscalCode); err != nil {
		return "", err
	}
	body := messageRequest{FiscalCode: m.FiscalCode, FeatureLevelType: "STANDARD",
		Content: messageContent{Subject: m.Subject, Markdown: m.Markdown}}
	if !m.DueDate.IsZero() {
		body.Content.DueDate = m.DueDate.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	var a messageAnswer
	if _, err := c.do(ctx, key, "/messages", body, &a); err != nil {
		return "", err
	}
	return a.ID, nil
}

// do posts body as JSON to path and decodes a 2xx answer into out. It
// returns the status code with the error.
func (c *Client) do(ctx context.Context, key, path string, body, out any) (int, error) {
	if key == "" {
		return 0, fmt.Errorf("%w: no API key", ErrRefused)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(keyHeader, key)
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: POST %s: %v", ErrRetry, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, fmt.Errorf("%w: POST %s: %s", ErrRetry, path, resp.Status)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return resp.StatusCode, fmt.Errorf("%w: POST %s: %s", ErrRefused, path, resp.Status)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%w: POST %s: answer: %v", ErrRetry, path, err)
		}
	}
	return resp.StatusCode, nil
}
