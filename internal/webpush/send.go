package webpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxAnswer is how much of a push service's answer is read: enough for
// an error message in the log, not a way to make us download a file.
const maxAnswer = 4 << 10

// maxTopic is RFC 8030 §5.4's bound on a Topic.
const maxTopic = 32

// check refuses a message the push services would refuse.
func (m Message) check() error {
	switch m.Urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		return fmt.Errorf("%w: urgency %q", ErrMessage, m.Urgency)
	}
	if m.TTL < 0 {
		return fmt.Errorf("%w: negative TTL", ErrMessage)
	}
	if len(m.Topic) > maxTopic {
		return fmt.Errorf("%w: topic longer than %d characters", ErrMessage, maxTopic)
	}
	for _, c := range m.Topic {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: topic %q is not base64url", ErrMessage, m.Topic)
		}
	}
	if len(m.Payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(m.Payload), MaxPayload)
	}
	return nil
}

// Send encrypts m for sub and posts it to the subscription's push
// service. It returns nil once the service accepted the message (2xx),
// an error wrapping ErrGone when the subscription is dead (404, 410),
// a *SendError for the other answers, and other errors for what went
// wrong before an answer (policy, keys, network).
func (s *Sender) Send(ctx context.Context, sub Subscription, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := sub.Validate(s.Policy); err != nil {
		return err
	}
	if s.VAPID == nil {
		return errors.New("webpush: Sender has no VAPID identity")
	}
	id, err := s.VAPID(ctx)
	if err != nil {
		return fmt.Errorf("webpush: VAPID identity: %w", err)
	}
	u, err := url.Parse(sub.Endpoint)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEndpoint, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	// The audience is the push service's origin (RFC 8292 §2): scheme
	// and host, with the port when the URL names one.
	auth, err := id.authorization(strings.ToLower(u.Scheme+"://"+u.Host), now())
	if err != nil {
		return err
	}
	body, err := Encrypt(nil, sub, m.Payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEndpoint, err)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("TTL", strconv.FormatInt(int64(m.TTL/time.Second), 10))
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	if m.Urgency != "" {
		req.Header.Set("Urgency", m.Urgency)
	}
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	client := s.Client
	if client == nil {
		s.once.Do(func() { s.defaultClient = s.Policy.Client() })
		client = s.defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webpush: post to %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	return outcome(resp, answer, now())
}

// outcome maps the push service's answer to Send's result.
func outcome(resp *http.Response, answer []byte, now time.Time) error {
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("webpush: push service answered %d: %w", code, ErrGone)
	default:
		e := &SendError{
			Status: code,
			Retry:  code == http.StatusTooManyRequests || code >= 500,
			Body:   printable(answer, 200),
		}
		if e.Retry {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
		}
		return e
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// printable returns the start of b as text fit for a log line.
func printable(b []byte, max int) string {
	if !utf8.Valid(b) {
		return ""
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
