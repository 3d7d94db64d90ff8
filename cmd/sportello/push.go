package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// PushConfig is the [push] section: Web Push notifications to citizens'
// browsers ("manca poco", "è il tuo turno"), signed with the cluster's
// VAPID key (package push).
type PushConfig struct {
	// Enabled offers the notifications on the ticket page and in the
	// waiting room. Off, /api/v1/push/key answers 404 and pages hide the
	// button; subscriptions already made are still honoured.
	Enabled bool `toml:"enabled"`
	// Subject is the VAPID contact the push services see: "mailto:…" or
	// an https URL. Empty: mailto: of mail.default_from, else
	// https://<base_domain>.
	Subject string `toml:"subject"`
	// EndpointHosts replaces the list of push services the nodes may send
	// to (a host, or ".suffix" for its subdomains). Empty: the browsers'
	// own services (Google, Mozilla, Apple, Microsoft). Every endpoint is
	// a URL a citizen gave, so the list is what keeps push from being a
	// way into the Comune's network.
	EndpointHosts []string `toml:"endpoint_hosts"`
	// AllowPrivateEndpoints lets the nodes send to a push server inside
	// the Comune's network (a self-hosted UnifiedPush distributor, say),
	// at private addresses; it must then be named in EndpointHosts.
	AllowPrivateEndpoints bool `toml:"allow_private_endpoints"`
	// CAFile is a PEM bundle that replaces the system roots to verify
	// the push servers' certificates (an internal push server's CA).
	CAFile string `toml:"ca_file"`
}

// subject is the VAPID subject the node signs with.
func (c Config) pushSubject() string {
	if c.Push.Subject != "" {
		return c.Push.Subject
	}
	if a, err := mail.ParseAddress(c.Mail.DefaultFrom); err == nil && c.Mail.DefaultFrom != "" {
		return "mailto:" + a.Address
	}
	return "https://" + strings.TrimPrefix(c.BaseDomain, ".")
}

// validate adds the [push] section's errors.
func (p PushConfig) validate(bad func(string, ...any)) {
	if p.AllowPrivateEndpoints && len(p.EndpointHosts) == 0 {
		bad("push.allow_private_endpoints needs push.endpoint_hosts: name the internal push server")
	}
	if p.Subject != "" && !strings.HasPrefix(p.Subject, "mailto:") && !strings.HasPrefix(p.Subject, "https://") {
		bad("push.subject %q: want mailto:… or https://…", p.Subject)
	}
	for _, h := range p.EndpointHosts {
		if h == "" || strings.ContainsAny(h, "/: ") {
			bad("push.endpoint_hosts %q: want a host name, or .suffix for its subdomains", h)
		}
	}
}

// policy is the endpoint policy of subscriptions and of the sender.
func (p PushConfig) policy() webpush.EndpointPolicy {
	return webpush.EndpointPolicy{Hosts: p.EndpointHosts, AllowPrivate: p.AllowPrivateEndpoints}
}

// client is the push sender's HTTP client: the policy's (its dialer
// refuses forbidden addresses after DNS), with CAFile's roots if set.
func (p PushConfig) client() (*http.Client, error) {
	c := p.policy().Client()
	if p.CAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("push.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("push.ca_file %s: no PEM certificate found", p.CAFile)
	}
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return c, nil
}

// errPushNotReady is what the push deliverer answers until the node has
// read its secrets key (after it started): the outbox retries.
var errPushNotReady = errors.New("push keys not loaded yet")

// pushWiring holds the node's push.Keys and queue once the secrets key is
// read, which is after the node started (a joining node receives the key
// while it joins). The outbox worker may run before that, since the node
// can lead as soon as it starts, so the deliverer reads both through this
// holder and the outbox retries until they are there.
type pushWiring struct {
	keys  atomic.Pointer[push.Keys]
	queue atomic.Pointer[queue.Queue]
}

// VAPID is webpush.Sender's key source.
func (w *pushWiring) VAPID(ctx context.Context) (webpush.VAPID, error) {
	k := w.keys.Load()
	if k == nil {
		return webpush.VAPID{}, errPushNotReady
	}
	return k.VAPID(ctx)
}

// forget drops a subscription the push service says is gone.
func (w *pushWiring) forget(ctx context.Context, t tenant.ID, ticketID, endpoint string) error {
	q := w.queue.Load()
	if q == nil {
		return errPushNotReady
	}
	return q.ForgetPush(ctx, t, ticketID, endpoint)
}

// deliverer is the outbox handler of queue.PushOutboxKind.
func (w *pushWiring) deliverer(cfg Config, log *slog.Logger) (cluster.Deliverer, error) {
	client, err := cfg.Push.client()
	if err != nil {
		return nil, err
	}
	sender := &webpush.Sender{Client: client, Policy: cfg.Push.policy(), VAPID: w.VAPID, Now: time.Now}
	return queue.PushDeliverer(sender, w.forget, log), nil
}
