package auth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

const adminPassword = "Emergenza-Bari-2026"

// newLocalAdmin creates and confirms the break-glass administrator
// "admin" and returns its TOTP secret.
func newLocalAdmin(t *testing.T, s *auth.Store, clk *clustertest.Clock) string {
	t.Helper()
	ctx := context.Background()
	sec, err := s.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: " Admin ", DisplayName: "Amministratore", Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Admin.Username != "admin" || sec.Admin.Confirmed || len(sec.Secret) != 32 {
		t.Fatalf("created %+v with secret %q: want admin, pending, 32-character secret", sec.Admin, sec.Secret)
	}
	code, _ := auth.TOTPCode(sec.Secret, clk.Now())
	if err := s.ConfirmLocalAdmin(ctx, "admin", code); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.TOTPPeriod)
	return sec.Secret
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := auth.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLocalAdminLifecycle(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	ctx := context.Background()

	// Validation happens before anything is proposed.
	var ve *auth.ValidationError
	_, err := s.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: "admin", Password: "admin-password-123"})
	if !errors.As(err, &ve) || ve.Fields["password"] == "" {
		t.Fatalf("password containing the username: got %v, want a password field error", err)
	}
	_, err = s.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: "A", Password: adminPassword, Email: "no"})
	if !errors.As(err, &ve) || ve.Fields["username"] == "" || ve.Fields["email"] == "" {
		t.Fatalf("bad username and email: got %v", err)
	}

	sec, err := s.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: "admin", Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateLocalAdmin(ctx, auth.NewLocalAdmin{Username: "admin", Password: adminPassword}); !errors.Is(err, auth.ErrLocalAdminExists) {
		t.Errorf("second admin with the same name: got %v, want ErrLocalAdminExists", err)
	}
	// Pending: the right password and code do not log in.
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, sec.Secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("login of a pending account: got %v, want ErrBadCredentials", err)
	}
	if err := s.ConfirmLocalAdmin(ctx, "admin", "000000"); !errors.Is(err, auth.ErrCodeInvalid) {
		t.Fatalf("confirm with a wrong code: got %v", err)
	}
	confirmCode := code(t, sec.Secret, clk.Now())
	if err := s.ConfirmLocalAdmin(ctx, "admin", confirmCode); err != nil {
		t.Fatal(err)
	}
	// The confirmation's code is used up.
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, confirmCode, ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("login with the confirmation's code: got %v, want ErrBadCredentials", err)
	}
	clk.Advance(auth.TOTPPeriod)
	lr, cookie, err := s.LocalLogin(ctx, comune, "ADMIN", adminPassword, code(t, sec.Secret, clk.Now()), "")
	if err != nil {
		t.Fatal(err)
	}
	if !lr.User.Allowed(auth.RoleApplianceAdmin, "") || lr.User.Issuer != auth.LocalIssuer || lr.Session.Provider != auth.LocalProvider {
		t.Errorf("user %+v session %+v: want an appliance administrator of the local issuer", lr.User, lr.Session)
	}
	if _, u, err := s.Session(ctx, comune, cookie); err != nil || u.ID != lr.User.ID {
		t.Fatalf("session of the local login: %v", err)
	}
	// The failure counter was reset by the login.
	a, err := s.LocalAdmin(ctx, "admin")
	if err != nil || !a.Confirmed || a.Failures != 0 || a.LastLogin.IsZero() {
		t.Errorf("after login: %+v, %v", a, err)
	}

	// Disabling ends the session at once and refuses logins.
	if err := s.SetLocalDisabled(ctx, "admin", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, comune, cookie); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session after disabling: got %v, want ErrNoSession", err)
	}
	clk.Advance(auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, sec.Secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("login of a disabled account: got %v", err)
	}
	if err := s.SetLocalDisabled(ctx, "admin", false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, sec.Secret, clk.Now()), ""); err != nil {
		t.Errorf("login after enabling again: %v", err)
	}

	// A new secret: the old one no longer logs in, the new one only once
	// confirmed.
	old := sec.Secret
	sec, err = s.ResetLocalTOTP(ctx, "admin")
	if err != nil || sec.Secret == old || sec.Admin.Confirmed {
		t.Fatalf("reset: %+v, %v", sec, err)
	}
	clk.Advance(auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, old, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("login with the old secret: got %v", err)
	}
	if err := s.ConfirmLocalAdmin(ctx, "admin", code(t, sec.Secret, clk.Now())); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, sec.Secret, clk.Now()), ""); err != nil {
		t.Errorf("login with the new secret: %v", err)
	}
	list, err := s.LocalAdmins(ctx)
	if err != nil || len(list) != 1 || list[0].Username != "admin" {
		t.Errorf("list: %+v, %v", list, err)
	}
}

