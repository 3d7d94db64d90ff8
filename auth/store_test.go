package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

const comune tenant.ID = "bari"

func newStore(t *testing.T) (*auth.Store, *clustertest.Clock) {
	t.Helper()
	clk := clustertest.NewClock(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC))
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, auth.Register)
	clustertest.Start(t, n)
	s := auth.NewStore(auth.Config{Proposer: n, DB: n.DB(), Now: clk.Now})
	return s, clk
}

func provider() auth.Provider {
	return auth.Provider{
		ID: "puglia", Name: "Accedi con MyID Puglia", Issuer: "https://id.regione.puglia.it/realms/comuni",
		ClientID: "sportello-bari", ClientSecret: "s3cret", Scopes: []string{"profile", "email"},
		ACRValues: []string{"https://www.spid.gov.it/SpidL2"},
		Roles: []auth.RoleRule{
			{Group: "sportello-admin", Grant: auth.Grant{Role: auth.RoleComuneAdmin}},
			{Group: "anagrafe", Grant: auth.Grant{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}},
		},
	}
}

func TestSaveProviderValidation(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(*auth.Provider)
		field  string
	}{
		{"bad id", func(p *auth.Provider) { p.ID = "Puglia!" }, "id"},
		{"no name", func(p *auth.Provider) { p.Name = "" }, "name"},
		{"http issuer", func(p *auth.Provider) { p.Issuer = "http://id.example.it" }, "issuer"},
		{"issuer with query", func(p *auth.Provider) { p.Issuer = "https://id.example.it/?x=1" }, "issuer"},
		{"no client", func(p *auth.Provider) { p.ClientID = "" }, "client_id"},
		{"no secret", func(p *auth.Provider) { p.ClientSecret = "" }, "client_secret"},
		{"scope with space", func(p *auth.Provider) { p.Scopes = []string{"a b"} }, "scopes.0"},
		{"appliance admin from claims", func(p *auth.Provider) {
			p.Roles = []auth.RoleRule{{Group: "x", Grant: auth.Grant{Role: auth.RoleApplianceAdmin}}}
		}, "roles.0.grant.role"},
		{"operator without office", func(p *auth.Provider) {
			p.Roles = []auth.RoleRule{{Group: "x", Grant: auth.Grant{Role: auth.RoleOperator}}}
		}, "roles.0.grant.offices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := provider()
			tt.change(&p)
			_, err := s.SaveProvider(ctx, comune, p)
			var ve *auth.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if msg := ve.Fields[tt.field]; msg == "" {
				t.Errorf("fields %v: want a message for %q", ve.Fields, tt.field)
			}
		})
	}
	t.Run("loopback http issuer is allowed", func(t *testing.T) {
		p := provider()
		p.ID, p.Issuer = "dev", "http://127.0.0.1:5556/dex"
		if _, err := s.SaveProvider(ctx, comune, p); err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	})
	t.Run("saved and listed per Comune", func(t *testing.T) {
		got, err := s.SaveProvider(ctx, comune, provider())
		if err != nil {
			t.Fatal(err)
		}
		if got.ClientID != "sportello-bari" || got.Created.IsZero() {
			t.Errorf("got %+v", got)
		}
		ps, err := s.Providers(ctx, "lecce")
		if err != nil || len(ps) != 0 {
			t.Errorf("providers of another Comune: got %v, %v; want none", ps, err)
		}
	})
}

