package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

func testNotice(sender tenant.Sender) booking.Notice {
	start := time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)
	return booking.Notice{
		Kind: booking.NoticeConfirm, Tenant: "bari", TenantName: "Comune di Bari", TimeZone: "Europe/Rome", Sender: sender,
		Booking: booking.Booking{
			ID: "b1", Code: "BA-7K3Q9P", Start: start, End: start.Add(30 * time.Minute), Channel: booking.InPerson,
			Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", Email: "maria.rossi@example.it"}, Status: booking.Active,
		},
		ServiceName: "Cambio di residenza", OfficeName: "Anagrafe", OfficeAddress: "Largo Chiurlia, 27 – 70122 Bari",
		ManageURL: "http://bari.localhost:8080/prenotazioni/BA-7K3Q9P?token=t", CancelBy: start.Add(-24 * time.Hour),
	}
}

func TestEmailDeliverer(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC) }
	tests := []struct {
		name        string
		sender      tenant.Sender
		defaultFrom string
		wantFrom    string
		wantErr     error
	}{
		{"the Comune's sender", tenant.Sender{Name: "Comune di Bari", Address: "noreply@bari.localhost"}, "Sportello <noreply@sportello.localhost>", "noreply@bari.localhost", nil},
		{"the node's default sender", tenant.Sender{}, "Sportello <noreply@sportello.localhost>", "noreply@sportello.localhost", nil},
		{"no sender at all", tenant.Sender{}, "", "", booking.ErrNoSender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			box, err := mailer.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(testNotice(tt.sender))
			deliver := emailDeliverer(box, tt.defaultFrom, now, log)
			err = deliver(context.Background(), cluster.OutboxMessage{ID: "5-0", Tenant: "bari", Kind: booking.OutboxKind, Key: "k", Payload: payload})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("deliver: %v, want %v", err, tt.wantErr)
			}
			list, _ := box.List()
			if tt.wantErr != nil {
				if len(list) != 0 {
					t.Errorf("mailbox has %d messages after a failed delivery, want 0", len(list))
				}
				return
			}
			if len(list) != 1 {
				t.Fatalf("mailbox has %d messages, want 1", len(list))
			}
			if list[0].EnvelopeFrom != tt.wantFrom || !strings.Contains(list[0].From, tt.wantFrom) {
				t.Errorf("from: envelope %q header %q, want %s", list[0].EnvelopeFrom, list[0].From, tt.wantFrom)
			}
			if !strings.Contains(list[0].Subject, "BA-7K3Q9P") {
				t.Errorf("subject %q lacks the booking code", list[0].Subject)
			}
		})
	}
	t.Run("undecodable payload", func(t *testing.T) {
		t.Parallel()
		box, _ := mailer.NewMailbox(filepath.Join(t.TempDir(), "mailbox"))
		err := emailDeliverer(box, "", now, log)(context.Background(), cluster.OutboxMessage{Key: "k", Payload: []byte(`{"kind":`)})
		if err == nil {
			t.Error("deliver of a broken payload succeeded, want an error")
		}
	})
}

func TestLinkify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []segment
	}{
		{"nessun link", []segment{{Text: "nessun link"}}},
		{"Apri http://a.it/x?token=1&y=2.", []segment{{Text: "Apri "}, {Text: "http://a.it/x?token=1&y=2", URL: "http://a.it/x?token=1&y=2"}, {Text: "."}}},
		{"https://a.it\nriga (https://b.it/p)", []segment{{Text: "https://a.it", URL: "https://a.it"}, {Text: "\nriga ("}, {Text: "https://b.it/p", URL: "https://b.it/p"}, {Text: ")"}}},
		{"javascript:alert(1) ftp://x", []segment{{Text: "javascript:alert(1) ftp://x"}}},
	}
	for _, tt := range tests {
		got := linkify(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("linkify(%q) = %+v, want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("linkify(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestDemoSeedDataIsComplete(t *testing.T) {
	t.Parallel()
	offices := demoOffices()
	if len(offices) != 4 {
		t.Fatalf("%d demo offices, want 4", len(offices))
	}
	for _, d := range offices {
		if n := len(d.services); n < 2 || n > 4 {
			t.Errorf("office %q has %d services, want 2 to 4", d.office.Name, n)
		}
		for _, s := range d.services {
			switch {
			case s.Duration < 15*time.Minute || s.Duration > 30*time.Minute:
				t.Errorf("%q lasts %v, want 15 to 30 minutes", s.Name, s.Duration)
			case s.Capacity < 1 || s.Capacity > 3:
				t.Errorf("%q has %d desks, want 1 to 3", s.Name, s.Capacity)
			case s.HorizonDays != 60 || s.CancelDeadline != 24*time.Hour:
				t.Errorf("%q: horizon %d days, cancel deadline %v; want 60 days and 24h", s.Name, s.HorizonDays, s.CancelDeadline)
			case s.Description == "" || len(s.WhatToBring) == 0 || len(s.Channels) == 0:
				t.Errorf("%q lacks a description, what to bring or channels", s.Name)
			}
		}
	}
	if bt := demoTenant(); bt.ISTAT != "072006" || bt.CodePrefix != "BA" || len(bt.PatronDays) != 1 || bt.PatronDays[0].Day != 6 {
		t.Errorf("demo tenant %+v, want ISTAT 072006, prefix BA, San Nicola on 6 December", bt)
	}
}
