package auth

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types of the package. Every payload is at version 1.
const (
	CommandProviderSave   = "auth.provider.save"
	CommandProviderDelete = "auth.provider.delete"
	CommandFlowBegin      = "auth.flow.begin"
	CommandFlowConsume    = "auth.flow.consume"
	CommandLogin          = "auth.login"
	CommandSessionTouch   = "auth.session.touch"
	CommandSessionEnd     = "auth.session.end"
	CommandUserEndAll     = "auth.user.end_sessions"
	CommandUserDisable    = "auth.user.disable"
	CommandUserGrants     = "auth.user.grants"
	CommandBackchannel    = "auth.logout.backchannel"
)

// payloadVersion is the newest payload version the apply functions know.
// Any change to a payload's JSON form needs a new version, since older
// nodes refuse unknown fields.
const payloadVersion = 1

// providerSaveVersion is the newest version of auth.provider.save: 2 adds
// the client authentication method, the sealed secret and the keys of
// private_key_jwt to the provider.
const providerSaveVersion = 2

// migrations are the package's schema steps. Times are Unix nanoseconds
// (UTC), so that expiry checks are integer comparisons. Every table is
// keyed or indexed by tenant_id and every query names it.
var migrations = []cluster.Migration{{
	Component: "auth",
	Version:   1,
	SQL: `
CREATE TABLE auth_providers (
	tenant_id TEXT NOT NULL,
	id        TEXT NOT NULL,
	config    TEXT NOT NULL,
	created   INTEGER NOT NULL,
	updated   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id)
);
CREATE TABLE auth_flows (
	state_hash   TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL,
	provider     TEXT NOT NULL,
	issuer       TEXT NOT NULL,
	nonce        TEXT NOT NULL,
	verifier     TEXT NOT NULL,
	binding_hash TEXT NOT NULL,
	return_path  TEXT NOT NULL,
	expires      INTEGER NOT NULL
);
CREATE INDEX auth_flows_expires ON auth_flows(expires);
CREATE TABLE auth_users (
	id           TEXT PRIMARY KEY,
	tenant_id    TEXT NOT NULL,
	issuer       TEXT NOT NULL,
	subject      TEXT NOT NULL,
	provider     TEXT NOT NULL,
	username     TEXT NOT NULL,
	display_name TEXT NOT NULL,
	email        TEXT NOT NULL,
	fiscal_code  TEXT NOT NULL,
	claim_grants TEXT NOT NULL,
	assigned     TEXT NOT NULL,
	disabled     INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	last_login   INTEGER NOT NULL
);
CREATE UNIQUE INDEX auth_users_identity ON auth_users(tenant_id, issuer, subject);
CREATE TABLE auth_sessions (
	id        TEXT PRIMARY KEY,
	tenant_id TEXT NOT NULL,
	user_id   TEXT NOT NULL REFERENCES auth_users(id),
	provider  TEXT NOT NULL,
	csrf      TEXT NOT NULL,
	id_token  TEXT NOT NULL,
	created   INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	idle      INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	cmd_index INTEGER NOT NULL,
	op_sid    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX auth_sessions_user ON auth_sessions(tenant_id, user_id);
CREATE INDEX auth_sessions_expires ON auth_sessions(expires);
`,
}}

// Payloads, version 1.
type (
	providerSavePayload struct {
		Provider Provider `json:"provider"`
	}
	providerDeletePayload struct {
		ID string `json:"id"`
	}
	flowBeginPayload struct {
		StateHash   string        `json:"state_hash"`
		BindingHash string        `json:"binding_hash"`
		Provider    string        `json:"provider"`
		Nonce       string        `json:"nonce"`
		Verifier    string        `json:"verifier"`
		Return      string        `json:"return"`
		TTL         time.Duration `json:"ttl"`
	}
	flowConsumePayload struct {
		StateHash   string `json:"state_hash"`
		BindingHash string `json:"binding_hash"`
	}
	loginPayload struct {
		Identity Identity `json:"identity"`
		// NewUserID is used when the (issuer, subject) pair is new.
		NewUserID string `json:"new_user_id"`
		SessionID string `json:"session_id"`
		CSRF      string `json:"csrf"`
		IDToken   string `json:"id_token"`
		// Previous is the session the browser had before, ended here
		// (session rotation at login).
		Previous string        `json:"previous,omitempty"`
		Idle     time.Duration `json:"idle"`
		Absolute time.Duration `json:"absolute"`
	}
	sessionPayload struct {
		SessionID string `json:"session_id"`
	}
	backchannelPayload struct {
		Issuer    string `json:"issuer"`
		Subject   string `json:"subject,omitempty"`
		OPSession string `json:"op_sid,omitempty"`
	}
	userPayload struct {
		UserID   string  `json:"user_id"`
		Disabled bool    `json:"disabled,omitempty"`
		Grants   []Grant `json:"grants,omitempty"`
	}
)