func TestFlowSingleUse(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	ctx := context.Background()
	if _, err := s.SaveProvider(ctx, comune, provider()); err != nil {
		t.Fatal(err)
	}
	f, err := s.BeginLogin(ctx, comune, "puglia", "/backoffice")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Verifier) < 43 || f.State == f.Nonce || f.Issuer != provider().Issuer {
		t.Fatalf("flow %+v: want distinct secrets and the provider's issuer", f)
	}
	if _, err := s.ConsumeLogin(ctx, comune, f.State, "another-browser"); !errors.Is(err, auth.ErrFlowInvalid) {
		t.Fatalf("other binding: got %v, want ErrFlowInvalid", err)
	}
	if _, err := s.ConsumeLogin(ctx, "lecce", f.State, f.Binding); !errors.Is(err, auth.ErrFlowInvalid) {
		t.Fatalf("other Comune: got %v, want ErrFlowInvalid", err)
	}
	got, err := s.ConsumeLogin(ctx, comune, f.State, f.Binding)
	if err != nil {
		t.Fatalf("first use: %v", err)
	}
	if got.Nonce != f.Nonce || got.Verifier != f.Verifier || got.Return != "/backoffice" || got.Provider != "puglia" {
		t.Errorf("got %+v, want the flow begun", got)
	}
	if _, err := s.ConsumeLogin(ctx, comune, f.State, f.Binding); !errors.Is(err, auth.ErrFlowInvalid) {
		t.Errorf("second use: got %v, want ErrFlowInvalid", err)
	}
	f2, err := s.BeginLogin(ctx, comune, "puglia", "/")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(auth.DefaultFlowTTL + time.Second)
	if _, err := s.ConsumeLogin(ctx, comune, f2.State, f2.Binding); !errors.Is(err, auth.ErrFlowInvalid) {
		t.Errorf("expired: got %v, want ErrFlowInvalid", err)
	}
	if _, err := s.BeginLogin(ctx, comune, "nope", "/"); !errors.Is(err, auth.ErrProviderNotFound) {
		t.Errorf("unknown provider: got %v, want ErrProviderNotFound", err)
	}
}

