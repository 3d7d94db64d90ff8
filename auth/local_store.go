package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// LocalIssuerName is the issuer shown by authenticator apps next to a
// break-glass account.
const LocalIssuerName = "Sportello"

// CreateLocalAdmin creates a pending break-glass administrator: it checks
// the fields and the password's strength (a *ValidationError), hashes the
// password with argon2id and draws the TOTP secret here, in the
// proposer, and returns the secret for the authenticator app. The
// account logs in only after ConfirmLocalAdmin.
func (s *Store) CreateLocalAdmin(ctx context.Context, n NewLocalAdmin) (LocalSecret, error) {
	normalizeLocal(&n)
	if err := validateLocal(n); err != nil {
		return LocalSecret{}, err
	}
	if _, err := s.LocalAdmin(ctx, n.Username); err == nil {
		return LocalSecret{}, fmt.Errorf("administrator %s: %w", n.Username, ErrLocalAdminExists)
	}
	hash, err := HashPassword(n.Password, s.rnd)
	if err != nil {
		return LocalSecret{}, err
	}
	secret, err := NewTOTPSecret(s.rnd)
	if err != nil {
		return LocalSecret{}, err
	}
	id, err := s.secret()
	if err != nil {
		return LocalSecret{}, err
	}
	res, err := s.propose(ctx, CommandLocalCreate, "", localCreatePayload{
		ID: id[:22], Username: n.Username, DisplayName: n.DisplayName, Email: n.Email, PasswordHash: hash, TOTPSecret: secret,
	})
	if err != nil {
		return LocalSecret{}, err
	}
	if err := s.p.WaitApplied(ctx, res.Index); err != nil {
		return LocalSecret{}, err
	}
	a, err := s.LocalAdmin(ctx, n.Username)
	if err != nil {
		return LocalSecret{}, err
	}
	return LocalSecret{Admin: a, Secret: secret, URI: TOTPURI(LocalIssuerName, a.Username, secret)}, nil
}

// ConfirmLocalAdmin makes a pending account usable once code is a current
// code of its TOTP secret (the one shown at creation or at the last
// reset). The code is used up: it cannot also log in. A wrong code gives
// ErrCodeInvalid.
func (s *Store) ConfirmLocalAdmin(ctx context.Context, username, code string) error {
	username = strings.ToLower(strings.TrimSpace(username))
	a, err := s.localRow(ctx, username)
	if err != nil {
		return err
	}
	key, err := decodeTOTPSecret(a.totpSecret)
	if err != nil {
		return fmt.Errorf("administrator %s: %w", username, err)
	}
	step, ok := matchTOTP(key, code, s.now())
	if !ok {
		return fmt.Errorf("confirm %s: %w", username, ErrCodeInvalid)
	}
	res, err := s.propose(ctx, CommandLocalConfirm, "", localConfirmPayload{
		Username: username, Mark: credentialsMark(a.passwordHash, a.totpSecret), Step: step,
	})
	if err != nil {
		return err
	}
	return s.p.WaitApplied(ctx, res.Index)
}

// ResetLocalTOTP gives an account a new TOTP secret, ends its sessions
// and makes it pending until ConfirmLocalAdmin; it returns the new
// secret.
func (s *Store) ResetLocalTOTP(ctx context.Context, username string) (LocalSecret, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if _, err := s.LocalAdmin(ctx, username); err != nil {
		return LocalSecret{}, err
	}
	secret, err := NewTOTPSecret(s.rnd)
	if err != nil {
		return LocalSecret{}, err
	}
	res, err := s.propose(ctx, CommandLocalResetTOTP, "", localResetPayload{Username: username, TOTPSecret: secret})
	if err != nil {
		return LocalSecret{}, err
	}
	if err := s.p.WaitApplied(ctx, res.Index); err != nil {
		return LocalSecret{}, err
	}
	a, err := s.LocalAdmin(ctx, username)
	if err != nil {
		return LocalSecret{}, err
	}
	return LocalSecret{Admin: a, Secret: secret, URI: TOTPURI(LocalIssuerName, a.Username, secret)}, nil
}

// SetLocalDisabled disables an account, ending its sessions in every
// Comune, or enables it again (lifting a lock).
func (s *Store) SetLocalDisabled(ctx context.Context, username string, disabled bool) error {
	username = strings.ToLower(strings.TrimSpace(username))
	res, err := s.propose(ctx, CommandLocalDisable, "", localDisablePayload{Username: username, Disabled: disabled})
	if err != nil {
		return err
	}
	return s.p.WaitApplied(ctx, res.Index)
}

// LocalAdmin returns the break-glass administrator username, or
// ErrLocalAdminNotFound.
func (s *Store) LocalAdmin(ctx context.Context, username string) (LocalAdmin, error) {
	a, err := s.localRow(ctx, strings.ToLower(strings.TrimSpace(username)))
	return a.LocalAdmin, err
}

func (s *Store) localRow(ctx context.Context, username string) (localRow, error) {
	a, err := scanLocal(s.db.QueryRowContext(ctx, localSelect+` WHERE username = ?`, username))
	if err != nil {
		return localRow{}, fmt.Errorf("administrator %s: %w", username, err)
	}
	return a, nil
}

