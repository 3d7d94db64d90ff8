package web

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// discoveryTTL is how long a provider's discovery document is trusted
// before it is fetched again (keys are refreshed by go-oidc itself when a
// token names an unknown kid).
const discoveryTTL = time.Hour

// discovered is a provider's discovery, as go-oidc parsed it, with the
// fields go-oidc does not expose.
type discovered struct {
	provider   *oidc.Provider
	endSession string
	issParam   bool
	fetched    time.Time
}

// discoveryCache keeps the discovery of each issuer. A failed discovery
// is not kept, so that the next login tries again.
type discoveryCache struct {
	mu     sync.Mutex
	byIssr map[string]*discovered
}

func newDiscoveryCache() *discoveryCache {
	return &discoveryCache{byIssr: map[string]*discovered{}}
}

// discover returns the discovery of issuer. go-oidc checks that the
// document's issuer is exactly issuer, and the verifier made from it
// accepts only tokens whose iss is issuer.
func (h *Handler) discover(ctx context.Context, issuer string) (*discovered, error) {
	c := h.providers
	c.mu.Lock()
	d, ok := c.byIssr[issuer]
	c.mu.Unlock()
	if ok && h.now().Sub(d.fetched) < discoveryTTL {
		return d, nil
	}
	p, err := oidc.NewProvider(h.clientContext(ctx), issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w: %w", issuer, errUnreachable, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
		IssParam   bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w: %w", issuer, errUnreachable, err)
	}
	d = &discovered{provider: p, endSession: extra.EndSession, issParam: extra.IssParam, fetched: h.now()}
	c.mu.Lock()
	c.byIssr[issuer] = d
	c.mu.Unlock()
	return d, nil
}

// clientContext makes go-oidc and x/oauth2 use the handler's HTTP client.
func (h *Handler) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, h.client)
}
