package web

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

func withKey(key string, h map[string]string) map[string]string {
	out := map[string]string{idempotencyHeader: key}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// sameAnswer fails unless r repeats first: status and body.
func sameAnswer(t *testing.T, r, first response) {
	t.Helper()
	if r.Status != first.Status || r.Body != first.Body {
		t.Fatalf("repeat: got %d %s, want the first answer %d %s", r.Status, r.Body, first.Status, first.Body)
	}
}

func TestAPIIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newAPIChecker(t, e.handler)
	b := e.bari
	body := bookingJSON(b.Remote.ID, slot(2, 10, 0), "video", citizen(1))

	first := e.api(t, c, "POST", bariHost, "/api/v1/bookings", body, withKey("chiave-1", nil))
	wantStatus(t, first, http.StatusCreated)
	var created apiBookingCreated
	first.json(t, &created)

	t.Run("create repeated", func(t *testing.T) {
		// Without the key the same citizen would get 409 already_booked.
		sameAnswer(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", body, withKey("chiave-1", nil)), first)
		// Spacing and field order do not make another request.
		reordered := `{ "privacy_accepted": true, "details": "",` + strings.TrimPrefix(body, "{")
		reordered = strings.Replace(reordered, `,"details":"","privacy_accepted":true}`, `}`, 1)
		sameAnswer(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", reordered, withKey("chiave-1", nil)), first)
		bks, err := e.book.Bookings(context.Background(), b.Tenant.ID, b.Office.ID, slot(1, 0, 0), slot(31, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(bks) != 1 {
			t.Errorf("bookings: got %d, want 1", len(bks))
		}
	})
	t.Run("create with another body", func(t *testing.T) {
		other := bookingJSON(b.Remote.ID, slot(2, 10, 20), "video", citizen(1))
		ae := wantAPIError(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", other, withKey("chiave-1", nil)),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
		if !strings.Contains(ae.Error.Message, "Idempotency-Key") {
			t.Errorf("message: got %q", ae.Error.Message)
		}
	})
	t.Run("same key in another Comune", func(t *testing.T) {
		r := e.api(t, c, "POST", lecceHost, "/api/v1/bookings",
			bookingJSON(e.lecce.Remote.ID, slot(2, 10, 0), "video", citizen(1)), withKey("chiave-1", nil))
		wantStatus(t, r, http.StatusCreated)
	})
	t.Run("without a key, as before", func(t *testing.T) {
		again := bookingJSON(b.InPerson.ID, slot(3, 10, 0), "in_person", citizen(2))
		wantStatus(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", again, nil), http.StatusCreated)
		wantAPIError(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", again, nil), http.StatusConflict, "already_booked")
	})
	t.Run("a domain error is repeated too", func(t *testing.T) {
		// InPerson has capacity 1: the slot of the previous subtest is full.
		full := bookingJSON(b.InPerson.ID, slot(3, 10, 0), "in_person", citizen(3))
		r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", full, withKey("chiave-piena", nil))
		wantAPIError(t, r, http.StatusConflict, "slot_full")
		sameAnswer(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", full, withKey("chiave-piena", nil)), r)
	})
	t.Run("invalid keys", func(t *testing.T) {
		for _, key := range []string{"", strings.Repeat("k", 256), "chiave-è", "a\tb"} {
			r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", body, withKey(key, nil))
			wantAPIError(t, r, http.StatusBadRequest, "invalid_idempotency_key", idempotencyHeader)
		}
		r := e.api(t, c, "POST", bariHost, "/api/v1/bookings", bookingJSON(b.Remote.ID, slot(4, 10, 0), "video", citizen(4)),
			withKey(strings.Repeat("k", 255), nil))
		wantStatus(t, r, http.StatusCreated)
	})

	bearer := map[string]string{"Authorization": "Bearer " + created.ManageToken}
	moveTarget := "/api/v1/bookings/" + created.Code + "/move"
	t.Run("move repeated", func(t *testing.T) {
		before, err := e.book.Get(context.Background(), b.Tenant.ID, created.Code, created.ManageToken)
		if err != nil {
			t.Fatal(err)
		}
		moveBody := `{"start":"2027-03-09T11:00:00+01:00"}`
		r := e.api(t, c, "POST", bariHost, moveTarget, moveBody, withKey("sposta-1", bearer))
		wantStatus(t, r, http.StatusOK)
		sameAnswer(t, e.api(t, c, "POST", bariHost, moveTarget, moveBody, withKey("sposta-1", bearer)), r)
		bk, err := e.book.Get(context.Background(), b.Tenant.ID, created.Code, created.ManageToken)
		if err != nil {
			t.Fatal(err)
		}
		if bk.Sequence != before.Sequence+1 {
			t.Errorf("sequence after one move sent twice: got %d, want %d", bk.Sequence, before.Sequence+1)
		}
		wantAPIError(t, e.api(t, c, "POST", bariHost, moveTarget, `{"start":"2027-03-09T11:20:00+01:00"}`, withKey("sposta-1", bearer)),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
	})
	t.Run("cancel repeated", func(t *testing.T) {
		target := "/api/v1/bookings/" + created.Code
		r := e.api(t, c, "DELETE", bariHost, target, "", withKey("annulla-1", bearer))
		wantStatus(t, r, http.StatusOK)
		// Without the key the repeat would get 409 cancelled.
		sameAnswer(t, e.api(t, c, "DELETE", bariHost, target, "", withKey("annulla-1", bearer)), r)
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", withKey("annulla-1", map[string]string{"Authorization": "Bearer altro"})),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
		wantAPIError(t, e.api(t, c, "DELETE", bariHost, target, "", withKey("sposta-1", bearer)),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
	})
}

// clusterEnvs starts a 3-node cluster whose leader stamps commands with a
// test clock and returns an env (handler, book) over each node, the first
// being the leader's. The Comuni are seeded through the leader.
func clusterEnvs(t *testing.T) []*env {
	t.Helper()
	clk := clustertest.NewClock(testNow)
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, 3)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{
			NodeID: id, Identity: clustertest.Identity(t, ca, id), Join: i > 0,
			HeartbeatTimeout: 300 * time.Millisecond, Now: clk.Now,
		}, tenant.Register, booking.Register)
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(nodes))
	for _, n := range nodes[1:] {
		go func() { errs <- n.Start(ctx) }()
	}
	for _, n := range nodes[1:] {
		for n.RaftAddr() == "" {
			if ctx.Err() != nil {
				t.Fatal("node did not listen")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, n.Config().NodeID, n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	envs := make([]*env, len(nodes))
	var regs []*tenant.Registry
	for i, n := range nodes {
		reg := tenant.NewRegistry(n, n.DB(), "example.it")
		book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
		s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(Config{Book: book, Site: s, Logger: clustertest.Logger(t), Now: clk.Now, RateLimit: RateLimit{PerMinute: -1}})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		h.Routes(mux)
		s.Routes(mux)
		envs[i] = &env{t: t, clock: clk, node: n, book: book, handler: h, srv: s.Tenant(mux)}
		regs = append(regs, reg)
	}
	envs[0].bari = envs[0].seed(regs[0], "bari", "Comune di Bari", "072006", bariHost)
	top := nodes[0].AppliedIndex()
	for _, e := range envs[1:] {
		if err := e.node.WaitApplied(ctx, top); err != nil {
			t.Fatal(err)
		}
		e.bari = envs[0].bari
	}
	return envs
}

func TestAPIIdempotencyKeyThroughFollower(t *testing.T) {
	t.Parallel()
	envs := clusterEnvs(t)
	leader, follower, other := envs[0], envs[1], envs[2]
	c := newAPIChecker(t, follower.handler)
	b := follower.bari
	body := bookingJSON(b.Remote.ID, slot(2, 10, 0), "video", citizen(7))

	first := follower.api(t, c, "POST", bariHost, "/api/v1/bookings", body, withKey("via-follower", nil))
	wantStatus(t, first, http.StatusCreated)
	// The repeat is answered the same by the follower, the other
	// follower and the leader: the record is in the replicated state.
	for _, e := range []*env{follower, other, leader} {
		sameAnswer(t, e.api(t, c, "POST", bariHost, "/api/v1/bookings", body, withKey("via-follower", nil)), first)
	}
	wantAPIError(t, other.api(t, c, "POST", bariHost, "/api/v1/bookings",
		bookingJSON(b.Remote.ID, slot(2, 10, 20), "video", citizen(7)), withKey("via-follower", nil)),
		http.StatusUnprocessableEntity, "idempotency_key_reused")

	var created apiBookingCreated
	first.json(t, &created)
	bk, err := leader.book.Get(context.Background(), b.Tenant.ID, created.Code, created.ManageToken)
	if err != nil {
		t.Fatalf("leader reads the booking with the first manage token: %v", err)
	}
	if bk.ID != created.ID {
		t.Errorf("booking: got %s, want %s", bk.ID, created.ID)
	}
	bks, err := leader.book.Bookings(context.Background(), b.Tenant.ID, b.Office.ID, slot(1, 0, 0), slot(31, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(bks) != 1 {
		t.Errorf("bookings: got %d, want 1", len(bks))
	}
	// Every node holds the same state.
	top := leader.node.AppliedIndex()
	want := clustertest.Dump(t, leader.node)
	for _, e := range envs[1:] {
		if err := e.node.WaitApplied(context.Background(), top); err != nil {
			t.Fatal(err)
		}
		if d := clustertest.Diff(clustertest.Dump(t, e.node), want); d != "" {
			t.Errorf("%s differs from the leader: %s", e.node.Config().NodeID, d)
		}
	}
}