// TestLocalLockoutAcrossNodes makes the wrong logins through two nodes:
// the count is replicated, so the fifth locks the account on both, and
// even the right credentials are refused until the lock ends.
func TestLocalLockoutAcrossNodes(t *testing.T) {
	t.Parallel()
	// The nodes' leader clock is the real one; the stores' clock only
	// chooses the codes.
	clk := clustertest.NewClock(time.Now())
	nodes := clustertest.Cluster(t, 2, auth.Register)
	s1 := auth.NewStore(auth.Config{Proposer: nodes[0], DB: nodes[0].DB(), Now: clk.Now})
	s2 := auth.NewStore(auth.Config{Proposer: nodes[1], DB: nodes[1].DB(), Now: clk.Now})
	// The account is created through the leader once there is one: the
	// second node's joining may still be settling.
	lead := clustertest.Leader(t, nodes...)
	secret := newLocalAdmin(t, auth.NewStore(auth.Config{Proposer: lead, DB: lead.DB(), Now: clk.Now}), clk)
	ctx := context.Background()
	// Node 2 must know the account before it is tried there: a node that
	// has not applied its creation answers as for an unknown user.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := nodes[1].WaitApplied(wctx, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	for i := range auth.LocalMaxFailures {
		s := []*auth.Store{s1, s2}[i%2]
		if _, _, err := s.LocalLogin(ctx, comune, "admin", "Sbagliata-password-1", code(t, secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("wrong password %d: got %v", i, err)
		}
	}
	wctx2, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if err := nodes[1].WaitApplied(wctx2, nodes[0].AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	a, err := s2.LocalAdmin(ctx, "admin")
	if err != nil || !a.LockedUntil.After(clk.Now()) {
		t.Fatalf("after %d failures: %+v, %v; want locked", auth.LocalMaxFailures, a, err)
	}
	if _, _, err := s2.LocalLogin(ctx, comune, "admin", adminPassword, code(t, secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("right credentials on a locked account: got %v", err)
	}
}

// TestLocalLockExpires checks that the lock lasts LocalLockout of the
// leader's time, and that enabling the account lifts it earlier.
func TestLocalLockExpires(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	secret := newLocalAdmin(t, s, clk)
	ctx := context.Background()
	lock := func() {
		t.Helper()
		for range auth.LocalMaxFailures {
			s.LocalLogin(ctx, comune, "admin", adminPassword, "000000", "")
		}
		clk.Advance(auth.TOTPPeriod)
		if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("right credentials on a locked account: got %v", err)
		}
	}
	lock()
	clk.Advance(auth.LocalLockout - 2*auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, secret, clk.Now()), ""); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("login a minute before the lock ends: got %v", err)
	}
	clk.Advance(2 * auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, secret, clk.Now()), ""); err != nil {
		t.Fatalf("login after the lock: %v", err)
	}
	clk.Advance(auth.TOTPPeriod)
	lock()
	if err := s.SetLocalDisabled(ctx, "admin", false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.TOTPPeriod)
	if _, _, err := s.LocalLogin(ctx, comune, "admin", adminPassword, code(t, secret, clk.Now()), ""); err != nil {
		t.Fatalf("login after enabling the locked account: %v", err)
	}
}
