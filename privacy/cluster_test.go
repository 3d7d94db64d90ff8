package privacy_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/privacy"
)

// TestErasureOnEveryNode erases a citizen through a follower of a
// three-node cluster: every node applies the same erasure at the same
// index (same digest), and once each has compacted its own files none of
// them holds the canary.
func TestErasureOnEveryNode(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, register)
	ctx := context.Background()
	leader := clustertest.Leader(t, nodes...)
	var follower = nodes[0]
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	book := booking.NewBook(follower, follower.DB(), time.Now, rand.Reader)
	var week booking.Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	off, err := book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Anagrafe", Address: "Piazza 1", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, booking.Service{OfficeID: off.ID, Name: "CIE", Description: "CIE.",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 3, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	canary := "CANARY-" + randHex(t, 12)
	email := strings.ToLower("c" + randHex(t, 6) + "@example.it")
	// Two days ahead, or the first day after that is not a national
	// holiday: the office, open every day, is closed on those.
	day := time.Now().In(bari.Location()).AddDate(0, 0, 2)
	for closed, _ := bari.ClosedOn(civil.DateOf(day)); closed; closed, _ = bari.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	if _, err := book.Create(ctx, bari, booking.Request{ServiceID: svc.ID, Channel: booking.InPerson, PrivacyAccepted: true,
		Start:   time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, bari.Location()),
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: email},
		Details: canary}, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	priv := privacy.NewService(follower, follower.DB(), privacy.Options{})
	rep, err := priv.EraseCitizen(ctx, bari.ID, privacy.Subject{FiscalCode: "rssmra85t10a562s"}, "richiesta")
	if err != nil || rep.Counts[privacy.ClassBookings] != 1 {
		t.Fatalf("EraseCitizen: %+v %v", rep, err)
	}
	var sums []string
	for _, n := range nodes {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.WaitApplied(wctx, rep.Index)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", n.Config().NodeID, err)
		}
	}
	// Compare the digests at one index: a barrier-free way is to read
	// each node's digest until all report the same index.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sums = sums[:0]
		var idx []uint64
		for _, n := range nodes {
			i, s, err := n.Digest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			idx = append(idx, i)
			sums = append(sums, s)
		}
		if idx[0] == idx[1] && idx[1] == idx[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not reach one index: %v", idx)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Fatalf("the nodes diverged after the erasure: %v", sums)
	}
	for _, n := range nodes {
		p := privacy.NewService(n, n.DB(), privacy.Options{})
		if _, err := p.CompactNow(ctx, n, 0); err != nil {
			t.Fatalf("%s: CompactNow: %v", n.Config().NodeID, err)
		}
		if hits := findCanary(t, n.Config().Dir, canary, email); len(hits) > 0 {
			t.Errorf("%s keeps the canary: %s", n.Config().NodeID, strings.Join(hits, ", "))
		}
	}
	// The cluster still replicates after every node compacted its log.
	if _, err := book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Stato civile", Address: "Piazza 2", Hours: week}); err != nil {
		t.Fatalf("write after compaction: %v", err)
	}
}
