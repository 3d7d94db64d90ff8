package booking

import (
	"context"
	"encoding/base64"
	"strings"
	"sync/atomic"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Sealed fields (issue 11, crypto-shredding). The texts most likely to
// hold health or family information — what the citizen writes in a
// booking's details, the office's internal notes and the note given when
// an appointment is served — are encrypted under the Comune's data key by
// the proposer, before the command is proposed: the raft log, the
// snapshots, SQLite and the backups only ever hold ciphertext, and
// destroying the Comune's key (privacy.Keys.DestroyKey) makes every copy
// unreadable at once.
//
// A sealed value is stored as text in the column it always had:
// sealedTextPrefix and the sealed bytes in unpadded base64. The prefix
// starts with a control character, which the validation of every one of
// these texts refuses (hasControl): a clear value can never be mistaken
// for a sealed one, so rows written before sealing, or by a node without
// secrets.key, read as they are.

// FieldSealer encrypts and decrypts a Comune's field values under its
// data key: *privacy.Keys. booking cannot import privacy (privacy imports
// booking), hence the interface.
type FieldSealer interface {
	// Seal encrypts plain under Comune t's key; aad binds the result to
	// its place (booking, field), so a value copied elsewhere does not
	// open.
	Seal(ctx context.Context, t tenant.ID, aad string, plain []byte) ([]byte, error)
	// Open decrypts what Seal made with the same t and aad.
	Open(ctx context.Context, t tenant.ID, aad string, sealed []byte) ([]byte, error)
	// Sealed reports whether data was made by Seal.
	Sealed(data []byte) bool
	// Destroyed reports whether err (from Open) means the Comune's key
	// was destroyed: the value is gone for good.
	Destroyed(err error) bool
}

// The texts a reader gets in place of a sealed value it cannot open.
// Italian, as the back office; the citizen's pages translate them
// (booking/web).
const (
	// ErasedText replaces a value whose Comune's data key was destroyed.
	ErasedText = "[dati cancellati]"
	// UnreadableText replaces a value this node cannot open: it has no
	// secrets.key, or not the one the cluster's keys are sealed with.
	UnreadableText = "[dati non leggibili su questo server]"
)

// sealedTextPrefix starts every sealed value stored as text. The control
// character (U+001D, group separator) is what no validated text holds.
const sealedTextPrefix = "\x1dsv1:"

// sealerBox holds a FieldSealer for the atomic pointer of Book.
type sealerBox struct{ s FieldSealer }

// bookSealer is the Book's FieldSealer, set once the node has read
// secrets.key, which may be after the Book's workers started.
type bookSealer struct{ p atomic.Pointer[sealerBox] }

// SealFields makes b seal the details of new bookings and the office's
// notes under each Comune's data key, and open them when it reads them.
// Without it (nil, a node without secrets.key) they are stored in the
// clear, as before. It is safe to call while b is in use.
func (b *Book) SealFields(s FieldSealer) {
	if s == nil {
		b.sealer.p.Store(nil)
		return
	}
	b.sealer.p.Store(&sealerBox{s: s})
}

// fieldSealer returns the Book's sealer, nil when it has none.
func (b *Book) fieldSealer() FieldSealer {
	if box := b.sealer.p.Load(); box != nil {
		return box.s
	}
	return nil
}

// isSealedText reports whether a stored text is a sealed value.
func isSealedText(s string) bool { return strings.HasPrefix(s, sealedTextPrefix) }

// The associated data of each sealed field: the booking (and the note)
// it belongs to and which field it is. The sealer adds the tenant.
func detailsAAD(bookingID string) string { return "booking/" + bookingID + "/details" }

func noteAAD(bookingID, noteID string) string { return "booking/" + bookingID + "/note/" + noteID }

func outcomeNoteAAD(bookingID string) string { return "booking/" + bookingID + "/outcome_note" }

// sealText returns plain sealed under Comune t's key as stored text; an
// empty text, or a Book without a sealer, keeps it as it is.
func (b *Book) sealText(ctx context.Context, t tenant.ID, aad, plain string) (string, error) {
	s := b.fieldSealer()
	if s == nil || plain == "" {
		return plain, nil
	}
	sealed, err := s.Seal(ctx, t, aad, []byte(plain))
	if err != nil {
		return "", err
	}
	return sealedTextPrefix + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// openText returns a stored text in the clear: as it is when it was not
// sealed, ErasedText when its Comune's key was destroyed, UnreadableText
// when this node cannot open it. It never fails: a page that shows the
// text shows the marker instead of an error.
func (b *Book) openText(ctx context.Context, t tenant.ID, aad, stored string) string {
	if !isSealedText(stored) {
		return stored
	}
	s := b.fieldSealer()
	if s == nil {
		return UnreadableText
	}
	raw, err := base64.RawStdEncoding.DecodeString(stored[len(sealedTextPrefix):])
	if err != nil || !s.Sealed(raw) {
		return UnreadableText
	}
	plain, err := s.Open(ctx, t, aad, raw)
	switch {
	case err == nil:
		return string(plain)
	case s.Destroyed(err):
		return ErasedText
	}
	return UnreadableText
}

// openBooking puts bk's details in the clear.
func (b *Book) openBooking(ctx context.Context, t tenant.ID, bk *Booking) {
	bk.Details = b.openText(ctx, t, detailsAAD(bk.ID), bk.Details)
}

// openBookings puts the details of every booking of bks in the clear.
func (b *Book) openBookings(ctx context.Context, t tenant.ID, bks []Booking) {
	for i := range bks {
		b.openBooking(ctx, t, &bks[i])
	}
}

// openHandling puts the office's texts about a booking in the clear: the
// outcome note and the notes.
func (b *Book) openHandling(ctx context.Context, t tenant.ID, bookingID string, h *Handling, notes []Note) {
	h.OutcomeNote = b.openText(ctx, t, outcomeNoteAAD(bookingID), h.OutcomeNote)
	for i := range notes {
		notes[i].Text = b.openText(ctx, t, noteAAD(bookingID, notes[i].ID), notes[i].Text)
	}
}

// OpenNotice puts the details of a notice's booking in the clear, for a
// deliverer that shows them in the email (the outbox keeps the notice as
// apply made it: sealed). Without it the email leaves sealed details out
// (newEmailView).
func (b *Book) OpenNotice(ctx context.Context, n *Notice) {
	if !isSealedText(n.Booking.Details) {
		return
	}
	n.Booking.Details = b.openText(ctx, n.Tenant, detailsAAD(n.Booking.ID), n.Booking.Details)
	if n.Booking.Details == ErasedText || n.Booking.Details == UnreadableText {
		n.Booking.Details = ""
	}
}

// sealedTextMax is the longest stored form of a sealed text of at most
// maxRunes characters: four bytes a character, the sealer's overhead
// (magic, key ID, nonce, tag: under 64 bytes) and base64's third more.
func sealedTextMax(maxRunes int) int {
	return len(sealedTextPrefix) + (4*maxRunes+64)*4/3 + 4
}
