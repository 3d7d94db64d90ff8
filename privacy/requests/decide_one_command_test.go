package requests_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy/requests"
)

// recorder is a real node's proposer that remembers what it proposed
// and, when refuse is set, answers a type/version as the version gate
// does for a cluster with an older member.
type recorder struct {
	*cluster.Node
	mu     sync.Mutex
	cmds   []cluster.Command
	idx    []uint64
	refuse func(cluster.Command) bool
}

func (r *recorder) Propose(ctx context.Context, cmd cluster.Command) (cluster.Result, error) {
	if r.refuse != nil && r.refuse(cmd) {
		return cluster.Result{}, cluster.ErrNotSupportedByCluster
	}
	res, err := r.Node.Propose(ctx, cmd)
	if err == nil {
		r.mu.Lock()
		r.cmds = append(r.cmds, cmd)
		r.idx = append(r.idx, res.Index)
		r.mu.Unlock()
	}
	return res, err
}

// subjectColumns reads a request's stored subject, as a snapshot would
// hold it.
func subjectColumns(t *testing.T, m member, id string) (cf, email string) {
	t.Helper()
	if err := m.node.DB().QueryRow(`SELECT subject_cf, subject_email FROM privacyreq_requests WHERE tenant = ? AND id = ?`,
		bari.ID, id).Scan(&cf, &email); err != nil {
		t.Fatal(err)
	}
	return cf, email
}

