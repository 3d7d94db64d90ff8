package media

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Role is what a participant is in a call.
type Role string

// Roles of a call's participants.
const (
	RoleCitizen  Role = "citizen"
	RoleOperator Role = "operator"
	RoleGuest    Role = "guest"
)

func (r Role) valid() bool { return r == RoleCitizen || r == RoleOperator || r == RoleGuest }

// Claims are what a room token says: who (Subject, shown as Name) may enter
// which room of which Comune, as what, until when.
type Claims struct {
	Tenant  tenant.ID
	Room    string
	Role    Role
	Name    string
	Subject string
	// Expires ends the token's validity; the web layer sets it to the
	// room's Closes + TokenGrace for citizens and guests (see DESIGN.md).
	Expires time.Time
	// NotBefore, when set, starts it (for example the room's Opens minus
	// the check-in window); zero for none.
	NotBefore time.Time
}

// tokenClaims is the JSON inside a token: short names, Unix seconds.
type tokenClaims struct {
	Version   int    `json:"v"`
	Tenant    string `json:"t"`
	Room      string `json:"r"`
	Role      string `json:"ro"`
	Name      string `json:"n,omitempty"`
	Subject   string `json:"s,omitempty"`
	Expires   int64  `json:"e"`
	NotBefore int64  `json:"nb,omitempty"`
}

// tokenMAC signs the encoded claims; the label keeps a MAC made for
// something else with the same key from ever passing as a token.
func (rs *Rooms) tokenMAC(body string) []byte {
	m := hmac.New(sha256.New, rs.tokenKey)
	m.Write([]byte("sportello media room token v1\x00"))
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Token signs c into a compact string, safe in a URL:
// base64url(JSON claims) "." base64url(HMAC-SHA256). Tokens are not
// encrypted: they carry nothing the holder may not read.
func (rs *Rooms) Token(c Claims) string {
	w := tokenClaims{Version: 1, Tenant: string(c.Tenant), Room: c.Room, Role: string(c.Role),
		Name: c.Name, Subject: c.Subject, Expires: c.Expires.Unix()}
	if !c.NotBefore.IsZero() {
		w.NotBefore = c.NotBefore.Unix()
	}
	b, _ := json.Marshal(w) // strings and integers only: cannot fail
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + base64.RawURLEncoding.EncodeToString(rs.tokenMAC(body))
}

// Verify checks a token's format and signature (ErrTokenInvalid, the MAC
// compared in constant time) and then its times at now (ErrTokenExpired,
// ErrTokenEarly). It does not look at the room: use Admit for that.
func (rs *Rooms) Verify(token string, now time.Time) (Claims, error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || body == "" || len(token) > 4096 {
		return Claims{}, ErrTokenInvalid
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, rs.tokenMAC(body)) {
		return Claims{}, ErrTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Claims{}, ErrTokenInvalid
	}
	var w tokenClaims
	if err := json.Unmarshal(raw, &w); err != nil || w.Version != 1 || w.Tenant == "" || w.Room == "" ||
		!Role(w.Role).valid() || w.Expires == 0 {
		return Claims{}, ErrTokenInvalid
	}
	c := Claims{Tenant: tenant.ID(w.Tenant), Room: w.Room, Role: Role(w.Role), Name: w.Name, Subject: w.Subject,
		Expires: time.Unix(w.Expires, 0).UTC()}
	if w.NotBefore != 0 {
		c.NotBefore = time.Unix(w.NotBefore, 0).UTC()
	}
	if !now.Before(c.Expires) {
		return c, fmt.Errorf("%w at %s", ErrTokenExpired, c.Expires.Format(time.RFC3339))
	}
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
		return c, fmt.Errorf("%w before %s", ErrTokenEarly, c.NotBefore.Format(time.RFC3339))
	}
	return c, nil
}

// Admit is what signalling calls before letting anyone in: the token
// verifies at the Rooms' clock, names the Comune t of the host the request
// came to (ErrWrongTenant), and its room exists in that Comune
// (ErrNotFound) and is open (ErrEnded). A valid signature alone is not
// enough: the room may have been ended after the token was issued.
func (rs *Rooms) Admit(ctx context.Context, t tenant.ID, token string) (Room, Claims, error) {
	c, err := rs.Verify(token, rs.now())
	if err != nil {
		return Room{}, Claims{}, err
	}
	if c.Tenant != t {
		return Room{}, Claims{}, ErrWrongTenant
	}
	r, err := rs.getFresh(ctx, t, c.Room)
	if err != nil {
		return Room{}, Claims{}, err
	}
	if r.State != StateOpen {
		return Room{}, Claims{}, fmt.Errorf("room %s: %w", r.ID, ErrEnded)
	}
	// A guest's token is good only while its invite stands (invites.go).
	if c.Role == RoleGuest {
		if err := rs.checkGuest(ctx, t, c); err != nil {
			return Room{}, Claims{}, err
		}
	}
	return r, c, nil
}
