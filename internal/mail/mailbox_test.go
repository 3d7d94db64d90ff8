package mail_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/mail"
)

func TestMailboxStoresListsAndShows(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mailbox")
	mb, err := mail.NewMailbox(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	subjects := []string{"Conferma prenotazione BA-1", "Annullamento prenotazione BA-1"}
	for _, s := range subjects {
		if err := mb.Send(ctx, "Comune di Bari <noreply@bari.localhost>", []string{"maria.rossi@example.it"}, composeTest(t, s)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	list, err := mb.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List has %d entries, want 2", len(list))
	}
	// Newest first.
	if list[0].Subject != subjects[1] || list[1].Subject != subjects[0] {
		t.Errorf("subjects = %q, %q; want newest first %q, %q", list[0].Subject, list[1].Subject, subjects[1], subjects[0])
	}
	e := list[0]
	if e.EnvelopeFrom != "noreply@bari.localhost" || len(e.EnvelopeTo) != 1 || e.EnvelopeTo[0] != "maria.rossi@example.it" {
		t.Errorf("envelope = %q → %v, want noreply@bari.localhost → [maria.rossi@example.it]", e.EnvelopeFrom, e.EnvelopeTo)
	}
	if e.To != "maria.rossi@example.it" || e.Received.IsZero() || e.Size == 0 {
		t.Errorf("entry = %+v, want To, Received and Size set", e)
	}

	got, err := mb.Get(e.ID)
	if err != nil {
		t.Fatalf("Get(%s): %v", e.ID, err)
	}
	checkParsed(t, got.Raw, subjects[1])
	if got.Message.Text != testText {
		t.Errorf("Get: text = %q, want %q", got.Message.Text, testText)
	}

	// Files are plain .eml files a mail client can open.
	if _, err := os.Stat(filepath.Join(dir, e.ID+".eml")); err != nil {
		t.Errorf("stat %s.eml: %v", e.ID, err)
	}
	// A reopened mailbox sees the same messages.
	mb2, _ := mail.NewMailbox(dir)
	if l2, _ := mb2.List(); len(l2) != 2 {
		t.Errorf("reopened mailbox lists %d, want 2", len(l2))
	}
}

func TestMailboxGetRefusesUnknownAndCraftedIDs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mb, _ := mail.NewMailbox(filepath.Join(dir, "mailbox"))
	os.WriteFile(filepath.Join(dir, "secret.eml"), []byte("Subject: x\r\n\r\nx"), 0o600)
	for _, id := range []string{"", "../secret", "20270101T000000.000000000-00000000", "nope", "20270101T000000.000000000-0000000g"} {
		if _, err := mb.Get(id); !errors.Is(err, mail.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestMailboxConcurrentSends(t *testing.T) {
	t.Parallel()
	mb, _ := mail.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- mb.Send(context.Background(), "a@b.it", []string{"c@d.it"}, fmt.Appendf(nil, "Subject: %d\r\n\r\nbody\r\n", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	list, _ := mb.List()
	if len(list) != n {
		t.Errorf("List has %d entries, want %d", len(list), n)
	}
}

func TestMailboxRefusesNonMessages(t *testing.T) {
	t.Parallel()
	mb, _ := mail.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
	if err := mb.Send(context.Background(), "a@b.it", []string{"c@d.it"}, []byte("no header end")); err == nil {
		t.Error("Send of a non-message succeeded, want an error")
	}
	if err := mb.Send(context.Background(), "a@b.it", nil, []byte("Subject: x\r\n\r\n")); !errors.Is(err, mail.ErrNoRecipients) {
		t.Errorf("got %v, want ErrNoRecipients", err)
	}
}
