package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// aesSealer is an AES-GCM booking.FieldSealer with one key for every
// Comune, which the test can destroy. The pages' side of sealing is what
// is tested here; privacy.Keys, the sealer of the binary, is tested with
// these same readers in privacy/sealed_fields_test.go (this package's
// test node does not run the privacy commands).
type aesSealer struct {
	mu  sync.Mutex
	key []byte
}

var errTestKeyGone = errors.New("test key destroyed")

const aesSealerMagic = "TSEAL"

func (s *aesSealer) gcm() (cipher.AEAD, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		return nil, errTestKeyGone
	}
	b, err := aes.NewCipher(s.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (s *aesSealer) Seal(_ context.Context, t tenant.ID, aad string, plain []byte) ([]byte, error) {
	g, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(aesSealerMagic), nonce...)
	return g.Seal(out, nonce, plain, []byte(string(t)+"\x00"+aad)), nil
}

func (s *aesSealer) Open(_ context.Context, t tenant.ID, aad string, sealed []byte) ([]byte, error) {
	g, err := s.gcm()
	if err != nil {
		return nil, err
	}
	rest := sealed[len(aesSealerMagic):]
	return g.Open(nil, rest[:g.NonceSize()], rest[g.NonceSize():], []byte(string(t)+"\x00"+aad))
}

func (s *aesSealer) Sealed(data []byte) bool {
	return strings.HasPrefix(string(data), aesSealerMagic) && len(data) > len(aesSealerMagic)+12
}

func (s *aesSealer) Destroyed(err error) bool { return errors.Is(err, errTestKeyGone) }

func (s *aesSealer) destroy() {
	s.mu.Lock()
	s.key = nil
	s.mu.Unlock()
}

// TestSealedDetailsOnPages books with details and adds a note through a
// Book that seals them: the operator's agenda shows both in the clear,
// and the citizen's page the details; the row holds no clear copy. Once
// the key is gone the agenda shows "[dati cancellati]" and the citizen's
// page the same in the citizen's language, never an error page.
func TestSealedDetailsOnPages(t *testing.T) {
	t.Parallel()
	ae := newAdminEnv(t)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sealer := &aesSealer{key: key}
	ae.book.SealFields(sealer)
	ctx := context.Background()
	const details = "Mio figlio è invalido al 100%: serve accesso senza scale."
	const note = "Portare il certificato della ASL."
	cr, err := ae.book.Create(ctx, ae.bari.Tenant, booking.Request{ServiceID: ae.bari.InPerson.ID, Start: tuesday(9, 0),
		Channel: booking.InPerson, Citizen: citizen(3), Details: details, PrivacyAccepted: true}, "http://"+ae.bari.Host)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := ae.book.AddNote(ctx, ae.bari.Tenant, ae.bari.Office.ID, cr.Booking.ID, booking.Operator{ID: "op", Name: "Olga"}, note); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	var stored string
	if err := ae.node.DB().QueryRow(`SELECT details FROM booking_bookings WHERE tenant = ? AND id = ?`, ae.bari.Tenant.ID, cr.Booking.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "invalido") {
		t.Fatalf("the details are stored in the clear: %q", stored)
	}
	ae.clock.Set(tuesday(8, 0))
	op := ae.loginWith(ae.bari, "op-a", "Olga Verdi", auth.Grant{Role: auth.RoleOperator, Offices: []string{ae.bari.Office.ID}})
	agenda := "/gestione/agenda?ufficio=" + ae.bari.Office.ID + "&giorno=" + tuesday(9, 0).Format("2006-01-02")
	r := op.get(ae.bari.Host, agenda)
	if r.Status != 200 {
		t.Fatalf("agenda: %d\n%s", r.Status, text(r.Body))
	}
	if page := text(r.Body); !strings.Contains(page, "Dettagli "+details) || !strings.Contains(page, note) {
		t.Errorf("the agenda does not show the details and the note in the clear:\n%s", page)
	}
	manage := "/prenotazioni/" + cr.Booking.Code + "?token=" + cr.ManageToken
	if r := ae.get(ae.bari.Host, manage); r.Status != 200 || !strings.Contains(text(r.Body), details) {
		t.Errorf("the citizen's page: %d, details missing:\n%s", r.Status, text(r.Body))
	}

	sealer.destroy()
	r = op.get(ae.bari.Host, agenda)
	if page := text(r.Body); r.Status != 200 || strings.Contains(page, "invalido") || strings.Count(page, booking.ErasedText) != 2 {
		t.Errorf("after the key's destruction the agenda (%d) should show %q twice:\n%s", r.Status, booking.ErasedText, page)
	}
	for lang, want := range map[string]string{"it": "[dati cancellati]", "en": "[data erased]", "de": "[Daten gelöscht]"} {
		r := ae.do("GET", ae.bari.Host, manage, nil, map[string]string{"Accept-Language": lang})
		if page := text(r.Body); r.Status != 200 || !strings.Contains(page, want) {
			t.Errorf("%s: the citizen's page (%d) should show %q:\n%s", lang, r.Status, want, page)
		}
	}
}
