package web

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/sportello-virtuale/sportello/auth"
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
	// authAlgs are the provider's token_endpoint_auth_signing_alg_values_supported.
	authAlgs []string
	fetched  time.Time
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
		EndSession string   `json:"end_session_endpoint"`
		IssParam   bool     `json:"authorization_response_iss_parameter_supported"`
		AuthAlgs   []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	}
	if err := p.Claims(&extra); err != nil {
		return nil, fmt.Errorf("discovery of %s: %w: %w", issuer, errUnreachable, err)
	}
	d = &discovered{provider: p, endSession: extra.EndSession, issParam: extra.IssParam, authAlgs: extra.AuthAlgs, fetched: h.now()}
	c.mu.Lock()
	c.byIssr[issuer] = d
	c.mu.Unlock()
	return d, nil
}

// clientContext makes go-oidc and x/oauth2 use the handler's HTTP client.
func (h *Handler) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, h.client)
}

// keyAlgFor chooses the algorithm of a new private_key_jwt key for the
// provider at issuer: RS256, which regional providers mostly expect,
// unless its discovery lists signing algorithms without RS256 but with
// ES256. A provider that cannot be reached gets RS256: the save must not
// depend on it.
func (h *Handler) keyAlgFor(ctx context.Context, issuer string) string {
	d, err := h.discover(ctx, issuer)
	if err != nil || len(d.authAlgs) == 0 || slices.Contains(d.authAlgs, auth.AlgRS256) {
		return auth.AlgRS256
	}
	if slices.Contains(d.authAlgs, auth.AlgES256) {
		return auth.AlgES256
	}
	return auth.AlgRS256
}
