package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/oidctest"
)

// TestTimeoutsThroughRequests checks the idle and absolute timeouts as a
// browser meets them: requests keep a session alive (through the
// middleware's touches) until its absolute end; a pause longer than the
// idle timeout ends it.
func TestTimeoutsThroughRequests(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	clk := clustertest.NewClock(time.Now().UTC())
	node := clustertest.New(t, cluster.Config{Now: clk.Now}, auth.Register)
	clustertest.Start(t, node)
	r := startRPClock(t, node, op.Client(), clk.Now)
	r.addProvider(t, op, "puglia")

	t.Run("idle", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		b.login(r, "puglia")
		for range 3 {
			clk.Advance(auth.DefaultIdleTimeout - time.Minute)
			if ok, _ := b.loggedIn(r); !ok {
				t.Fatal("session ended while in use")
			}
		}
		clk.Advance(auth.DefaultIdleTimeout + time.Second)
		if ok, _ := b.loggedIn(r); ok {
			t.Error("session alive after the idle timeout")
		}
		if got := b.cookie(r, authweb.SessionCookie); got != "" {
			t.Errorf("cookie of the ended session: got %q, want it cleared", got)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		b := newBrowser(t, r.srv.Client())
		b.login(r, "puglia")
		start := clk.Now()
		for clk.Now().Sub(start) < auth.DefaultAbsoluteTimeout-20*time.Minute {
			clk.Advance(20 * time.Minute)
			if ok, _ := b.loggedIn(r); !ok {
				t.Fatalf("session ended after %s of use", clk.Now().Sub(start))
			}
		}
		clk.Advance(20 * time.Minute)
		if ok, _ := b.loggedIn(r); ok {
			t.Errorf("session alive %s after login", clk.Now().Sub(start))
		}
	})
}

// TestAdminEndsSessions checks that ending a user's sessions and
// disabling a user take effect on the next request.
func TestAdminEndsSessions(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "puglia")
	ctx := context.Background()
	b1, b2 := newBrowser(t, r.srv.Client()), newBrowser(t, r.srv.Client())
	b1.login(r, "puglia")
	b2.login(r, "puglia")
	users, err := r.store.Users(ctx, bari.ID)
	if err != nil || len(users) != 1 {
		t.Fatalf("users: got %v, %v; want one", users, err)
	}
	if n, err := r.store.EndUserSessions(ctx, bari.ID, users[0].ID); err != nil || n != 2 {
		t.Fatalf("end sessions: got %d, %v; want 2", n, err)
	}
	for i, b := range []*browser{b1, b2} {
		if ok, _ := b.loggedIn(r); ok {
			t.Errorf("browser %d: still logged in after its sessions ended", i+1)
		}
	}
	b1.login(r, "puglia")
	if err := r.store.SetDisabled(ctx, bari.ID, users[0].ID, true); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b1.loggedIn(r); ok {
		t.Error("still logged in after the user was disabled")
	}
	cb := b1.authorize(b1.startLogin(r, "puglia"))
	if status, _, body := b1.get(cb); status != http.StatusForbidden {
		t.Errorf("login of a disabled user: got %d %s, want 403", status, body)
	}
}

// TestRequireRole checks anonymous and role-less requests.
func TestRequireRole(t *testing.T) {
	t.Parallel()
	op := oidctest.Start(t)
	node := clustertest.Node(t, auth.Register)
	r := startRP(t, node, op.Client())
	r.addProvider(t, op, "puglia")
	op.AddUser(oidctest.User{Subject: "nobody", Name: "Senza Ruolo"})
	op.AutoLogin("nobody")
	b := newBrowser(t, r.srv.Client())
	if status, loc, _ := b.get(r.srv.URL + "/private?x=1"); status != http.StatusSeeOther || loc != "/_auth/login?return="+url.QueryEscape("/private?x=1") {
		t.Errorf("anonymous GET: got %d %q, want 303 to the login with the return path", status, loc)
	}
	if status, _, _ := b.do(http.MethodPost, r.srv.URL+"/private", url.Values{}); status != http.StatusUnauthorized {
		t.Errorf("anonymous POST: got %d, want 401", status)
	}
	b.login(r, "puglia")
	if status, _, _ := b.get(r.srv.URL + "/private"); status != http.StatusForbidden {
		t.Errorf("user without the role: got %d, want 403", status)
	}
}
