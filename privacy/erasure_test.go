package privacy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

var bari = tenant.Tenant{ID: "bari", Name: "Comune di Bari", CodePrefix: "BA", TimeZone: "Europe/Rome",
	Sender: tenant.Sender{Name: "Comune di Bari", Address: "prenotazioni@comune.bari.it"}}

// startTime is Monday 9 March 2026, 08:00 in Rome.
var startTime = time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)

func register(r *cluster.Registry) { registerWith(r, privacy.Register) }

// registerWith registers the packages the tests use, privacy through
// registerPrivacy (the current release's or an older one's).
func registerWith(r *cluster.Registry, registerPrivacy func(*cluster.Registry)) {
	booking.Register(r)
	queue.Register(r)
	docs.Register(r)
	registerPrivacy(r)
}

// env is a real one-node cluster (raft-boltdb log, file snapshots and
// SQLite in t.TempDir()) with a Comune's office, two services and the
// queue configured.
type env struct {
	node  *cluster.Node
	clock *clustertest.Clock
	book  *booking.Book
	q     *queue.Queue
	docs  *docs.Store
	priv  *privacy.Service
	keys  *privacy.Keys
	svc   booking.Service
	off   booking.Office
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t)
}

// newEnvWith is newEnv with more packages registered (tenant, for the
// tests that create and delete the Comune).
func newEnvWith(t testing.TB, more ...func(*cluster.Registry)) *env {
	t.Helper()
	e := &env{clock: clustertest.NewClock(startTime)}
	e.node = clustertest.New(t, cluster.Config{Now: e.clock.Now}, append([]func(*cluster.Registry){register}, more...)...)
	clustertest.Start(t, e.node)
	e.book = booking.NewBook(e.node, e.node.DB(), e.clock.Now, rand.Reader)
	e.q = queue.New(e.node, e.node.DB(), e.book, e.clock.Now, rand.Reader)
	e.docs = docs.NewStore(e.node, nil, e.clock.Now)
	wrap := make([]byte, 32)
	if _, err := rand.Read(wrap); err != nil {
		t.Fatal(err)
	}
	e.keys = privacy.NewKeys(e.node, e.node.DB(), wrap, nil)
	e.docs.Cipher = e.keys
	e.priv = privacy.NewService(e.node, e.node.DB(), privacy.Options{Now: e.clock.Now, Logger: clustertest.Logger(t)})
	ctx := context.Background()
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	var err error
	e.off, err = e.book.SaveOffice(ctx, bari.ID, booking.Office{
		Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84, 70122 Bari", Email: "anagrafe@example.it", Hours: week,
	})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	e.svc, err = e.book.SaveService(ctx, bari.ID, booking.Service{
		OfficeID: e.off.ID, Name: "Carta d'identità elettronica", Description: "CIE.", Category: "Anagrafe",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 5,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	if err := e.q.Configure(ctx, bari.ID, queue.OfficeConfig{OfficeID: e.off.ID, Sample: 3}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return e
}

// bookAt books the service at hh:mm of day d (days after startTime).
func (e *env) bookAt(t testing.TB, d, hh, mm int, c booking.Citizen, details string) booking.Booking {
	t.Helper()
	start := time.Date(2026, 3, 9+d, hh, mm, 0, 0, bari.Location())
	cr, err := e.book.Create(context.Background(), bari, booking.Request{
		ServiceID: e.svc.ID, Start: start, Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: c, Details: details,
	}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	return cr.Booking
}

// canaryForms returns the byte strings under which s could be stored:
// as is, lower-cased (emails are compared lower-cased) and in base64 at
// each of the three alignments (JSON encodes []byte payloads, such as a
// document's chunks, in base64). s is letters, digits and '-', which JSON
// and HTML leave unescaped.
func canaryForms(s string) [][]byte {
	forms := [][]byte{[]byte(s), []byte(strings.ToLower(s))}
	for pad := 0; pad < 3; pad++ {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			b := enc.EncodeToString(append(bytes.Repeat([]byte{0}, pad), s...))
			// Drop the characters that mix the padding or the next
			// bytes in: the middle is the same wherever s is stored.
			skip := (pad*8 + 5) / 6
			mid := b[skip+1 : len(b)-4]
			forms = append(forms, []byte(mid))
		}
	}
	return forms
}

// findCanary reads every file under dir and returns the files (and the
// form) where one of the canaries is found.
func findCanary(t *testing.T, dir string, canaries ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range canaries {
			for i, f := range canaryForms(c) {
				if bytes.Contains(b, f) {
					rel, _ := filepath.Rel(dir, path)
					hits = append(hits, fmt.Sprintf("%s (%s, form %d)", rel, c, i))
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// fiscalCode completes the 15 characters of a codice fiscale with its
// check letter.
func fiscalCode(t *testing.T, first15 string) string {
	t.Helper()
	for c := 'A'; c <= 'Z'; c++ {
		if fc := first15 + string(c); booking.ValidFiscalCode(fc) {
			return fc
		}
	}
	t.Fatalf("no check letter for %s", first15)
	return ""
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// TestErasureLeavesNoCopyOnDisk is the erasure test: bookings, a
// queue ticket and a call document carry a unique canary; after the
// citizen's erasure and the node's compaction, no file of the data folder
// (state.db and its WAL and shared memory, the raft-boltdb log, the
// snapshots) holds the canary in any form. The scan is first run right
// after the erasure, before the compaction, and must find the canary
// there: that proves the scan can fail.
func TestErasureLeavesNoCopyOnDisk(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	canary := "CANARY-" + randHex(t, 12)
	email := strings.ToLower("c" + randHex(t, 6) + "@example.it")
	citizen := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: email, Phone: "3331234567"}
	other := booking.Citizen{GivenName: "Luigi", FamilyName: "Bianchi", FiscalCode: fiscalCode(t, "BNCLGU80A01A662"), Email: "luigi@example.it"}

	b1 := e.bookAt(t, 1, 9, 0, citizen, "Note: "+canary)
	b2 := e.bookAt(t, 2, 10, 0, citizen, canary+" seconda")
	kept := e.bookAt(t, 1, 9, 30, other, "Nessuna nota")
	// A walk-in ticket whose citizen asked to be told by email.
	if _, err := e.q.Take(ctx, bari, queue.TakeRequest{OfficeID: e.off.ID, ServiceID: e.svc.ID,
		Channel: queue.InPerson, Email: email, Source: queue.SourceDesk}); err != nil {
		t.Fatalf("Take: %v", err)
	}
	// A document of the booking's call, carrying the canary in its bytes,
	// stored in the clear (a node without secrets.key): its chunks are in
	// the log as base64.
	plainDocs := docs.NewStore(e.node, nil, e.clock.Now)
	pdf := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Title (" + canary + ") >> endobj\n" + strings.Repeat("x", 2000) + "\n%%EOF\n")
	if _, err := plainDocs.Put(ctx, bari.ID, "room-1", b1.Code, "Operatore", "documento.pdf", bytes.NewReader(pdf), docs.Policy{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// Another document of the Comune, not the citizen's: sealed under the
	// Comune's data key before it is proposed, its bytes never reach a
	// file in the clear.
	secret := "SEALED-" + randHex(t, 12)
	pdf2 := []byte("%PDF-1.7\n1 0 obj << /Title (" + secret + ") >> endobj\n%%EOF\n")
	doc2, err := e.docs.Put(ctx, bari.ID, "room-2", "", "Operatore", "altro.pdf", bytes.NewReader(pdf2), docs.Policy{})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got := readDoc(t, e.docs, doc2.ID); !bytes.Equal(got, pdf2) {
		t.Fatalf("sealed document read back as %q", got)
	}
	// A snapshot before the erasure, as the node takes on its own.
	if err := e.node.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	dir := e.node.Config().Dir
	if hits := findCanary(t, dir, canary, email); len(hits) == 0 {
		t.Fatal("the canary is nowhere before the erasure: the test cannot tell anything")
	}
	if hits := findCanary(t, dir, secret); len(hits) > 0 {
		t.Errorf("a sealed document is on disk in the clear: %s", strings.Join(hits, ", "))
	}

	rep, err := e.priv.EraseCitizen(ctx, bari.ID, privacy.Subject{Email: strings.ToUpper(email)}, "richiesta art. 17")
	if err != nil {
		t.Fatalf("EraseCitizen: %v", err)
	}
	if rep.Counts[privacy.ClassBookings] != 2 || rep.Counts[privacy.ClassTickets] != 1 || rep.Counts[privacy.ClassDocuments] != 1 {
		t.Errorf("report %+v, want 2 bookings, 1 ticket, 1 document", rep.Counts)
	}
	// What the node serves no longer has the citizen.
	var n int
	if err := e.node.DB().QueryRow(`SELECT COUNT(*) FROM booking_bookings WHERE tenant = 'bari' AND (email = ? OR details LIKE ?)`,
		email, "%"+canary+"%").Scan(&n); err != nil || n != 0 {
		t.Errorf("bookings still naming the citizen: %d (%v)", n, err)
	}
	for _, b := range []booking.Booking{b1, b2} {
		var svc, office, status string
		if err := e.node.DB().QueryRow(`SELECT service_id, office_id, status FROM booking_bookings WHERE tenant = 'bari' AND id = ?`,
			b.ID).Scan(&svc, &office, &status); err != nil || svc != e.svc.ID || office != e.off.ID || status != "cancelled" {
			t.Errorf("booking %s after erasure: %s %s %s %v (want the statistics kept, future booking cancelled)", b.ID, svc, office, status, err)
		}
	}
	var keptEmail string
	if err := e.node.DB().QueryRow(`SELECT email FROM booking_bookings WHERE tenant = 'bari' AND id = ?`, kept.ID).Scan(&keptEmail); err != nil || keptEmail != other.Email {
		t.Errorf("the other citizen's booking lost its data: %q %v", keptEmail, err)
	}
	if d, err := e.docs.ListRef(ctx, bari.ID, b1.Code); err != nil || len(d) != 0 {
		t.Errorf("documents of the erased booking: %v %v", d, err)
	}

	// Before compaction the old copies are still on disk (the log, the
	// snapshot): the scan sees them.
	if hits := findCanary(t, dir, canary, email); len(hits) == 0 {
		t.Fatal("the canary is already gone before compaction: the scan proves nothing")
	} else {
		t.Logf("before compaction: %s", strings.Join(hits, ", "))
	}
	began := time.Now()
	if _, err := e.priv.CompactNow(ctx, e.node, 0); err != nil {
		t.Fatalf("CompactNow: %v", err)
	}
	t.Logf("compaction (snapshot, raft.db rewrite, WAL truncate) took %s", time.Since(began))
	if hits := findCanary(t, dir, canary, email); len(hits) > 0 {
		t.Errorf("canary found after erasure and compaction: %s", strings.Join(hits, ", "))
	}
	// The node keeps working on the compacted log.
	e.bookAt(t, 3, 9, 0, other, "dopo")

	// The Comune is removed: its data key is destroyed, and its sealed
	// documents, still in the state, are unreadable.
	if err := e.keys.DestroyKey(ctx, bari.ID); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	rc, err := e.docs.Open(ctx, bari.ID, doc2.ID)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, privacy.ErrKeyDestroyed) {
		t.Errorf("reading a document after its key was destroyed: %v, want ErrKeyDestroyed", err)
	}
	if _, err := e.priv.CompactNow(ctx, e.node, 0); err != nil {
		t.Fatalf("CompactNow after the key's destruction: %v", err)
	}

	// The node restarts on its rewritten log and compacted state, and
	// still has the other citizen's booking.
	restarted := clustertest.Restart(t, e.node, register)
	var got string
	if err := restarted.DB().QueryRow(`SELECT email FROM booking_bookings WHERE tenant = 'bari' AND id = ?`, kept.ID).Scan(&got); err != nil || got != other.Email {
		t.Errorf("after restart: %q %v", got, err)
	}
	if hits := findCanary(t, dir, canary, email); len(hits) > 0 {
		t.Errorf("canary back after restart: %s", strings.Join(hits, ", "))
	}
}

// readDoc reads a document through s.
func readDoc(t *testing.T, s *docs.Store, id string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), bari.ID, id)
	if err != nil {
		t.Fatalf("Open %s: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}
