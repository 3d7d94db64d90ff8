package privacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sportello-virtuale/sportello/privacy"
)

// TestCanaryFormsFindBase64 makes sure the erasure test's scan would see
// a canary stored the way JSON stores bytes (base64), at any alignment:
// otherwise its "not found" would prove nothing for document chunks.
func TestCanaryFormsFindBase64(t *testing.T) {
	canary := "CANARY-" + randHex(t, 12)
	for pad := 0; pad < 3; pad++ {
		raw, _ := json.Marshal(struct{ Data []byte }{append(bytes.Repeat([]byte{'x'}, pad), canary...)})
		found := false
		for _, f := range canaryForms(canary) {
			found = found || bytes.Contains(raw, f)
		}
		if !found {
			t.Errorf("offset %d: %s not found in %s", pad, canary, raw)
		}
	}
}

// TestKeysSealOpenDestroy seals under a Comune's key: the value opens
// only for that Comune and place, and not at all once the key is
// destroyed; a new key then serves new values. Without secrets.key
// nothing is sealed.
func TestKeysSealOpenDestroy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sealed, err := e.keys.Seal(ctx, "bari", "doc-1/0", []byte("carta d'identità"))
	if err != nil {
		t.Fatal(err)
	}
	if !e.keys.Sealed(sealed) || bytes.Contains(sealed, []byte("carta")) {
		t.Fatalf("sealed value %q", sealed)
	}
	if got, err := e.keys.Open(ctx, "bari", "doc-1/0", sealed); err != nil || string(got) != "carta d'identità" {
		t.Fatalf("Open: %q %v", got, err)
	}
	if _, err := e.keys.Open(ctx, "bari", "doc-2/0", sealed); err == nil {
		t.Error("a value moved to another place opened")
	}
	if _, err := e.keys.Open(ctx, "lecce", "doc-1/0", sealed); err == nil {
		t.Error("a value opened under another Comune")
	}
	if err := e.keys.DestroyKey(ctx, "bari"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.keys.Open(ctx, "bari", "doc-1/0", sealed); !errors.Is(err, privacy.ErrKeyDestroyed) {
		t.Errorf("Open after destroy: %v, want ErrKeyDestroyed", err)
	}
	again, err := e.keys.Seal(ctx, "bari", "doc-3/0", []byte("nuovo"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.keys.Open(ctx, "bari", "doc-3/0", again); err != nil || string(got) != "nuovo" {
		t.Errorf("new key: %q %v", got, err)
	}
	if _, err := e.keys.Open(ctx, "bari", "doc-1/0", sealed); !errors.Is(err, privacy.ErrKeyDestroyed) {
		t.Errorf("old value under the new key: %v, want ErrKeyDestroyed", err)
	}
	none := privacy.NewKeys(e.node, e.node.DB(), nil, nil)
	if _, err := none.Seal(ctx, "bari", "x", []byte("y")); !errors.Is(err, privacy.ErrNoWrapKey) {
		t.Errorf("Seal without secrets.key: %v", err)
	}
}
