package auth

import (
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Role is what a user may do. Roles are ordered by reach: an appliance
// administrator runs every Comune, a Comune administrator runs one Comune,
// a supervisor sees its statistics and an operator serves the offices of
// its grant.
type Role string

// The roles.
const (
	// RoleApplianceAdmin runs the whole installation. It is never taken
	// from a provider's claims (a Comune's identity provider must not be
	// able to make someone administrator of every Comune): it is only
	// assigned, by another appliance administrator or on the command line.
	RoleApplianceAdmin Role = "appliance_admin"
	// RoleComuneAdmin runs one Comune: offices, services, operators,
	// providers.
	RoleComuneAdmin Role = "comune_admin"
	// RoleSupervisor sees the statistics of the offices of its grant (of
	// every office of the Comune when the grant lists none).
	RoleSupervisor Role = "supervisor"
	// RoleOperator serves the offices of its grant, which lists at least
	// one.
	RoleOperator Role = "operator"
)

// validRole reports whether r is one of the roles.
func validRole(r Role) bool {
	switch r {
	case RoleApplianceAdmin, RoleComuneAdmin, RoleSupervisor, RoleOperator:
		return true
	}
	return false
}

// Grant is one role of a user, limited to Offices (office IDs of the
// Comune) for operators and supervisors.
type Grant struct {
	Role    Role     `json:"role"`
	Offices []string `json:"offices,omitempty"`
}

// RoleRule turns a value of the provider's groups claim into a grant: a
// user whose groups contain Group receives Grant at every login.
type RoleRule struct {
	Group string `json:"group"`
	Grant Grant  `json:"grant"`
}

// ClaimMapping names the ID token claims that give a user's attributes.
// An empty name means the default: preferred_username, name, email and
// groups; an empty FiscalCode tries in turn the fiscal code claims seen in
// Italian providers: https://attributes.eid.gov.it/fiscal_number,
// fiscal_number, fiscalNumber.
type ClaimMapping struct {
	Username    string `json:"username,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Email       string `json:"email,omitempty"`
	FiscalCode  string `json:"fiscal_code,omitempty"`
	Groups      string `json:"groups,omitempty"`
}

// defaultClaims are the claim names used when a ClaimMapping field is
// empty; FiscalCode is absent because the fiscal code falls back to
// fiscalCodeClaims.
var defaultClaims = ClaimMapping{
	Username:    "preferred_username",
	DisplayName: "name",
	Email:       "email",
	Groups:      "groups",
}

// fiscalCodeClaims are the fiscal code claims seen in Italian providers
// (SPID/CIE attribute names and regional variants), tried in this order
// when ClaimMapping.FiscalCode is empty.
var fiscalCodeClaims = []string{"https://attributes.eid.gov.it/fiscal_number", "fiscal_number", "fiscalNumber"}

// Provider is one OpenID Connect provider a Comune accepts for its
// operators. A Comune may have several (a regional provider and a
// Keycloak broker, say); each has an ID unique within the Comune, used in
// /_auth/login?provider=ID.
type Provider struct {
	ID string `json:"id"`
	// Name is the label of the login button ("Accedi con MyID Puglia").
	Name string `json:"name"`
	// Issuer is the provider's issuer URL, from which discovery starts;
	// https (plain http only on a loopback address, for development).
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
	// ClientAuth is how the node authenticates at the token endpoint;
	// empty means client_secret_basic.
	ClientAuth ClientAuth `json:"client_auth,omitempty"`
	// ClientSecret is the secret of client_secret_basic and _post, in
	// clear: what SaveProvider takes and Provider returns. The Store seals
	// it into SealedSecret before proposing, so it appears in clear in the
	// replicated state only in rows saved before sealing existed (or by a
	// Store without Secrets, in tests); the next save seals them.
	ClientSecret string `json:"client_secret,omitempty"`
	// SealedSecret is ClientSecret sealed with the secrets key.
	SealedSecret string `json:"sealed_secret,omitempty"`
	// KeyAlg is the algorithm of the keys drawn for private_key_jwt:
	// RS256 (empty) or ES256.
	KeyAlg string `json:"key_alg,omitempty"`
	// AssertionAudience is the aud of private_key_jwt assertions:
	// "token_endpoint" (empty, OIDC Core 9) or "issuer" (what
	// draft-ietf-oauth-rfc7523bis asks for, and what some providers,
	// zitadel among them, accept only).
	AssertionAudience string `json:"assertion_audience,omitempty"`
	// Keys are the private_key_jwt key pairs, current first; SaveProvider
	// draws the first one and RotateProviderKey the next ones.
	Keys []ClientKey `json:"keys,omitempty"`
	// Scopes are requested besides "openid", which is always sent.
	Scopes []string `json:"scopes,omitempty"`
	// ACRValues, when not empty, is sent as acr_values.
	ACRValues []string     `json:"acr_values,omitempty"`
	Claims    ClaimMapping `json:"claims"`
	// Roles are the rules applied at each login to the groups claim.
	Roles []RoleRule `json:"roles,omitempty"`
	// Created and Updated are the leader times of the commands that
	// created and last changed the provider; they are ignored on save.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`

	// secretsErr is why Store.Provider could not open the sealed values.
	secretsErr error
}

// SecretsError returns why this node could not open the provider's client
// secret or private keys (wrapping ErrNoSecretsKey or ErrWrongSecretsKey),
// nil when it could or there was nothing to open.
func (p Provider) SecretsError() error { return p.secretsErr }

// Identity is what a provider vouched for at one login, after the ID
// token was verified and the claims mapped.
type Identity struct {
	Provider    string   `json:"provider"`
	Issuer      string   `json:"issuer"`
	Subject     string   `json:"subject"`
	Username    string   `json:"username,omitempty"`
	DisplayName string   `json:"display_name,omitempty"`
	Email       string   `json:"email,omitempty"`
	FiscalCode  string   `json:"fiscal_code,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	// ProviderSession is the provider's own session ID (the ID token's
	// "sid"), named by back-channel logout tokens; "" when not sent.
	ProviderSession string `json:"provider_session,omitempty"`
}

// User is an operator or administrator of a Comune, identified by the
// issuer and subject of its provider. The attributes are those of the
// last login.
type User struct {
	ID          string    `json:"id"`
	Tenant      tenant.ID `json:"tenant"`
	Issuer      string    `json:"issuer"`
	Subject     string    `json:"subject"`
	Provider    string    `json:"provider"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Email       string    `json:"email"`
	FiscalCode  string    `json:"fiscal_code"`
	// ClaimGrants come from the provider's role rules, replaced at every
	// login; Assigned are given in the back office and kept.
	ClaimGrants []Grant   `json:"claim_grants"`
	Assigned    []Grant   `json:"assigned"`
	Disabled    bool      `json:"disabled"`
	Created     time.Time `json:"created"`
	LastLogin   time.Time `json:"last_login"`
}

// Grants returns every grant of the user, claimed and assigned.
func (u User) Grants() []Grant {
	return append(slices.Clone(u.ClaimGrants), u.Assigned...)
}

// Allowed reports whether the user may act as role on office ("" for an
// action that concerns no office). An appliance administrator may do
// anything, a Comune administrator anything in its Comune; otherwise a
// grant of exactly that role is needed, whose offices contain office (a
// supervisor grant without offices covers every office). A disabled user
// is allowed nothing.
func (u User) Allowed(role Role, office string) bool {
	if u.Disabled {
		return false
	}
	for _, g := range u.Grants() {
		switch {
		case g.Role == RoleApplianceAdmin, g.Role == RoleComuneAdmin && role != RoleApplianceAdmin:
			return true
		case g.Role != role:
			continue
		case office == "":
			return true
		case len(g.Offices) == 0 && g.Role == RoleSupervisor:
			return true
		case slices.Contains(g.Offices, office):
			return true
		}
	}
	return false
}

// Session is a user's login on the Comune. Its ID is the SHA-256 hash of
// the secret the browser holds; the secret itself is never stored.
type Session struct {
	ID       string    `json:"id"`
	Tenant   tenant.ID `json:"tenant"`
	UserID   string    `json:"user_id"`
	Provider string    `json:"provider"`
	// CSRF is the token forms of this session must carry.
	CSRF string `json:"csrf"`
	// IDToken is the raw ID token of the login, sent back as
	// id_token_hint at RP-initiated logout.
	IDToken  string    `json:"id_token"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	// Idle is how long the session survives without activity; Expires is
	// when it ends whatever the activity.
	Idle    time.Duration `json:"idle"`
	Expires time.Time     `json:"expires"`
	// Index is the log index of the command that created the session.
	Index uint64 `json:"index"`
}

// ActiveAt reports whether the session is valid at t: before its
// absolute end and within Idle of its last activity.
func (s Session) ActiveAt(t time.Time) bool {
	return t.Before(s.Expires) && t.Before(s.LastSeen.Add(s.Idle))
}

// Flow is a login in progress, between the redirect to the provider and
// its answer. State, Nonce, Verifier and Binding are secrets drawn by the
// node that began the login; the replicated state keeps only the hashes
// of State and Binding.
type Flow struct {
	Tenant   tenant.ID `json:"tenant"`
	Provider string    `json:"provider"`
	// Issuer is the provider's issuer when the flow began: the answer
	// must come from it (mix-up defence).
	Issuer string `json:"issuer"`
	State  string `json:"state"`
	Nonce  string `json:"nonce"`
	// Verifier is the PKCE code verifier (S256).
	Verifier string `json:"verifier"`
	// Binding ties the flow to the browser that began it (a cookie).
	Binding string `json:"binding,omitempty"`
	// Return is the local path to go to after the login.
	Return  string    `json:"return"`
	Expires time.Time `json:"expires"`
}
