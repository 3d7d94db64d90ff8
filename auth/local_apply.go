package auth

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types of break-glass administrators. All are appliance-wide
// (no tenant) except auth.local.login, which belongs to the Comune the
// administrator logs into.
const (
	CommandLocalCreate    = "auth.local.create"
	CommandLocalConfirm   = "auth.local.confirm"
	CommandLocalLogin     = "auth.local.login"
	CommandLocalFailure   = "auth.local.failure"
	CommandLocalDisable   = "auth.local.disable"
	CommandLocalResetTOTP = "auth.local.reset_totp"
)

// localMigrations add the break-glass accounts. The table has no
// tenant_id: an appliance administrator belongs to no Comune. The TOTP
// secret is stored as is (a verifier needs it); the password only as its
// argon2id hash.
var localMigrations = []cluster.Migration{{
	Component: "auth",
	Version:   2,
	SQL: `
CREATE TABLE auth_local_admins (
	id            TEXT PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	display_name  TEXT NOT NULL,
	email         TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret   TEXT NOT NULL,
	confirmed     INTEGER NOT NULL DEFAULT 0,
	disabled      INTEGER NOT NULL DEFAULT 0,
	last_step     INTEGER NOT NULL DEFAULT 0,
	failures      INTEGER NOT NULL DEFAULT 0,
	locked_until  INTEGER NOT NULL DEFAULT 0,
	created       INTEGER NOT NULL,
	last_login    INTEGER NOT NULL DEFAULT 0
);
`,
}}

// Payloads of the break-glass commands, version 1.
type (
	localCreatePayload struct {
		ID           string `json:"id"`
		Username     string `json:"username"`
		DisplayName  string `json:"display_name"`
		Email        string `json:"email"`
		PasswordHash string `json:"password_hash"`
		TOTPSecret   string `json:"totp_secret"`
	}
	localConfirmPayload struct {
		Username string `json:"username"`
		// Mark is credentialsMark of the secrets the code was checked
		// against; Step is the code's TOTP step.
		Mark string `json:"mark"`
		Step uint64 `json:"step"`
	}
	localLoginPayload struct {
		AdminID   string        `json:"admin_id"`
		Mark      string        `json:"mark"`
		Step      uint64        `json:"step"`
		NewUserID string        `json:"new_user_id"`
		SessionID string        `json:"session_id"`
		CSRF      string        `json:"csrf"`
		Previous  string        `json:"previous,omitempty"`
		Idle      time.Duration `json:"idle"`
		Absolute  time.Duration `json:"absolute"`
	}
	localFailurePayload struct {
		AdminID string `json:"admin_id"`
	}
	localDisablePayload struct {
		Username string `json:"username"`
		Disabled bool   `json:"disabled"`
	}
	localResetPayload struct {
		Username   string `json:"username"`
		TOTPSecret string `json:"totp_secret"`
	}
)

// LocalSecret is what creating an account or resetting its TOTP secret
// returns: the secret to put in the authenticator app, in base32 and as
// an otpauth:// URI. It is shown once, on the command line.
type LocalSecret struct {
	Admin  LocalAdmin `json:"admin"`
	Secret string     `json:"secret"`
	URI    string     `json:"uri"`
}

