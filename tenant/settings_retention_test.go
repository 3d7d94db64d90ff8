package tenant_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestDocumentRetention: the retention of call documents is 0 (the
// configured default) until saved, is kept within 1–365 days, is read
// back by Settings, and a version 1 command (from a node not upgraded
// yet, which knows nothing of it) leaves it as it was.
func TestDocumentRetention(t *testing.T) {
	t.Parallel()
	reg, n := newRegistry(t)
	ctx := context.Background()
	b, err := reg.Create(ctx, bari())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := reg.DocumentRetentionDays(ctx, "bari"); err != nil || d != 0 {
		t.Errorf("before any save: %d, %v; want 0", d, err)
	}
	s := tenant.SettingsOf(b)
	for _, bad := range []int{-1, 366} {
		s.DocumentRetentionDays = bad
		var ve *tenant.ValidationError
		if _, err := reg.SaveSettings(ctx, "bari", s); !errors.As(err, &ve) || ve.Fields["document_retention_days"] == "" {
			t.Errorf("%d days: got %v, want a field error", bad, err)
		}
	}
	s.DocumentRetentionDays = 7
	s.ReplyTo = "urp@comune.bari.it"
	if _, err := reg.SaveSettings(ctx, "bari", s); err != nil {
		t.Fatal(err)
	}
	got, err := reg.Settings(ctx, "bari")
	if err != nil || got.DocumentRetentionDays != 7 || got.ReplyTo != "urp@comune.bari.it" {
		t.Fatalf("Settings: %+v, %v; want 7 days and the Reply-To", got, err)
	}

	// An older node's command: version 1, without the field.
	v1 := map[string]any{"settings": map[string]any{"name": "Comune di Bari", "reply_to": "protocollo@comune.bari.it"}}
	cmd, err := cluster.NewCommand(tenant.CommandSettings, 1, "bari", v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	got, err = reg.Settings(ctx, "bari")
	if err != nil || got.DocumentRetentionDays != 7 || got.ReplyTo != "protocollo@comune.bari.it" {
		t.Errorf("after a version 1 command: %+v, %v; want the Reply-To changed and 7 days kept", got, err)
	}
}