// LoginResult is what auth.login returns: the user, created or updated,
// and the new session.
type LoginResult struct {
	User    User    `json:"user"`
	Session Session `json:"session"`
}

// Register adds the package's migrations, apply functions, error codes and
// result decoders to reg. cmd/sportello calls it once per node, after
// tenant.Register.
func Register(reg *cluster.Registry) {
	registerErrors(reg)
	reg.Migrate(migrations...)
	reg.Handle(CommandProviderSave, providerSaveVersion, applyProviderSave)
	reg.Handle(CommandProviderDelete, payloadVersion, applyProviderDelete)
	reg.Handle(CommandFlowBegin, payloadVersion, applyFlowBegin)
	reg.Handle(CommandFlowConsume, payloadVersion, applyFlowConsume)
	reg.Handle(CommandLogin, payloadVersion, applyLogin)
	reg.Handle(CommandSessionTouch, payloadVersion, applySessionTouch)
	reg.Handle(CommandSessionEnd, payloadVersion, applySessionEnd)
	reg.Handle(CommandUserEndAll, payloadVersion, applyUserEndAll)
	reg.Handle(CommandUserDisable, payloadVersion, applyUserDisable)
	reg.Handle(CommandUserGrants, payloadVersion, applyUserGrants)
	reg.Handle(CommandBackchannel, payloadVersion, applyBackchannel)
	// Touches are the only frequent auth command (at most one per active
	// session per TouchInterval) and do not use the index: let them share
	// log entries.
	reg.ShareEntries(CommandSessionTouch)
	reg.HandleResult(CommandFlowConsume, decodeAs[Flow])
	reg.HandleResult(CommandLogin, decodeAs[LoginResult])
	reg.HandleResult(CommandUserEndAll, decodeAs[int])
	reg.HandleResult(CommandBackchannel, decodeAs[int])
	describeCommands(reg)
	registerLocal(reg)
}

func decodeAs[T any](b json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// decode checks the version and tenant of cmd and decodes its payload.
func decode(cmd cluster.Command, v any) error {
	if cmd.Version < 1 || cmd.Version > payloadVersion {
		return fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, payloadVersion)
	}
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command without a tenant", cmd.Type)
	}
	return cmd.Decode(v)
}

func applyProviderSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p providerSavePayload
	if cmd.Version < 1 || cmd.Version > providerSaveVersion {
		return nil, fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, providerSaveVersion)
	}
	if cmd.Tenant == "" {
		return nil, fmt.Errorf("%s: command without a tenant", cmd.Type)
	}
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	normalizeProvider(&p.Provider)
	if err := validateProvider(p.Provider); err != nil {
		return nil, err
	}
	cfg := p.Provider
	cfg.Created, cfg.Updated = time.Time{}, time.Time{}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	now := cmd.Time.UnixNano()
	_, err = tx.Exec(`INSERT INTO auth_providers (tenant_id, id, config, created, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, id) DO UPDATE SET config = excluded.config, updated = excluded.updated`,
		cmd.Tenant, cfg.ID, string(b), now, now)
	if err != nil {
		return nil, fmt.Errorf("save provider %s: %w", cfg.ID, err)
	}
	return nil, nil
}

