package knowledge_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Two Comuni, so that every test can check that one never sees the
// other's rows.
var (
	bari  = tenant.Tenant{ID: "bari", Name: "Comune di Bari", TimeZone: tenant.DefaultTimeZone}
	lecce = tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", TimeZone: tenant.DefaultTimeZone}
)

// member is one node of a test cluster with the package's store on it.
type member struct {
	node  *cluster.Node
	book  *booking.Book
	store *knowledge.Store
}

func register(r *cluster.Registry) {
	booking.Register(r)
	knowledge.Register(r)
}

// newCluster starts n real Raft nodes with booking and knowledge.
func newCluster(t testing.TB, n int) []member {
	t.Helper()
	var nodes []*cluster.Node
	if n == 1 {
		nodes = []*cluster.Node{clustertest.Node(t, register)}
	} else {
		nodes = clustertest.Cluster(t, n, register)
	}
	out := make([]member, len(nodes))
	for i, node := range nodes {
		book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
		out[i] = member{node: node, book: book, store: knowledge.NewStore(node, node.DB(), book)}
	}
	return out
}

// catchUp waits until m has applied everything from has applied.
func catchUp(t testing.TB, from, m member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.node.WaitApplied(ctx, from.node.AppliedIndex()); err != nil {
		t.Fatalf("wait applied: %v", err)
	}
}

// weekdayMornings is an office's hours: Monday to Friday, 9 to 12.
func weekdayMornings() booking.Week {
	var w booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	return w
}

// addOffice saves an office with the given services (ID, name,
// description) through the book.
func addOffice(t testing.TB, m member, tn tenant.ID, id, name string, services ...[3]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := m.book.SaveOffice(ctx, tn, booking.Office{ID: id, Name: name, Address: "Piazza del Municipio 1", Hours: weekdayMornings()}); err != nil {
		t.Fatalf("SaveOffice %s: %v", id, err)
	}
	for _, s := range services {
		addService(t, m, tn, id, s[0], s[1], s[2])
	}
}

func addService(t testing.TB, m member, tn tenant.ID, office, id, name, desc string) booking.Service {
	t.Helper()
	svc, err := m.book.SaveService(context.Background(), tn, booking.Service{
		ID: id, OfficeID: office, Name: name, Description: desc,
		WhatToBring: []string{"Documento d'identità"},
		Duration:    15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 1,
		HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService %s: %v", id, err)
	}
	return svc
}

// bariOffices gives Bari an Anagrafe and a Polizia locale.
func bariOffices(t testing.TB, m member) {
	addOffice(t, m, bari.ID, "anagrafe", "Anagrafe",
		[3]string{"cie", "Carta d'identità elettronica", "Rilascio e rinnovo della carta d'identità elettronica."},
		[3]string{"residenza", "Cambio di residenza", "Dichiarazione di residenza e cambio di indirizzo."})
	addOffice(t, m, bari.ID, "polizia", "Polizia locale",
		[3]string{"ztl", "Permessi ZTL", "Permessi di accesso alla zona a traffico limitato."},
		[3]string{"multe", "Pagamento sanzioni", "Pagamento dei verbali e ricorsi."})
}

// top returns the ID of the best suggestion for q, or "".
func top(cat *knowledge.Catalogue, q string) string {
	s := cat.Index.Search(q, 3)
	if len(s) == 0 {
		return ""
	}
	return s[0].ServiceID
}