// LocalAdmins returns the break-glass administrators, sorted by username.
func (s *Store) LocalAdmins(ctx context.Context) ([]LocalAdmin, error) {
	rows, err := s.db.QueryContext(ctx, localSelect+` ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("administrators: %w", err)
	}
	defer rows.Close()
	out := []LocalAdmin{}
	for rows.Next() {
		a, err := scanLocal(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a.LocalAdmin)
	}
	return out, rows.Err()
}

// LocalLogin logs a break-glass administrator into Comune t with
// username, password and a TOTP code. It returns the user and session as
// Login does, and the cookie value; previous is the session cookie the
// browser had (rotation). Every refusal is ErrBadCredentials, whatever
// was wrong; a wrong password or code (or a replayed code) of an
// existing account counts towards its lock.
//
// The password is always hashed (against a dummy hash for an unknown
// user) and every code candidate always computed, so that the time taken
// does not tell which part was wrong or whether the user exists (but for
// the few milliseconds of recording a failure, which only an existing
// account has: usernames are not the secret). The argon2id hash costs
// 64 MiB and 0.1–0.4 s of one core: callers bound how many run at once.
func (s *Store) LocalLogin(ctx context.Context, t tenant.ID, username, password, code, previous string) (LoginResult, string, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	a, err := s.localRow(ctx, username)
	known := err == nil
	if err != nil && !errors.Is(err, ErrLocalAdminNotFound) {
		return LoginResult{}, "", err
	}
	hash, secret := dummyHash, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if known {
		hash, secret = a.passwordHash, a.totpSecret
	}
	passOK := checkPassword(hash, password)
	key, kerr := decodeTOTPSecret(secret)
	step, codeOK := matchTOTP(key, code, s.now())
	now := s.now()
	switch {
	case !known:
		return LoginResult{}, "", fmt.Errorf("local login of %q: no such administrator: %w", username, ErrBadCredentials)
	case kerr != nil:
		return LoginResult{}, "", fmt.Errorf("local login of %s: TOTP secret: %v: %w", username, kerr, ErrBadCredentials)
	case a.Disabled || !a.Confirmed:
		return LoginResult{}, "", fmt.Errorf("local login of %s: disabled or not confirmed: %w", username, ErrBadCredentials)
	case !a.LockedUntil.IsZero() && now.Before(a.LockedUntil):
		return LoginResult{}, "", fmt.Errorf("local login of %s: locked until %s: %w", username, a.LockedUntil.Format("15:04:05"), ErrBadCredentials)
	case !passOK || !codeOK:
		ferr := s.localFailure(ctx, a.ID)
		return LoginResult{}, "", fmt.Errorf("local login of %s: password ok %t, code ok %t%s: %w", username, passOK, codeOK, failureNote(ferr), ErrBadCredentials)
	}
	var sec [3]string
	for i := range sec {
		if sec[i], err = s.secret(); err != nil {
			return LoginResult{}, "", err
		}
	}
	p := localLoginPayload{AdminID: a.ID, Mark: credentialsMark(a.passwordHash, a.totpSecret), Step: step,
		NewUserID: sec[0][:22], SessionID: Hash(sec[1]), CSRF: sec[2], Idle: s.cfg.IdleTimeout, Absolute: s.cfg.AbsoluteTimeout}
	if prev, _, ok := parseCookie(previous); ok {
		p.Previous = Hash(prev)
	}
	res, err := s.propose(ctx, CommandLocalLogin, t, p)
	if errors.Is(err, ErrBadCredentials) {
		// A replayed code, or a lock or change made through another node
		// a moment ago: a failure as any other.
		return LoginResult{}, "", fmt.Errorf("%w%s", err, failureNote(s.localFailure(ctx, a.ID)))
	}
	if err != nil {
		return LoginResult{}, "", err
	}
	lr, ok := res.Value.(LoginResult)
	if !ok {
		return LoginResult{}, "", fmt.Errorf("local login: unexpected result %T", res.Value)
	}
	return lr, sec[1] + "." + strconv.FormatUint(res.Index, 10), nil
}

// localFailureWait bounds the attempts to record one failure.
const localFailureWait = 10 * time.Second

// localFailure records a wrong login of account id. It does not use the
// request's cancellation: a client that hangs up as soon as it has sent
// a guess must not escape the count. It retries while the cluster has no
// leader (an election under load takes a second or two), under one
// request ID so that a retry after a lost answer is not counted twice: a
// guess not counted would be a free one.
func (s *Store) localFailure(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), localFailureWait)
	defer cancel()
	rid, err := s.secret()
	if err != nil {
		return err
	}
	ctx = cluster.WithRequestID(ctx, "auth.local.failure/"+rid, "")
	for {
		_, err := s.propose(ctx, CommandLocalFailure, "", localFailurePayload{AdminID: id})
		if err == nil || !(errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrOutcomeUnknown)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failureNote is the text added to a refusal's error when its failure
// could not be recorded: the login is refused anyway, the log says why
// the count may be short.
func failureNote(err error) string {
	if err == nil {
		return ""
	}
	return " (failure not recorded: " + err.Error() + ")"
}
