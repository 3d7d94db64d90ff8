package appio

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func message(cf string) Message {
	return Message{FiscalCode: cf, Subject: "Appuntamento confermato: anagrafe",
		Markdown: strings.Repeat("Il tuo appuntamento è confermato. ", 4), DueDate: time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)}
}

func TestClientAgainstTheFakeServer(t *testing.T) {
	t.Parallel()
	f := NewFakeServer("good")
	t.Cleanup(f.Close)
	f.SetProfile("RSSMRA85T10A562S", true)
	f.SetProfile("MRARSS80A01H501T", false)
	c := &Client{BaseURL: f.BaseURL()}
	ctx := context.Background()
	for _, tc := range []struct {
		name, key, cf string
		want          error
	}{
		{"allowed", "good", "RSSMRA85T10A562S", nil},
		{"not allowed", "good", "MRARSS80A01H501T", ErrNotAllowed},
		{"no profile", "good", "BNCLRA90A41F205X", ErrNoProfile},
		{"wrong key", "bad", "RSSMRA85T10A562S", ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(ctx, tc.key, message(tc.cf))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	msgs := f.Messages()
	if len(msgs) != 1 || msgs[0].DueDate != "2027-03-11T09:00:00.000Z" {
		t.Errorf("messages %+v, want one with its due date", msgs)
	}
	f.Fail429(1)
	if _, err := c.Send(ctx, "good", message("RSSMRA85T10A562S")); !errors.Is(err, ErrRetry) {
		t.Errorf("429: got %v, want ErrRetry", err)
	}
	short := message("RSSMRA85T10A562S")
	short.Markdown = "troppo corto"
	if _, err := c.Send(ctx, "good", short); !errors.Is(err, ErrRefused) {
		t.Errorf("short markdown: got %v, want ErrRefused", err)
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s := Sealer{Key: make([]byte, 32)}
	rand.Read(s.Key)
	sealed, err := s.Seal(rand.Reader, "bari", "cie", "secret-key")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "secret-key") {
		t.Fatal("sealed form holds the key")
	}
	if got, err := s.Open("bari", "cie", sealed); err != nil || got != "secret-key" {
		t.Fatalf("Open: %q %v", got, err)
	}
	if _, err := s.Open("bari", "altro", sealed); err == nil {
		t.Error("a key copied to another service opens")
	}
	if _, err := (Sealer{}).Seal(rand.Reader, "bari", "cie", "k"); !errors.Is(err, ErrNoSealKey) {
		t.Errorf("no key: %v", err)
	}
}
