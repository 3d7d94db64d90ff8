package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"path/filepath"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestComuneEmailDelivererReplyTo: the Comune's Reply-To, looked up when
// the message is sent, answers for an office without email; an office's
// own email wins; a failed lookup still sends, without the header.
func TestComuneEmailDelivererReplyTo(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC) }
	lookup := func(addr string, err error) replyToLookup {
		return func(_ context.Context, id tenant.ID) (string, error) {
			if id != "bari" {
				t.Errorf("lookup of %q, want bari", id)
			}
			return addr, err
		}
	}
	tests := []struct {
		name        string
		officeEmail string
		lookup      replyToLookup
		want        string
	}{
		{"the Comune's Reply-To", "", lookup("urp@comune.bari.it", nil), "urp@comune.bari.it"},
		{"the office's email first", "anagrafe@comune.bari.it", lookup("urp@comune.bari.it", nil), "anagrafe@comune.bari.it"},
		{"none set", "", lookup("", nil), ""},
		{"lookup failed", "", lookup("", errors.New("disk on fire")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			box, err := mailer.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
			if err != nil {
				t.Fatal(err)
			}
			n := testNotice(tenant.Sender{Name: "Comune di Bari", Address: "noreply@comune.bari.it"})
			n.OfficeEmail = tt.officeEmail
			payload, _ := json.Marshal(n)
			deliver := comuneEmailDeliverer(box, "", tt.lookup, now, log)
			if err := deliver(context.Background(), cluster.OutboxMessage{ID: "5-0", Tenant: "bari", Kind: booking.OutboxKind, Key: "k", Payload: payload}); err != nil {
				t.Fatalf("deliver: %v", err)
			}
			list, _ := box.List()
			if len(list) != 1 {
				t.Fatalf("mailbox has %d messages, want 1", len(list))
			}
			s, err := box.Get(list[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mail.ReadMessage(bytes.NewReader(s.Raw))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if h := m.Header.Get("Reply-To"); h != "" {
				a, err := mail.ParseAddress(h)
				if err != nil {
					t.Fatalf("Reply-To %q: %v", h, err)
				}
				got = a.Address
			}
			if got != tt.want {
				t.Errorf("Reply-To: got %q, want %q", got, tt.want)
			}
		})
	}
}
