package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Default durations of Config.
const (
	// DefaultIdleTimeout ends a session after half an hour without
	// activity: an operator's desk left unattended.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultAbsoluteTimeout ends every session after twelve hours: a
	// working day, after which the provider is asked again.
	DefaultAbsoluteTimeout = 12 * time.Hour
	// DefaultFlowTTL bounds the time between the redirect to the provider
	// and its answer (the user may have to type a password and an OTP).
	DefaultFlowTTL = 10 * time.Minute
	// DefaultTouchInterval is the least time between two touches of one
	// session: at most one replicated write per active session per
	// minute, at the cost of an idle timeout precise to the minute.
	DefaultTouchInterval = time.Minute
)

// Config configures a Store.
type Config struct {
	// Proposer writes (a *cluster.Node); required.
	Proposer cluster.Proposer
	// DB is the node's read pool; required.
	DB *sql.DB
	// Now is the clock used to judge sessions on read; nil means time.Now.
	// Writes are judged by apply with the leader's time.
	Now func() time.Time
	// Random is the source of secrets; nil means crypto/rand.Reader.
	Random io.Reader
	// Secrets seals the providers' client secrets and private keys
	// (OpenSecrets of the data directory's secrets.key). Nil keeps client
	// secrets in clear and refuses private_key_jwt: only for tests and
	// tools that never see a real secret.
	Secrets         *Secrets
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	FlowTTL         time.Duration
	TouchInterval   time.Duration
}

// Store is a node's access to the auth state: reads from the local SQLite
// read pool, writes through replicated commands. It is safe for
// concurrent use and has no goroutines.
type Store struct {
	p   cluster.Proposer
	db  *sql.DB
	now func() time.Time
	rnd io.Reader
	cfg Config
}

