package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestComuneEmailDelivererKeepsReplyTo: the Comune's Reply-To is read
// once for the emails of replyToTTL, again after it, and not at all for
// an office with its own email.
func TestComuneEmailDelivererKeepsReplyTo(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var at atomic.Int64
	at.Store(time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, at.Load()).UTC() }
	var lookups atomic.Int32
	lookup := func(context.Context, tenant.ID) (string, error) {
		lookups.Add(1)
		return "urp@comune.bari.it", nil
	}
	box, err := mailer.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
	if err != nil {
		t.Fatal(err)
	}
	deliver := comuneEmailDeliverer(box, "", lookup, now, log)
	send := func(officeEmail string) {
		t.Helper()
		n := testNotice(tenant.Sender{Name: "Comune di Bari", Address: "noreply@comune.bari.it"})
		n.OfficeEmail = officeEmail
		payload, _ := json.Marshal(n)
		if err := deliver(context.Background(), cluster.OutboxMessage{ID: "5-1", Tenant: "bari", Kind: booking.OutboxKind, Key: "k", Payload: payload}); err != nil {
			t.Fatal(err)
		}
	}
	send("")
	send("")
	send("anagrafe@comune.bari.it")
	if got := lookups.Load(); got != 1 {
		t.Errorf("%d lookups for three emails within the TTL, want 1", got)
	}
	at.Add(int64(replyToTTL))
	send("")
	if got := lookups.Load(); got != 2 {
		t.Errorf("%d lookups after the TTL, want 2", got)
	}
}