// TestApprovalErasesInTheDecisionItself is issue 11's compaction race
// (DESIGN.md, "Issue 11, point by point", 1): the compactor wakes on the
// newest privacy_erasures row, so the entry that writes that row must be
// the one that replaces the request's subject by digests. The approval
// is one command, privacyreq.decide version 2; the erasure it records
// has the decision's own log index, and at that index the request holds
// digests only.
func TestApprovalErasesInTheDecisionItself(t *testing.T) {
	t.Parallel()
	ms, srv := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	p := newPeople(t)
	_, svc := anagrafe(t, m, bari.ID)
	b := bookSlot(t, m, bari, svc, 0, p.maria, "canary-decide")
	req, err := m.store.File(operator(ctx), bari, requests.Filing{Subject: requests.Subject{FiscalCode: p.maria.FiscalCode, Email: p.maria.Email},
		Origin: requests.OriginOperator, By: requests.Person{ID: "op-1", Name: "Operatrice Uno"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Node: m.node}
	st := requests.NewStore(rec, m.node.DB(), nil, nil)
	approved, err := st.Decide(ctx, bari, req.ID, requests.Decision{Approve: true, By: requests.Person{ID: "admin-1", Name: "Amministratrice"}}, m.erase)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if len(rec.cmds) != 1 || rec.cmds[0].Type != requests.CmdDecide || rec.cmds[0].Version != 2 {
		var types []string
		for _, c := range rec.cmds {
			types = append(types, c.Type)
		}
		t.Fatalf("the approval proposed %v, want one %s version 2", types, requests.CmdDecide)
	}
	if approved.EraseIndex != rec.idx[0] {
		t.Errorf("erasure recorded at index %d, decision at %d: a snapshot could fall between them", approved.EraseIndex, rec.idx[0])
	}
	if approved.EraseCounts["bookings"] != 1 {
		t.Errorf("erase counts %v, want the one booking", approved.EraseCounts)
	}
	var newest uint64
	if err := m.node.DB().QueryRow(`SELECT MAX(cmd_index) FROM privacy_erasures WHERE tenant = ?`, bari.ID).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if newest != rec.idx[0] {
		t.Errorf("newest erasure row at %d, decision at %d", newest, rec.idx[0])
	}
	cf, email := subjectColumns(t, m, req.ID)
	if !strings.HasPrefix(cf, "sha256:") || !strings.HasPrefix(email, "sha256:") {
		t.Errorf("request subject after approval: %q, %q", cf, email)
	}
	var family, mail string
	if err := m.node.DB().QueryRow(`SELECT family_name, email FROM booking_bookings WHERE tenant = ? AND id = ?`,
		bari.ID, b.ID).Scan(&family, &mail); err != nil || family != "" || mail != "" {
		t.Errorf("booking after approval: %q %q, %v", family, mail, err)
	}
	// The outcome email is queued after the erasure, so it is not erased
	// with the citizen's other emails.
	waitMail(t, srv, p.maria.Email, "Decisione sulla tua richiesta")
}

// TestApprovalFallsBackBehindTheVersionGate: while a member cannot apply
// version 2 of privacyreq.decide, the approval still works the old way
// (privacy.erase, then the decision version 1).
func TestApprovalFallsBackBehindTheVersionGate(t *testing.T) {
	t.Parallel()
	ms, srv := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	p := newPeople(t)
	_, svc := anagrafe(t, m, bari.ID)
	bookSlot(t, m, bari, svc, 0, p.maria, "canary-fallback")
	req, err := m.store.File(operator(ctx), bari, requests.Filing{Subject: requests.Subject{Email: p.maria.Email},
		Origin: requests.OriginOperator, By: requests.Person{ID: "op-1", Name: "Operatrice Uno"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Node: m.node, refuse: func(c cluster.Command) bool { return c.Type == requests.CmdDecide && c.Version >= 2 }}
	st := requests.NewStore(rec, m.node.DB(), nil, nil)
	approved, err := st.Decide(ctx, bari, req.ID, requests.Decision{Approve: true, By: requests.Person{ID: "admin-1", Name: "Amministratrice"}}, m.erase)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if approved.State != requests.StateApproved || approved.EraseIndex == 0 || approved.EraseCounts["bookings"] != 1 {
		t.Errorf("approved %+v", approved)
	}
	if len(rec.cmds) != 1 || rec.cmds[0].Type != requests.CmdDecide || rec.cmds[0].Version != 1 {
		t.Errorf("the fallback proposed %d commands through the store, want one decision version 1", len(rec.cmds))
	}
	if _, email := subjectColumns(t, m, req.ID); !strings.HasPrefix(email, "sha256:") {
		t.Errorf("request subject after approval: %q", email)
	}
	waitMail(t, srv, p.maria.Email, "Decisione sulla tua richiesta")
}

// countCompactor counts the compactions asked of it.
type countCompactor struct{ n int }

func (c *countCompactor) CompactAfterErasure(context.Context) error { c.n++; return nil }

// TestDeliveredDecisionEmailIsForgotten is issue 11's decision email
// (DESIGN.md, "Issue 11, point by point", 2): the email that tells the
// citizen their erasure was granted keeps their address in the outbox;
// once delivered, privacy.Service.ForgetDelivered deletes its row and
// records it for the compactor, which compacts again. A refusal's email
// and other Comuni's rows are left alone.
func TestDeliveredDecisionEmailIsForgotten(t *testing.T) {
	t.Parallel()
	ms, srv := newCluster(t, 1)
	m := ms[0]
	ctx := context.Background()
	p := newPeople(t)
	_, svc := anagrafe(t, m, bari.ID)
	bookSlot(t, m, bari, svc, 0, p.maria, "")
	admin := requests.Person{ID: "admin-1", Name: "Amministratrice"}
	file := func(email string) requests.Request {
		t.Helper()
		r, err := m.store.File(operator(ctx), bari, requests.Filing{Subject: requests.Subject{Email: email},
			Origin: requests.OriginOperator, By: requests.Person{ID: "op-1", Name: "Operatrice Uno"}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	granted, refused := file(p.maria.Email), file(p.mario.Email)
	if _, err := m.store.Decide(ctx, bari, refused.ID, requests.Decision{Reason: "Procedimento in corso.", By: admin}, m.erase); err != nil {
		t.Fatal(err)
	}
	if _, err := m.store.Decide(ctx, bari, granted.ID, requests.Decision{Approve: true, By: admin}, m.erase); err != nil {
		t.Fatal(err)
	}
	waitMail(t, srv, p.maria.Email, "Decisione sulla tua richiesta")
	waitMail(t, srv, p.mario.Email, "Decisione sulla tua richiesta")
	rowsOf := func(email string) (sent, all int) {
		t.Helper()
		if err := m.node.DB().QueryRow(`SELECT COALESCE(SUM(status = 'sent'), 0), COUNT(*) FROM cluster_outbox
			WHERE tenant = ? AND kind = ? AND instr(CAST(payload AS TEXT), ?) > 0`, bari.ID, requests.OutboxKind, email).Scan(&sent, &all); err != nil {
			t.Fatal(err)
		}
		return sent, all
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if sent, all := rowsOf(p.maria.Email); sent == 1 && all == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the decision email was not marked sent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	since, err := m.erase.CompactNow(ctx, &countCompactor{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.erase.ForgetDelivered(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ForgetDelivered: %d, %v; want the one decision email", n, err)
	}
	if _, all := rowsOf(p.maria.Email); all != 0 {
		t.Errorf("%d outbox rows still carry the erased citizen's address", all)
	}
	if _, all := rowsOf(p.mario.Email); all == 0 {
		t.Error("the refusal's emails went too")
	}
	c := &countCompactor{}
	if idx, err := m.erase.CompactNow(ctx, c, since); err != nil || idx <= since || c.n != 1 {
		t.Errorf("compaction after the deletion: index %d (before %d), %d compactions, %v", idx, since, c.n, err)
	}
	// Nothing more to forget; the erasure history lists no extra entry.
	if n, err := m.erase.ForgetDelivered(ctx); err != nil || n != 0 {
		t.Errorf("second ForgetDelivered: %d, %v", n, err)
	}
	hist, err := m.erase.Erasures(ctx, bari.ID, 10)
	if err != nil || len(hist) != 1 {
		t.Errorf("erasure history: %+v, %v; want the approval's erasure only", hist, err)
	}
}