func applyProviderDelete(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p providerDeletePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	res, err := tx.Exec(`DELETE FROM auth_providers WHERE tenant_id = ? AND id = ?`, cmd.Tenant, p.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("delete provider %s: %w", p.ID, ErrProviderNotFound)
	}
	// Logins in progress with it can no longer finish; sessions already
	// made stay until they end (an administrator ends them if needed).
	_, err = tx.Exec(`DELETE FROM auth_flows WHERE tenant_id = ? AND provider = ?`, cmd.Tenant, p.ID)
	return nil, err
}

// providerIn reads provider id of tenant inside tx.
func providerIn(tx *sql.Tx, tenantID, id string) (Provider, error) {
	var (
		cfg              string
		created, updated int64
	)
	err := tx.QueryRow(`SELECT config, created, updated FROM auth_providers WHERE tenant_id = ? AND id = ?`,
		tenantID, id).Scan(&cfg, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Provider{}, fmt.Errorf("provider %s: %w", id, ErrProviderNotFound)
	}
	if err != nil {
		return Provider{}, err
	}
	return decodeProvider(cfg, created, updated)
}

func decodeProvider(cfg string, created, updated int64) (Provider, error) {
	var p Provider
	if err := json.Unmarshal([]byte(cfg), &p); err != nil {
		return Provider{}, fmt.Errorf("decode provider: %w", err)
	}
	p.Created, p.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return p, nil
}

