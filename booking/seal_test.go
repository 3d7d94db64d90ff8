package booking

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// gcmSealer is an AES-GCM FieldSealer under one key. privacy.Keys, the
// binary's sealer, imports this package, so its tests with these readers
// live in privacy (sealed_fields_test.go); this one serves the tests of
// what the package itself does with sealed values.
type gcmSealer struct{ aead cipher.AEAD }

func newGCMSealer(t *testing.T) *gcmSealer {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead: g}
}

const gcmMagic = "GCM1"

func (s *gcmSealer) Seal(_ context.Context, t tenant.ID, aad string, plain []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(append([]byte(gcmMagic), nonce...), nonce, plain, []byte(string(t)+"\x00"+aad)), nil
}

func (s *gcmSealer) Open(_ context.Context, t tenant.ID, aad string, sealed []byte) ([]byte, error) {
	rest := sealed[len(gcmMagic):]
	return s.aead.Open(nil, rest[:s.aead.NonceSize()], rest[s.aead.NonceSize():], []byte(string(t)+"\x00"+aad))
}

func (s *gcmSealer) Sealed(data []byte) bool {
	return strings.HasPrefix(string(data), gcmMagic) && len(data) > len(gcmMagic)+s.aead.NonceSize()
}

func (s *gcmSealer) Destroyed(error) bool { return false }

// TestSealedDetailsInEmails: the outbox keeps the notice as apply made
// it, with the details sealed; the email composed from it leaves them
// out rather than show ciphertext, and shows them once a deliverer opened
// the notice (Book.OpenNotice).
func TestSealedDetailsInEmails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.book.SealFields(newGCMSealer(t))
	ctx := context.Background()
	const details = "Ho bisogno di un interprete LIS."
	req := f.request(f.svc.ID, f.at(2026, time.March, 10, 9, 0), 1)
	req.Details = details
	cr, err := f.book.Create(ctx, bari, req, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if cr.Booking.Details != details {
		t.Errorf("Create answered details %q, want %q", cr.Booking.Details, details)
	}
	var payload []byte
	if err := f.node.DB().QueryRow(`SELECT payload FROM cluster_outbox WHERE kind = ? ORDER BY rowid DESC LIMIT 1`, OutboxKind).Scan(&payload); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	if strings.Contains(string(payload), "interprete") {
		t.Fatalf("the outbox holds the details in the clear: %s", payload)
	}
	var n Notice
	if err := json.Unmarshal(payload, &n); err != nil {
		t.Fatal(err)
	}
	_, _, msg, err := ComposeEmail(n, f.clock.Now())
	if err != nil {
		t.Fatalf("ComposeEmail: %v", err)
	}
	if s := string(msg); strings.Contains(s, "interprete") || strings.Contains(s, "sv1:") {
		t.Errorf("the email of an unopened notice shows the details or their ciphertext:\n%s", s)
	}
	f.book.OpenNotice(ctx, &n)
	_, _, msg, err = ComposeEmail(n, f.clock.Now())
	if err != nil {
		t.Fatalf("ComposeEmail: %v", err)
	}
	if !strings.Contains(string(msg), "interprete LIS") {
		t.Errorf("the email of an opened notice lacks the details:\n%s", msg)
	}
}

// TestSealedNoteNeedsVersion2: apply takes a sealed note only in version
// 2 of booking.note.add, the version the gate holds back until every
// member knows it: a member of the release before, which would refuse the
// sealed text, never applies one. Version 2 still refuses clear text with
// control characters and sealed text too long for the note's limit.
func TestSealedNoteNeedsVersion2(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	cr, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, time.March, 10, 9, 0), 1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	sealed := sealedTextPrefix + strings.Repeat("QUJD", 40)
	propose := func(version int, text string) error {
		id, err := f.book.newID()
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := cluster.NewCommand(CmdNoteAdd, version, string(bari.ID), outcomePayload{BookingID: cr.Booking.ID,
			OfficeID: f.office.ID, By: Operator{ID: "op", Name: "Olga"}, Text: text, NoteID: id, Comune: comuneOf(bari)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.node.Propose(ctx, cmd)
		return err
	}
	var ve *ValidationError
	if err := propose(1, sealed); !errors.As(err, &ve) {
		t.Errorf("v1 with a sealed note: %v, want a validation error", err)
	}
	if err := propose(2, sealed); err != nil {
		t.Errorf("v2 with a sealed note: %v", err)
	}
	if err := propose(2, "a\x1db"); !errors.As(err, &ve) {
		t.Errorf("v2 with a control character in clear text: %v, want a validation error", err)
	}
	if err := propose(2, sealedTextPrefix+strings.Repeat("A", sealedTextMax(MaxNote))); !errors.As(err, &ve) {
		t.Errorf("v2 with an oversized sealed note: %v, want a validation error", err)
	}
	// The one note accepted reads as unreadable on a Book without a
	// sealer, never as ciphertext.
	it, err := f.book.AgendaItem(ctx, bari, cr.Booking.ID)
	if err != nil || len(it.Notes) != 1 || it.Notes[0].Text != UnreadableText {
		t.Errorf("notes %+v (%v), want one reading %q", it.Notes, err, UnreadableText)
	}
}