// registerLocal adds the break-glass commands to reg; Register calls it.
func registerLocal(reg *cluster.Registry) {
	reg.Migrate(localMigrations...)
	reg.RegisterError("auth.bad_credentials", ErrBadCredentials)
	reg.RegisterError("auth.local_exists", ErrLocalAdminExists)
	reg.RegisterError("auth.local_not_found", ErrLocalAdminNotFound)
	reg.RegisterError("auth.code_invalid", ErrCodeInvalid)
	reg.Handle(CommandLocalCreate, payloadVersion, applyLocalCreate)
	reg.Handle(CommandLocalConfirm, payloadVersion, applyLocalConfirm)
	reg.Handle(CommandLocalLogin, payloadVersion, applyLocalLogin)
	reg.Handle(CommandLocalFailure, payloadVersion, applyLocalFailure)
	reg.Handle(CommandLocalDisable, payloadVersion, applyLocalDisable)
	reg.Handle(CommandLocalResetTOTP, payloadVersion, applyLocalReset)
	reg.HandleResult(CommandLocalLogin, decodeAs[LoginResult])
	reg.HandleResult(CommandLocalFailure, decodeAs[bool])
	// The audit log names the account, never its secrets.
	name := func(cmd cluster.Command) string {
		var p struct {
			Username string `json:"username"`
			AdminID  string `json:"admin_id"`
			Disabled *bool  `json:"disabled"`
		}
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		s := "admin=" + p.Username + p.AdminID
		if p.Disabled != nil {
			s += fmt.Sprintf(" disabled=%t", *p.Disabled)
		}
		return s
	}
	for _, typ := range []string{CommandLocalCreate, CommandLocalConfirm, CommandLocalLogin, CommandLocalFailure,
		CommandLocalDisable, CommandLocalResetTOTP} {
		reg.Describe(typ, name)
	}
}

// decodeGlobal checks the version of an appliance-wide command, which
// must have no tenant, and decodes its payload.
func decodeGlobal(cmd cluster.Command, v any) error {
	if cmd.Version < 1 || cmd.Version > payloadVersion {
		return fmt.Errorf("%s: payload version %d not supported (max %d)", cmd.Type, cmd.Version, payloadVersion)
	}
	if cmd.Tenant != "" {
		return fmt.Errorf("%s: appliance-wide command with tenant %q", cmd.Type, cmd.Tenant)
	}
	return cmd.Decode(v)
}

// localRow is an account with its secrets, as apply and the Store's
// checks read it.
type localRow struct {
	LocalAdmin
	passwordHash string
	totpSecret   string
	lastStep     uint64
}

const localSelect = `SELECT id, username, display_name, email, password_hash, totp_secret, confirmed, disabled,
	last_step, failures, locked_until, created, last_login FROM auth_local_admins`

func scanLocal(r rowScanner) (localRow, error) {
	var (
		a                      localRow
		step                   int64
		locked, created, login int64
	)
	err := r.Scan(&a.ID, &a.Username, &a.DisplayName, &a.Email, &a.passwordHash, &a.totpSecret, &a.Confirmed,
		&a.Disabled, &step, &a.Failures, &locked, &created, &login)
	if errors.Is(err, sql.ErrNoRows) {
		return localRow{}, ErrLocalAdminNotFound
	}
	if err != nil {
		return localRow{}, err
	}
	a.lastStep = uint64(step)
	if locked > 0 {
		a.LockedUntil = time.Unix(0, locked).UTC()
	}
	a.Created = time.Unix(0, created).UTC()
	if login > 0 {
		a.LastLogin = time.Unix(0, login).UTC()
	}
	return a, nil
}

func localByName(tx *sql.Tx, username string) (localRow, error) {
	a, err := scanLocal(tx.QueryRow(localSelect+` WHERE username = ?`, username))
	if err != nil {
		return localRow{}, fmt.Errorf("administrator %s: %w", username, err)
	}
	return a, nil
}