func identity(sub, email string, groups ...string) auth.Identity {
	p := provider()
	return p.MapClaims(p.Issuer, sub, map[string]any{
		"preferred_username": "mrossi", "name": "Mario Rossi", "email": email,
		"fiscal_number": "TINIT-RSSMRA85T10A562S", "groups": toAny(groups),
	})
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestLoginUsersAndRoles(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.SaveProvider(ctx, comune, provider()); err != nil {
		t.Fatal(err)
	}
	r1, c1, err := s.Login(ctx, comune, identity("sub-1", "m.rossi@comune.bari.it", "anagrafe"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	u := r1.User
	if u.FiscalCode != "RSSMRA85T10A562S" || u.DisplayName != "Mario Rossi" || u.Username != "mrossi" {
		t.Errorf("user %+v: want mapped claims, fiscal code without TINIT-", u)
	}
	if !u.Allowed(auth.RoleOperator, "anagrafe") || u.Allowed(auth.RoleOperator, "tributi") || u.Allowed(auth.RoleComuneAdmin, "") {
		t.Errorf("grants %+v: want operator of anagrafe only", u.Grants())
	}
	// Another subject with the same email is another user.
	r2, _, err := s.Login(ctx, comune, identity("sub-2", "m.rossi@comune.bari.it", "sportello-admin"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	if r2.User.ID == u.ID {
		t.Errorf("same email, other subject: got the same user %s", u.ID)
	}
	// The same subject with a new email and groups is the same user, with
	// its claimed grants replaced.
	r3, c3, err := s.Login(ctx, comune, identity("sub-1", "mario@altro.it"), "tok", c1)
	if err != nil {
		t.Fatal(err)
	}
	if r3.User.ID != u.ID || r3.User.Email != "mario@altro.it" || len(r3.User.ClaimGrants) != 0 {
		t.Errorf("got %+v, want user %s with the new email and no grants", r3.User, u.ID)
	}
	// Rotation: the previous session ended.
	if _, _, err := s.Session(ctx, comune, c1); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("previous session: got %v, want ErrNoSession", err)
	}
	if _, _, err := s.Session(ctx, comune, c3); err != nil {
		t.Errorf("new session: %v", err)
	}
	if _, _, err := s.Session(ctx, "lecce", c3); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session in another Comune: got %v, want ErrNoSession", err)
	}
	// Assigned grants survive the next login.
	if err := s.SetGrants(ctx, comune, u.ID, []auth.Grant{{Role: auth.RoleSupervisor}}); err != nil {
		t.Fatal(err)
	}
	r4, _, err := s.Login(ctx, comune, identity("sub-1", "mario@altro.it"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	if !r4.User.Allowed(auth.RoleSupervisor, "tributi") {
		t.Errorf("grants %+v: want supervisor of every office", r4.User.Grants())
	}
	var ve *auth.ValidationError
	if err := s.SetGrants(ctx, comune, u.ID, []auth.Grant{{Role: "boss"}}); !errors.As(err, &ve) {
		t.Errorf("bad role: got %v, want *ValidationError", err)
	}
	// A changed issuer refuses logins verified against the old one.
	old := identity("sub-9", "x@y.it")
	old.Issuer = "https://old.example.it"
	if _, _, err := s.Login(ctx, comune, old, "tok", ""); !errors.Is(err, auth.ErrIssuerMismatch) {
		t.Errorf("login with another issuer than the provider's: got %v, want ErrIssuerMismatch", err)
	}
}

func TestDisableAndEndSessions(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.SaveProvider(ctx, comune, provider()); err != nil {
		t.Fatal(err)
	}
	r, c1, err := s.Login(ctx, comune, identity("sub-1", "a@b.it"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	_, c2, err := s.Login(ctx, comune, identity("sub-1", "a@b.it"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.EndUserSessions(ctx, comune, r.User.ID)
	if err != nil || n != 2 {
		t.Fatalf("end sessions: got %d, %v; want 2, nil", n, err)
	}
	for _, c := range []string{c1, c2} {
		if _, _, err := s.Session(ctx, comune, c); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("ended session: got %v, want ErrNoSession", err)
		}
	}
	_, c3, err := s.Login(ctx, comune, identity("sub-1", "a@b.it"), "tok", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, comune, r.User.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, comune, c3); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session of disabled user: got %v, want ErrNoSession", err)
	}
	if _, _, err := s.Login(ctx, comune, identity("sub-1", "a@b.it"), "tok", ""); !errors.Is(err, auth.ErrUserDisabled) {
		t.Errorf("login of disabled user: got %v, want ErrUserDisabled", err)
	}
	if err := s.SetDisabled(ctx, "lecce", r.User.ID, true); !errors.Is(err, auth.ErrUserNotFound) {
		t.Errorf("user of another Comune: got %v, want ErrUserNotFound", err)
	}
}

func TestSessionTimeouts(t *testing.T) {
	t.Parallel()
	s, clk := newStore(t)
	ctx := context.Background()
	if _, err := s.SaveProvider(ctx, comune, provider()); err != nil {
		t.Fatal(err)
	}
	login := func() string {
		_, c, err := s.Login(ctx, comune, identity("sub-1", "a@b.it"), "tok", "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// use loads the session and touches it, as the web middleware does.
	use := func(c string) error {
		ss, _, err := s.Session(ctx, comune, c)
		if err != nil {
			return err
		}
		return s.Touch(ctx, comune, ss)
	}

	t.Run("idle", func(t *testing.T) {
		c := login()
		clk.Advance(20 * time.Minute)
		if err := use(c); err != nil {
			t.Fatalf("after 20 min: %v", err)
		}
		clk.Advance(20 * time.Minute) // 40 min from login, 20 from the touch
		if err := use(c); err != nil {
			t.Fatalf("20 min after a touch: %v", err)
		}
		clk.Advance(auth.DefaultIdleTimeout + time.Second)
		if err := use(c); !errors.Is(err, auth.ErrNoSession) {
			t.Fatalf("idle past the timeout: got %v, want ErrNoSession", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		c := login()
		for elapsed := time.Duration(0); elapsed < auth.DefaultAbsoluteTimeout-25*time.Minute; elapsed += 25 * time.Minute {
			clk.Advance(25 * time.Minute)
			if err := use(c); err != nil {
				t.Fatalf("active after %s: %v", elapsed+25*time.Minute, err)
			}
		}
		clk.Advance(25 * time.Minute)
		if err := use(c); !errors.Is(err, auth.ErrNoSession) {
			t.Fatalf("past the absolute timeout: got %v, want ErrNoSession", err)
		}
	})
	t.Run("touch is rate limited", func(t *testing.T) {
		c := login()
		ss, _, err := s.Session(ctx, comune, c)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(30 * time.Second)
		if err := s.Touch(ctx, comune, ss); err != nil {
			t.Fatal(err)
		}
		again, _, err := s.Session(ctx, comune, c)
		if err != nil {
			t.Fatal(err)
		}
		if !again.LastSeen.Equal(ss.LastSeen) {
			t.Errorf("last seen moved to %s within the touch interval; want %s", again.LastSeen, ss.LastSeen)
		}
	})
	t.Run("apply refuses to revive an expired session", func(t *testing.T) {
		c := login()
		ss, _, err := s.Session(ctx, comune, c)
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(auth.DefaultIdleTimeout + time.Minute)
		if err := s.Touch(ctx, comune, ss); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("touch of an idle session: got %v, want ErrNoSession", err)
		}
	})
	if t.Failed() {
		return
	}
	if _, _, err := s.Session(ctx, comune, "garbage"); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("malformed cookie: got %v, want ErrNoSession", err)
	}
	if _, _, err := s.Session(ctx, comune, strings.Repeat("a", 43)+".1"); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("unknown cookie: got %v, want ErrNoSession", err)
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	op := auth.User{ClaimGrants: []auth.Grant{{Role: auth.RoleOperator, Offices: []string{"anagrafe"}}}}
	sup := auth.User{Assigned: []auth.Grant{{Role: auth.RoleSupervisor, Offices: []string{"tributi"}}}}
	adm := auth.User{Assigned: []auth.Grant{{Role: auth.RoleComuneAdmin}}}
	root := auth.User{Assigned: []auth.Grant{{Role: auth.RoleApplianceAdmin}}}
	off := adm
	off.Disabled = true
	tests := []struct {
		name   string
		u      auth.User
		role   auth.Role
		office string
		want   bool
	}{
		{"operator of its office", op, auth.RoleOperator, "anagrafe", true},
		{"operator of another office", op, auth.RoleOperator, "tributi", false},
		{"operator is no supervisor", op, auth.RoleSupervisor, "anagrafe", false},
		{"supervisor of its office", sup, auth.RoleSupervisor, "tributi", true},
		{"supervisor of another office", sup, auth.RoleSupervisor, "anagrafe", false},
		{"Comune admin anything in the Comune", adm, auth.RoleOperator, "anagrafe", true},
		{"Comune admin is no appliance admin", adm, auth.RoleApplianceAdmin, "", false},
		{"appliance admin", root, auth.RoleApplianceAdmin, "", true},
		{"disabled admin", off, auth.RoleOperator, "anagrafe", false},
		{"nobody", auth.User{}, auth.RoleOperator, "", false},
	}
	for _, tt := range tests {
		if got := tt.u.Allowed(tt.role, tt.office); got != tt.want {
			t.Errorf("%s: Allowed(%s, %q) = %v, want %v", tt.name, tt.role, tt.office, got, tt.want)
		}
	}
}

func TestMapClaims(t *testing.T) {
	t.Parallel()
	p := provider()
	p.Claims = auth.ClaimMapping{Username: "uid", Groups: "roles"}
	got := p.MapClaims("iss", "sub", map[string]any{
		"uid": "u1", "name": "N", "https://attributes.eid.gov.it/fiscal_number": "tinit-rssmra85t10a562s",
		"roles": "anagrafe", "email": "e@x.it",
	})
	want := auth.Identity{Provider: "puglia", Issuer: "iss", Subject: "sub", Username: "u1", DisplayName: "N",
		Email: "e@x.it", FiscalCode: "RSSMRA85T10A562S", Groups: []string{"anagrafe"}}
	if got.Username != want.Username || got.FiscalCode != want.FiscalCode || len(got.Groups) != 1 ||
		got.Groups[0] != "anagrafe" || got.Email != want.Email || got.Issuer != "iss" {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