// NewStore returns a Store; zero durations of cfg get the defaults.
func NewStore(cfg Config) *Store {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AbsoluteTimeout <= 0 {
		cfg.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if cfg.FlowTTL <= 0 {
		cfg.FlowTTL = DefaultFlowTTL
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = DefaultTouchInterval
	}
	return &Store{p: cfg.Proposer, db: cfg.DB, now: cfg.Now, rnd: cfg.Random, cfg: cfg}
}

func tenantID(s string) tenant.ID { return tenant.ID(s) }

// Hash returns the hex SHA-256 of a secret, the form in which session IDs,
// states and bindings are stored.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// secret returns 32 random bytes in unpadded base64url.
func (s *Store) secret() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rnd, b); err != nil {
		return "", fmt.Errorf("draw secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// propose builds and proposes one command.
func (s *Store) propose(ctx context.Context, typ string, t tenant.ID, payload any) (cluster.Result, error) {
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return cluster.Result{}, err
	}
	res, err := s.p.Propose(ctx, cmd)
	if err != nil {
		return cluster.Result{}, fmt.Errorf("%s: %w", typ, err)
	}
	return res, nil
}

// FlowTTL returns how long a login may take between the redirect to the
// provider and its answer.
func (s *Store) FlowTTL() time.Duration { return s.cfg.FlowTTL }

// SaveProvider creates or replaces provider p of Comune t. It returns a
// *ValidationError for invalid fields; apply checks them again.
//
// The client secret is sealed here, in the proposer, so that it is in
// clear neither in the replicated state nor in the Raft log. For
// private_key_jwt a key pair is drawn when p has none (algorithm
// p.KeyAlg, RS256 by default); the keys of a provider read with Provider
// are kept as they are. A secret or key of another method is dropped.
func (s *Store) SaveProvider(ctx context.Context, t tenant.ID, p Provider) (Provider, error) {
	normalizeProvider(&p)
	if p.ClientAuth.Method() == PrivateKeyJWT && len(p.Keys) == 0 && idPattern.MatchString(p.ID) {
		if err := s.addKey(t, &p); err != nil {
			return Provider{}, err
		}
	}
	// Validation comes before sealing, so that a refused form says what
	// is wrong with it even on a node that cannot seal.
	if err := validateProvider(p); err != nil {
		return Provider{}, err
	}
	if err := s.sealProvider(t, &p); err != nil {
		return Provider{}, err
	}
	cmd, err := cluster.NewCommand(CommandProviderSave, providerSaveVersion, string(t), providerSavePayload{Provider: p})
	if err != nil {
		return Provider{}, err
	}
	res, err := s.p.Propose(ctx, cmd)
	if err != nil {
		return Provider{}, fmt.Errorf("%s: %w", CommandProviderSave, err)
	}
	if err := s.p.WaitApplied(ctx, res.Index); err != nil {
		return Provider{}, err
	}
	return s.Provider(ctx, t, p.ID)
}

// RotateProviderKey draws a new private_key_jwt key for provider id of
// Comune t (algorithm alg, or the provider's KeyAlg when empty), which
// signs from now on; the previous key stays published in the JWKS until
// the next rotation, so that a provider that cached the JWKS keeps
// accepting the node's assertions until it fetches it again.
func (s *Store) RotateProviderKey(ctx context.Context, t tenant.ID, id, alg string) (Provider, error) {
	p, err := s.Provider(ctx, t, id)
	if err != nil {
		return Provider{}, err
	}
	if p.ClientAuth.Method() != PrivateKeyJWT {
		return Provider{}, &ValidationError{Fields: map[string]string{"client_auth": "Il fornitore non usa private_key_jwt: non ha chiavi da rinnovare."}}
	}
	if alg != "" {
		p.KeyAlg = alg
	}
	if err := s.addKey(t, &p); err != nil {
		return Provider{}, err
	}
	return s.SaveProvider(ctx, t, p)
}

// addKey puts a new key pair, sealed, first in p's keys and keeps at most
// maxClientKeys.
func (s *Store) addKey(t tenant.ID, p *Provider) error {
	if s.cfg.Secrets == nil {
		return fmt.Errorf("provider %s: private_key_jwt needs the secrets key: %w", p.ID, ErrNoSecretsKey)
	}
	if p.KeyAlg != "" && p.KeyAlg != AlgRS256 && p.KeyAlg != AlgES256 {
		return &ValidationError{Fields: map[string]string{"key_alg": "L'algoritmo della chiave deve essere RS256 o ES256."}}
	}
	k, priv, err := newClientKey(p.KeyAlg, s.rnd, s.now())
	if err != nil {
		return err
	}
	k.SealedPrivate, err = s.cfg.Secrets.seal(s.rnd, string(t), p.ID, keyPurpose(k.ID), priv)
	if err != nil {
		return err
	}
	p.Keys = append([]ClientKey{k}, p.Keys...)
	if len(p.Keys) > maxClientKeys {
		p.Keys = p.Keys[:maxClientKeys]
	}
	return nil
}

// sealProvider seals p's clear secret and drops what its method does not
// use.
func (s *Store) sealProvider(t tenant.ID, p *Provider) error {
	if p.ClientAuth.Method() == PrivateKeyJWT {
		p.ClientSecret, p.SealedSecret = "", ""
		return nil
	}
	p.Keys = nil
	if p.ClientSecret == "" || s.cfg.Secrets == nil {
		return nil
	}
	sealed, err := s.cfg.Secrets.seal(s.rnd, string(t), p.ID, secretPurpose, []byte(p.ClientSecret))
	if err != nil {
		return fmt.Errorf("provider %s: %w", p.ID, err)
	}
	p.ClientSecret, p.SealedSecret = "", sealed
	return nil
}

// openProvider opens p's sealed secret and private keys into memory.
func (s *Store) openProvider(t tenant.ID, p *Provider) error {
	if p.SealedSecret == "" && len(p.Keys) == 0 {
		return nil
	}
	if s.cfg.Secrets == nil {
		return fmt.Errorf("provider %s of %s: %w", p.ID, t, ErrNoSecretsKey)
	}
	if p.SealedSecret != "" {
		b, err := s.cfg.Secrets.open(p.SealedSecret, string(t), p.ID, secretPurpose)
		if err != nil {
			return err
		}
		p.ClientSecret = string(b)
	}
	for i, k := range p.Keys {
		der, err := s.cfg.Secrets.open(k.SealedPrivate, string(t), p.ID, keyPurpose(k.ID))
		if err != nil {
			return err
		}
		if p.Keys[i].signer, err = openKey(der); err != nil {
			return fmt.Errorf("provider %s of %s, key %s: %w", p.ID, t, k.ID, err)
		}
	}
	return nil
}

// DeleteProvider removes a provider and the logins in progress with it.
func (s *Store) DeleteProvider(ctx context.Context, t tenant.ID, id string) error {
	_, err := s.propose(ctx, CommandProviderDelete, t, providerDeletePayload{ID: id})
	return err
}

// Provider returns provider id of Comune t, or ErrProviderNotFound, with
// its client secret and private keys opened. When this node cannot open
// them (no secrets key, or another one) the provider is still returned,
// sealed, and its SecretsError says why: logout, back-channel logout and
// the back office's pages need no secret and keep working; the code
// exchange checks SecretsError first.
func (s *Store) Provider(ctx context.Context, t tenant.ID, id string) (Provider, error) {
	var (
		cfg              string
		created, updated int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT config, created, updated FROM auth_providers WHERE tenant_id = ? AND id = ?`,
		string(t), id).Scan(&cfg, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Provider{}, fmt.Errorf("provider %s of %s: %w", id, t, ErrProviderNotFound)
	}
	if err != nil {
		return Provider{}, fmt.Errorf("provider %s of %s: %w", id, t, err)
	}
	p, err := decodeProvider(cfg, created, updated)
	if err != nil {
		return Provider{}, err
	}
	if err := s.openProvider(t, &p); err != nil {
		sealed, _ := decodeProvider(cfg, created, updated)
		sealed.secretsErr = err
		return sealed, nil
	}
	return p, nil
}

// Providers returns the providers of Comune t, sorted by ID. Secrets and
// private keys stay sealed (ClientSecret is set only for a row saved in
// clear): lists, the login chooser and the JWKS need none of them.
func (s *Store) Providers(ctx context.Context, t tenant.ID) ([]Provider, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT config, created, updated FROM auth_providers WHERE tenant_id = ? ORDER BY id`, string(t))
	if err != nil {
		return nil, fmt.Errorf("providers of %s: %w", t, err)
	}
	defer rows.Close()
	var out []Provider
	for rows.Next() {
		var (
			cfg              string
			created, updated int64
		)
		if err := rows.Scan(&cfg, &created, &updated); err != nil {
			return nil, err
		}
		p, err := decodeProvider(cfg, created, updated)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// BeginLogin records a login with provider of Comune t that will come back
// to returnPath, and returns the flow with its secrets: State, Nonce and
// Verifier for the authorization request, Binding for the browser's
// cookie. Only the flow with Issuer filled in is returned.
func (s *Store) BeginLogin(ctx context.Context, t tenant.ID, provider, returnPath string) (Flow, error) {
	prov, err := s.Provider(ctx, t, provider)
	if err != nil {
		return Flow{}, err
	}
	var sec [4]string
	for i := range sec {
		if sec[i], err = s.secret(); err != nil {
			return Flow{}, err
		}
	}
	f := Flow{Tenant: t, Provider: prov.ID, Issuer: prov.Issuer, State: sec[0], Nonce: sec[1], Verifier: sec[2],
		Binding: sec[3], Return: returnPath, Expires: s.now().Add(s.cfg.FlowTTL)}
	_, err = s.propose(ctx, CommandFlowBegin, t, flowBeginPayload{
		StateHash: Hash(f.State), BindingHash: Hash(f.Binding), Provider: f.Provider, Nonce: f.Nonce,
		Verifier: f.Verifier, Return: f.Return, TTL: s.cfg.FlowTTL,
	})
	if err != nil {
		return Flow{}, err
	}
	return f, nil
}

// ConsumeLogin takes the flow of state out of the replicated state, on
// whichever node began it, and returns it (without State and Binding).
// binding must be the value BeginLogin gave the browser. Any second use
// of a state gives ErrFlowInvalid.
func (s *Store) ConsumeLogin(ctx context.Context, t tenant.ID, state, binding string) (Flow, error) {
	if state == "" || binding == "" {
		return Flow{}, fmt.Errorf("consume login: missing state or binding: %w", ErrFlowInvalid)
	}
	res, err := s.propose(ctx, CommandFlowConsume, t, flowConsumePayload{StateHash: Hash(state), BindingHash: Hash(binding)})
	if err != nil {
		return Flow{}, err
	}
	f, ok := res.Value.(Flow)
	if !ok {
		return Flow{}, fmt.Errorf("consume login: unexpected result %T", res.Value)
	}
	return f, nil
}

// Login records a verified login of id and returns the user and the new
// session with the secret to put in the browser's cookie (SessionCookie
// form: the secret and the creation index). previous is the cookie value
// the browser had, "" if none: that session ends (rotation).
func (s *Store) Login(ctx context.Context, t tenant.ID, id Identity, rawIDToken, previous string) (LoginResult, string, error) {
	var sec [3]string
	var err error
	for i := range sec {
		if sec[i], err = s.secret(); err != nil {
			return LoginResult{}, "", err
		}
	}
	p := loginPayload{Identity: id, NewUserID: sec[0][:22], SessionID: Hash(sec[1]), CSRF: sec[2], IDToken: rawIDToken,
		Idle: s.cfg.IdleTimeout, Absolute: s.cfg.AbsoluteTimeout}
	if prev, _, ok := parseCookie(previous); ok {
		p.Previous = Hash(prev)
	}
	res, err := s.propose(ctx, CommandLogin, t, p)
	if err != nil {
		return LoginResult{}, "", err
	}
	lr, ok := res.Value.(LoginResult)
	if !ok {
		return LoginResult{}, "", fmt.Errorf("login: unexpected result %T", res.Value)
	}
	return lr, sec[1] + "." + strconv.FormatUint(res.Index, 10), nil
}

// parseCookie splits a session cookie value "<secret>.<index>".
func parseCookie(v string) (secret string, index uint64, ok bool) {
	sec, idx, found := strings.Cut(v, ".")
	if !found || len(sec) != 43 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return sec, n, true
}

// sessionWait bounds how long Session waits for the local node to apply
// the command that created a session made through another node.
const sessionWait = 2 * time.Second

// maxSessionLag is how far beyond the locally applied index a cookie's
// index may be for Session to wait for it: a session made through another
// node a moment ago is a few entries ahead, a forged cookie may name any
// index and must not make the request wait.
const maxSessionLag = 10000

// appliedIndexer is implemented by *cluster.Node.
type appliedIndexer interface{ AppliedIndex() uint64 }

// Session returns the active session of cookie (the value Login returned)
// in Comune t, with its user. A session created through another node is
// found here too: the cookie carries the creation's log index, and when
// the session is not found locally Session waits (at most sessionWait)
// until this node has applied that index, then looks again. It returns
// ErrNoSession for a malformed, unknown, ended or expired session and for
// a disabled user.
func (s *Store) Session(ctx context.Context, t tenant.ID, cookie string) (Session, User, error) {
	sec, index, ok := parseCookie(cookie)
	if !ok {
		return Session{}, User{}, ErrNoSession
	}
	ss, err := s.readSession(ctx, t, Hash(sec))
	if errors.Is(err, ErrNoSession) && s.mayWait(index) {
		wctx, cancel := context.WithTimeout(ctx, sessionWait)
		werr := s.p.WaitApplied(wctx, index)
		cancel()
		if werr == nil {
			ss, err = s.readSession(ctx, t, Hash(sec))
		}
	}
	if err != nil {
		return Session{}, User{}, err
	}
	if !ss.ActiveAt(s.now()) {
		return Session{}, User{}, fmt.Errorf("session expired: %w", ErrNoSession)
	}
	u, err := s.User(ctx, t, ss.UserID)
	if err != nil {
		return Session{}, User{}, err
	}
	if u.Disabled {
		return Session{}, User{}, fmt.Errorf("session of disabled user %s: %w", u.ID, ErrNoSession)
	}
	return ss, u, nil
}

// mayWait reports whether a session created at index may still be on
// its way to this node.
func (s *Store) mayWait(index uint64) bool {
	ai, ok := s.p.(appliedIndexer)
	if !ok {
		return true
	}
	applied := ai.AppliedIndex()
	return index > applied && index-applied <= maxSessionLag
}

// readSession reads session id of Comune t from the local state.
func (s *Store) readSession(ctx context.Context, t tenant.ID, id string) (Session, error) {
	var (
		ss                         Session
		created, seen, idle, until int64
		cmdIndex                   int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, tenant_id, user_id, provider, csrf, id_token, created, last_seen, idle, expires, cmd_index
		FROM auth_sessions WHERE id = ? AND tenant_id = ?`, id, string(t)).
		Scan(&ss.ID, &ss.Tenant, &ss.UserID, &ss.Provider, &ss.CSRF, &ss.IDToken, &created, &seen, &idle, &until, &cmdIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	ss.Created, ss.LastSeen = time.Unix(0, created).UTC(), time.Unix(0, seen).UTC()
	ss.Idle, ss.Expires, ss.Index = time.Duration(idle), time.Unix(0, until).UTC(), uint64(cmdIndex)
	return ss, nil
}

// Touch records activity on ss when its last recorded activity is at
// least TouchInterval old; otherwise it writes nothing. It returns
// ErrNoSession when apply found the session ended or expired.
func (s *Store) Touch(ctx context.Context, t tenant.ID, ss Session) error {
	if s.now().Sub(ss.LastSeen) < s.cfg.TouchInterval {
		return nil
	}
	_, err := s.propose(ctx, CommandSessionTouch, t, sessionPayload{SessionID: ss.ID})
	return err
}

// EndSession ends the session with ID sessionID (Session.ID, the hash).
func (s *Store) EndSession(ctx context.Context, t tenant.ID, sessionID string) error {
	_, err := s.propose(ctx, CommandSessionEnd, t, sessionPayload{SessionID: sessionID})
	return err
}

// EndUserSessions ends every session of a user and returns how many.
func (s *Store) EndUserSessions(ctx context.Context, t tenant.ID, userID string) (int, error) {
	res, err := s.propose(ctx, CommandUserEndAll, t, userPayload{UserID: userID})
	if err != nil {
		return 0, err
	}
	n, _ := res.Value.(int)
	return n, nil
}

// BackchannelLogout ends the sessions of Comune t that a provider's
// verified back-channel logout token names (see applyBackchannel) and
// returns how many ended.
func (s *Store) BackchannelLogout(ctx context.Context, t tenant.ID, issuer, subject, opSID string) (int, error) {
	res, err := s.propose(ctx, CommandBackchannel, t, backchannelPayload{Issuer: issuer, Subject: subject, OPSession: opSID})
	if err != nil {
		return 0, err
	}
	n, _ := res.Value.(int)
	return n, nil
}

// SetDisabled disables a user (ending its sessions at once) or enables it
// again.
func (s *Store) SetDisabled(ctx context.Context, t tenant.ID, userID string, disabled bool) error {
	_, err := s.propose(ctx, CommandUserDisable, t, userPayload{UserID: userID, Disabled: disabled})
	return err
}

// SetGrants replaces the grants assigned to a user in the back office.
func (s *Store) SetGrants(ctx context.Context, t tenant.ID, userID string, grants []Grant) error {
	if err := validateGrants(grants); err != nil {
		return err
	}
	_, err := s.propose(ctx, CommandUserGrants, t, userPayload{UserID: userID, Grants: grants})
	return err
}

// User returns user id of Comune t, or ErrUserNotFound.
func (s *Store) User(ctx context.Context, t tenant.ID, id string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, userSelect+` WHERE tenant_id = ? AND id = ?`, string(t), id))
	if err != nil {
		return User{}, fmt.Errorf("user %s of %s: %w", id, t, err)
	}
	return u, nil
}

// Users returns the users of Comune t, sorted by display name.
func (s *Store) Users(ctx context.Context, t tenant.ID) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, userSelect+` WHERE tenant_id = ? ORDER BY display_name, id`, string(t))
	if err != nil {
		return nil, fmt.Errorf("users of %s: %w", t, err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