// applyFlowBegin records a login in progress. The issuer is read from the
// provider's configuration here, so that the flow is bound to the issuer
// the provider had when the login began. Expired flows of every Comune
// are purged in the same step: the table stays as small as the logins in
// progress.
func applyFlowBegin(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p flowBeginPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.StateHash == "" || p.BindingHash == "" || p.Nonce == "" || p.Verifier == "" || p.TTL <= 0 {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	prov, err := providerIn(tx, cmd.Tenant, p.Provider)
	if err != nil {
		return nil, err
	}
	now := cmd.Time.UnixNano()
	if _, err := tx.Exec(`DELETE FROM auth_flows WHERE expires <= ?`, now); err != nil {
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO auth_flows (state_hash, tenant_id, provider, issuer, nonce, verifier, binding_hash, return_path, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.StateHash, cmd.Tenant, prov.ID, prov.Issuer, p.Nonce, p.Verifier, p.BindingHash, p.Return, cmd.Time.Add(p.TTL).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("record login flow: %w", err)
	}
	return nil, nil
}

// applyFlowConsume takes a login in progress out of the state and returns
// it: a state is good for one answer only, whatever that answer is. It
// returns ErrFlowInvalid for an unknown or expired state, one of another
// Comune, or one presented without the binding of the browser that began
// it (the flow then stays, so that a forged request cannot cancel a
// victim's login).
func applyFlowConsume(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p flowConsumePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	var (
		f       Flow
		binding string
		expires int64
	)
	err := tx.QueryRow(`SELECT provider, issuer, nonce, verifier, binding_hash, return_path, expires
		FROM auth_flows WHERE state_hash = ? AND tenant_id = ?`, p.StateHash, cmd.Tenant).
		Scan(&f.Provider, &f.Issuer, &f.Nonce, &f.Verifier, &binding, &f.Return, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("consume login state: %w", ErrFlowInvalid)
	}
	if err != nil {
		return nil, err
	}
	if binding != p.BindingHash {
		return nil, fmt.Errorf("consume login state: browser binding differs: %w", ErrFlowInvalid)
	}
	if _, err := tx.Exec(`DELETE FROM auth_flows WHERE state_hash = ?`, p.StateHash); err != nil {
		return nil, err
	}
	if cmd.Time.UnixNano() >= expires {
		return nil, fmt.Errorf("consume login state: expired: %w", ErrFlowInvalid)
	}
	f.Tenant = tenantID(cmd.Tenant)
	f.Expires = time.Unix(0, expires).UTC()
	return f, nil
}

// applyLogin records a verified login: it creates or updates the user of
// (tenant, issuer, subject), replaces its claimed grants with those the
// provider's rules give its groups, ends the browser's previous session
// and creates the new one. The identity's issuer must be the issuer the
// provider has now: a login verified against an issuer the Comune has
// since changed is refused.
func applyLogin(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p loginPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	id := p.Identity
	if id.Subject == "" || p.SessionID == "" || p.NewUserID == "" || p.Idle <= 0 || p.Absolute <= 0 {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	prov, err := providerIn(tx, cmd.Tenant, id.Provider)
	if err != nil {
		return nil, err
	}
	if prov.Issuer != id.Issuer {
		return nil, fmt.Errorf("login: issuer %q is not provider %s's (%q): %w", id.Issuer, prov.ID, prov.Issuer, ErrIssuerMismatch)
	}
	now := cmd.Time.UnixNano()
	grants, err := json.Marshal(nonNil(grantsFor(prov.Roles, id.Groups)))
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO auth_users (id, tenant_id, issuer, subject, provider, username, display_name, email,
			fiscal_code, claim_grants, assigned, disabled, created, last_login)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', 0, ?, ?)
		ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET provider = excluded.provider,
			username = excluded.username, display_name = excluded.display_name, email = excluded.email,
			fiscal_code = excluded.fiscal_code, claim_grants = excluded.claim_grants, last_login = excluded.last_login`,
		p.NewUserID, cmd.Tenant, id.Issuer, id.Subject, id.Provider, id.Username, id.DisplayName, id.Email,
		id.FiscalCode, string(grants), now, now)
	if err != nil {
		return nil, fmt.Errorf("record user: %w", err)
	}
	u, err := scanUser(tx.QueryRow(userSelect+` WHERE tenant_id = ? AND issuer = ? AND subject = ?`, cmd.Tenant, id.Issuer, id.Subject))
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, fmt.Errorf("login of user %s: %w", u.ID, ErrUserDisabled)
	}
	s := Session{
		ID: p.SessionID, Tenant: tenantID(cmd.Tenant), UserID: u.ID, Provider: id.Provider, CSRF: p.CSRF,
		IDToken: p.IDToken, Idle: p.Idle,
	}
	if err := startSession(tx, cmd, &s, p.Previous, p.Absolute, id.ProviderSession); err != nil {
		return nil, err
	}
	return LoginResult{User: u, Session: s}, nil
}

// startSession stores s, a new session of the command's Comune, created
// at the command's time and ending after absolute (s.ID, UserID,
// Provider, CSRF, IDToken and Idle are set by the caller). It ends the
// browser's previous session (rotation) and, on the way, every session of
// the Comune past its end: the table holds roughly the sessions alive,
// without a sweeper. opSID is the provider's session ID for back-channel
// logout ("" when none).
func startSession(tx *sql.Tx, cmd cluster.Command, s *Session, previous string, absolute time.Duration, opSID string) error {
	now := cmd.Time.UnixNano()
	if previous != "" {
		if _, err := tx.Exec(`DELETE FROM auth_sessions WHERE id = ? AND tenant_id = ?`, previous, cmd.Tenant); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`DELETE FROM auth_sessions WHERE tenant_id = ? AND (expires <= ? OR last_seen + idle <= ?)`,
		cmd.Tenant, now, now); err != nil {
		return err
	}
	s.Created, s.LastSeen, s.Expires, s.Index = cmd.Time.UTC(), cmd.Time.UTC(), cmd.Time.Add(absolute).UTC(), cmd.Index
	_, err := tx.Exec(`INSERT INTO auth_sessions (id, tenant_id, user_id, provider, csrf, id_token, created, last_seen, idle, expires, cmd_index, op_sid)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, cmd.Tenant, s.UserID, s.Provider, s.CSRF, s.IDToken, now, now, int64(s.Idle), s.Expires.UnixNano(), int64(cmd.Index), opSID)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// applySessionTouch moves a session's last activity to the command's time.
// A session already ended, idle too long or past its end at that time is
// not revived: ErrNoSession.
func applySessionTouch(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p sessionPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	now := cmd.Time.UnixNano()
	res, err := tx.Exec(`UPDATE auth_sessions SET last_seen = ? WHERE id = ? AND tenant_id = ?
		AND expires > ? AND last_seen + idle > ? AND last_seen < ?`, now, p.SessionID, cmd.Tenant, now, now, now)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("touch session: %w", ErrNoSession)
	}
	return nil, nil
}

func applySessionEnd(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p sessionPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`DELETE FROM auth_sessions WHERE id = ? AND tenant_id = ?`, p.SessionID, cmd.Tenant)
	return nil, err
}

// applyBackchannel ends the sessions a provider's back-channel logout
// token names: those of the user (issuer, subject) when the token has a
// subject, only those of the provider session sid when it has one, both
// conditions when it has both. It returns how many ended; none is not an
// error (the user may have logged out here already).
func applyBackchannel(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p backchannelPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Issuer == "" || (p.Subject == "" && p.OPSession == "") {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	q := `DELETE FROM auth_sessions WHERE tenant_id = ? AND user_id IN
		(SELECT id FROM auth_users WHERE tenant_id = ? AND issuer = ?`
	args := []any{cmd.Tenant, cmd.Tenant, p.Issuer}
	if p.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, p.Subject)
	}
	q += `)`
	if p.OPSession != "" {
		q += ` AND op_sid = ?`
		args = append(args, p.OPSession)
	}
	res, err := tx.Exec(q, args...)
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// endUserSessions deletes every session of a user and returns how many.
func endUserSessions(tx *sql.Tx, tenant, userID string) (int, error) {
	res, err := tx.Exec(`DELETE FROM auth_sessions WHERE tenant_id = ? AND user_id = ?`, tenant, userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// userExists returns ErrUserNotFound when the Comune has no such user.
func userExists(tx *sql.Tx, tenant, userID string) error {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM auth_users WHERE tenant_id = ? AND id = ?`, tenant, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("user %s: %w", userID, ErrUserNotFound)
	}
	return err
}

func applyUserEndAll(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p userPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := userExists(tx, cmd.Tenant, p.UserID); err != nil {
		return nil, err
	}
	return endUserSessions(tx, cmd.Tenant, p.UserID)
}

// applyUserDisable disables (or enables again) a user; disabling ends its
// sessions in the same step, so no node accepts them afterwards.
func applyUserDisable(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p userPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := userExists(tx, cmd.Tenant, p.UserID); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`UPDATE auth_users SET disabled = ? WHERE tenant_id = ? AND id = ?`, p.Disabled, cmd.Tenant, p.UserID); err != nil {
		return nil, err
	}
	if p.Disabled {
		if _, err := endUserSessions(tx, cmd.Tenant, p.UserID); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func applyUserGrants(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p userPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if err := validateGrants(p.Grants); err != nil {
		return nil, err
	}
	if err := userExists(tx, cmd.Tenant, p.UserID); err != nil {
		return nil, err
	}
	b, err := json.Marshal(nonNil(p.Grants))
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(`UPDATE auth_users SET assigned = ? WHERE tenant_id = ? AND id = ?`, string(b), cmd.Tenant, p.UserID)
	return nil, err
}

func nonNil(gs []Grant) []Grant {
	if gs == nil {
		return []Grant{}
	}
	return gs
}

// userSelect reads the columns scanUser expects.
const userSelect = `SELECT id, tenant_id, issuer, subject, provider, username, display_name, email, fiscal_code,
	claim_grants, assigned, disabled, created, last_login FROM auth_users`

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

func scanUser(r rowScanner) (User, error) {
	var (
		u                 User
		claimed, assigned string
		created, last     int64
	)
	err := r.Scan(&u.ID, &u.Tenant, &u.Issuer, &u.Subject, &u.Provider, &u.Username, &u.DisplayName, &u.Email,
		&u.FiscalCode, &claimed, &assigned, &u.Disabled, &created, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, err
	}
	if err := json.Unmarshal([]byte(claimed), &u.ClaimGrants); err != nil {
		return User{}, fmt.Errorf("decode grants of user %s: %w", u.ID, err)
	}
	if err := json.Unmarshal([]byte(assigned), &u.Assigned); err != nil {
		return User{}, fmt.Errorf("decode grants of user %s: %w", u.ID, err)
	}
	u.Created, u.LastLogin = time.Unix(0, created).UTC(), time.Unix(0, last).UTC()
	return u, nil
}
