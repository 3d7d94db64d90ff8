package requests_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
)

// TestExportOpensSealedFields: the booking's details and the office's
// note are sealed under the Comune's key by the node that proposed them;
// the export made on another node (its own Keys over the same
// secrets.key) gives them in the clear, and "[dati cancellati]" once the
// key is destroyed, without failing.
func TestExportOpensSealedFields(t *testing.T) {
	ms, _ := newCluster(t, 2)
	ctx := context.Background()
	wrap := make([]byte, 32)
	if _, err := rand.Read(wrap); err != nil {
		t.Fatal(err)
	}
	keys := make([]*privacy.Keys, len(ms))
	for i, m := range ms {
		keys[i] = privacy.NewKeys(m.node, m.node.DB(), wrap, nil)
		m.book.SealFields(keys[i])
	}
	off, svc := anagrafe(t, ms[0], bari.ID)
	const details = "Mia madre è allettata: chiedo la CIE a domicilio."
	const note = "Verificare il certificato del medico curante."
	c := booking.Citizen{GivenName: "Anna", FamilyName: "Neri", FiscalCode: fiscalCode(t, "NRENNA80A41A662"), Email: "anna.neri@example.it"}
	bk := bookSlot(t, ms[0], bari, svc, 0, c, details)
	if _, err := ms[0].book.AddNote(ctx, bari, off.ID, bk.ID, booking.Operator{ID: "op", Name: "Olga"}, note); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	catchUp(t, ms[0], ms[1])

	export := func() requests.ExportBooking {
		t.Helper()
		ex, err := ms[1].ex.Export(ctx, bari, requests.Subject{Email: c.Email}, requests.ScopeOperator)
		if err != nil {
			t.Fatalf("Export: %v", err)
		}
		if len(ex.Bookings) != 1 {
			t.Fatalf("export has %d bookings, want 1", len(ex.Bookings))
		}
		return ex.Bookings[0]
	}
	eb := export()
	if eb.Details != details || len(eb.Notes) != 1 || eb.Notes[0].Text != note {
		t.Errorf("export on another node: details %q, notes %+v; want %q and %q", eb.Details, eb.Notes, details, note)
	}
	// The JSON a citizen downloads holds the texts, not a sealed value.
	if b, _ := json.Marshal(eb); strings.Contains(string(b), `\u001d`) {
		t.Errorf("the export carries a sealed value: %s", b)
	}

	if err := keys[0].DestroyKey(ctx, bari.ID); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	catchUp(t, ms[0], ms[1])
	eb = export()
	if eb.Details != booking.ErasedText || len(eb.Notes) != 1 || eb.Notes[0].Text != booking.ErasedText {
		t.Errorf("export after DestroyKey: details %q, notes %+v; want %q", eb.Details, eb.Notes, booking.ErasedText)
	}
	if eb.Code != bk.Code || eb.Email != c.Email {
		t.Errorf("export after DestroyKey lost the clear fields: %+v", eb)
	}
}