func applyLocalCreate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localCreatePayload
	if err := decodeGlobal(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || !usernamePattern.MatchString(p.Username) || p.TOTPSecret == "" {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	if _, err := parsePHC(p.PasswordHash); err != nil {
		return nil, fmt.Errorf("%s: password hash: %w", cmd.Type, err)
	}
	var one int
	err := tx.QueryRow(`SELECT 1 FROM auth_local_admins WHERE username = ?`, p.Username).Scan(&one)
	if err == nil {
		return nil, fmt.Errorf("administrator %s: %w", p.Username, ErrLocalAdminExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO auth_local_admins (id, username, display_name, email, password_hash, totp_secret, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, p.ID, p.Username, p.DisplayName, p.Email, p.PasswordHash, p.TOTPSecret, cmd.Time.UnixNano())
	return nil, err
}

// applyLocalConfirm makes a pending account usable: the proposer checked
// a code of its secret (Mark says which secret) and Step is the code's
// step, remembered so that the code cannot log in afterwards.
func applyLocalConfirm(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localConfirmPayload
	if err := decodeGlobal(cmd, &p); err != nil {
		return nil, err
	}
	a, err := localByName(tx, p.Username)
	if err != nil {
		return nil, err
	}
	if credentialsMark(a.passwordHash, a.totpSecret) != p.Mark || p.Step <= a.lastStep {
		return nil, fmt.Errorf("confirm %s: %w", p.Username, ErrCodeInvalid)
	}
	_, err = tx.Exec(`UPDATE auth_local_admins SET confirmed = 1, last_step = ? WHERE id = ?`, int64(p.Step), a.ID)
	return nil, err
}

// applyLocalLogin records a break-glass login in the command's Comune.
// The proposer checked password and code; apply checks what only the
// replicated state can decide: the account is confirmed, enabled and not
// locked, the secrets checked are still the account's, and the code's
// step is after the last one used (a code logs in once, on whichever
// node). Then, as applyLogin does for a provider's user, it creates or
// updates the administrator's user row in the Comune (with the appliance
// administrator grant, enabled: a Comune administrator cannot lock out
// an appliance administrator), ends the browser's previous session and
// creates the new one.
func applyLocalLogin(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localLoginPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.AdminID == "" || p.SessionID == "" || p.NewUserID == "" || p.Idle <= 0 || p.Absolute <= 0 {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	a, err := scanLocal(tx.QueryRow(localSelect+` WHERE id = ?`, p.AdminID))
	if err != nil {
		return nil, fmt.Errorf("local login: %w", ErrBadCredentials)
	}
	now := cmd.Time.UnixNano()
	switch {
	case a.Disabled:
		return nil, fmt.Errorf("local login of %s: disabled: %w", a.Username, ErrBadCredentials)
	case !a.Confirmed:
		return nil, fmt.Errorf("local login of %s: not confirmed: %w", a.Username, ErrBadCredentials)
	case !a.LockedUntil.IsZero() && a.LockedUntil.UnixNano() > now:
		return nil, fmt.Errorf("local login of %s: locked: %w", a.Username, ErrBadCredentials)
	case credentialsMark(a.passwordHash, a.totpSecret) != p.Mark:
		return nil, fmt.Errorf("local login of %s: credentials changed: %w", a.Username, ErrBadCredentials)
	case p.Step <= a.lastStep:
		return nil, fmt.Errorf("local login of %s: code already used: %w", a.Username, ErrBadCredentials)
	}
	if _, err := tx.Exec(`UPDATE auth_local_admins SET last_step = ?, failures = 0, locked_until = 0, last_login = ? WHERE id = ?`,
		int64(p.Step), now, a.ID); err != nil {
		return nil, err
	}
	grants, err := json.Marshal([]Grant{{Role: RoleApplianceAdmin}})
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(`INSERT INTO auth_users (id, tenant_id, issuer, subject, provider, username, display_name, email,
			fiscal_code, claim_grants, assigned, disabled, created, last_login)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, '[]', 0, ?, ?)
		ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET provider = excluded.provider,
			username = excluded.username, display_name = excluded.display_name, email = excluded.email,
			claim_grants = excluded.claim_grants, disabled = 0, last_login = excluded.last_login`,
		p.NewUserID, cmd.Tenant, LocalIssuer, a.ID, LocalProvider, a.Username, a.DisplayName, a.Email, string(grants), now, now)
	if err != nil {
		return nil, fmt.Errorf("record user: %w", err)
	}
	u, err := scanUser(tx.QueryRow(userSelect+` WHERE tenant_id = ? AND issuer = ? AND subject = ?`, cmd.Tenant, LocalIssuer, a.ID))
	if err != nil {
		return nil, err
	}
	s := Session{ID: p.SessionID, Tenant: tenantID(cmd.Tenant), UserID: u.ID, Provider: LocalProvider, CSRF: p.CSRF, Idle: p.Idle}
	if err := startSession(tx, cmd, &s, p.Previous, p.Absolute, ""); err != nil {
		return nil, err
	}
	return LoginResult{User: u, Session: s}, nil
}

// applyLocalFailure counts a wrong login of an account and locks it for
// LocalLockout at the LocalMaxFailures-th in a row. Failures while the
// account is locked are not counted (the lock does not grow). It returns
// whether the account is locked now.
func applyLocalFailure(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localFailurePayload
	if err := decodeGlobal(cmd, &p); err != nil {
		return nil, err
	}
	a, err := scanLocal(tx.QueryRow(localSelect+` WHERE id = ?`, p.AdminID))
	if err != nil {
		return nil, err
	}
	now := cmd.Time.UnixNano()
	if !a.LockedUntil.IsZero() && a.LockedUntil.UnixNano() > now {
		return true, nil
	}
	failures, locked := a.Failures+1, int64(0)
	if failures >= LocalMaxFailures {
		failures, locked = 0, cmd.Time.Add(LocalLockout).UnixNano()
	}
	_, err = tx.Exec(`UPDATE auth_local_admins SET failures = ?, locked_until = ? WHERE id = ?`, failures, locked, a.ID)
	return locked != 0, err
}

// endLocalSessions disables the user rows of administrator id in every
// Comune and ends their sessions, in the same step: no node accepts them
// afterwards.
func endLocalSessions(tx *sql.Tx, id string) error {
	if _, err := tx.Exec(`DELETE FROM auth_sessions WHERE user_id IN
		(SELECT id FROM auth_users WHERE issuer = ? AND subject = ?)`, LocalIssuer, id); err != nil {
		return err
	}
	_, err := tx.Exec(`UPDATE auth_users SET disabled = 1 WHERE issuer = ? AND subject = ?`, LocalIssuer, id)
	return err
}

// applyLocalDisable disables an account (ending its sessions in every
// Comune) or enables it again, which also lifts a lock: enabling is how
// the command line unlocks an administrator locked out by someone
// guessing.
func applyLocalDisable(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localDisablePayload
	if err := decodeGlobal(cmd, &p); err != nil {
		return nil, err
	}
	a, err := localByName(tx, p.Username)
	if err != nil {
		return nil, err
	}
	if p.Disabled {
		if _, err := tx.Exec(`UPDATE auth_local_admins SET disabled = 1 WHERE id = ?`, a.ID); err != nil {
			return nil, err
		}
		return nil, endLocalSessions(tx, a.ID)
	}
	_, err = tx.Exec(`UPDATE auth_local_admins SET disabled = 0, failures = 0, locked_until = 0 WHERE id = ?`, a.ID)
	return nil, err
}

// applyLocalReset gives an account a new TOTP secret: it is pending until
// a code of the new secret is confirmed, its lock is lifted, and its
// sessions end (whoever had the old secret may have used it).
func applyLocalReset(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p localResetPayload
	if err := decodeGlobal(cmd, &p); err != nil {
		return nil, err
	}
	if p.TOTPSecret == "" {
		return nil, fmt.Errorf("%s: incomplete payload", cmd.Type)
	}
	a, err := localByName(tx, p.Username)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`UPDATE auth_local_admins SET totp_secret = ?, confirmed = 0, last_step = 0, failures = 0, locked_until = 0
		WHERE id = ?`, p.TOTPSecret, a.ID); err != nil {
		return nil, err
	}
	return nil, endLocalSessions(tx, a.ID)
}
