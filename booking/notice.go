package booking

import (
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// OutboxKind is the cluster.OutboxItem kind of the emails booking queues;
// the outbox worker hands their payload (a JSON Notice) to ComposeEmail.
const OutboxKind = "email"

// NoticeKind says which change a notice tells the citizen of.
type NoticeKind string

// The notices of a booking's life.
const (
	NoticeConfirm NoticeKind = "confirm"
	NoticeMove    NoticeKind = "move"
	NoticeCancel  NoticeKind = "cancel"
	// NoticeReminder reminds of an appointment before it (reminders.go).
	NoticeReminder NoticeKind = "reminder"
)

// Notice is everything an email to a citizen about a booking says, frozen
// when the change is applied: it is the payload of the outbox item, so the
// message sent later (or again, after a failure) tells what was true then,
// whatever changes afterwards. It is built inside apply from the command and
// the transaction only, so every node queues the same bytes.
type Notice struct {
	Kind NoticeKind `json:"kind"`
	// Tenant, TenantName, TimeZone and Sender are the Comune's.
	Tenant     tenant.ID     `json:"tenant"`
	TenantName string        `json:"tenant_name"`
	TimeZone   string        `json:"time_zone"`
	Sender     tenant.Sender `json:"sender"`
	// Booking is the booking after the change, without the codice fiscale
	// (the email does not need it).
	Booking       Booking  `json:"booking"`
	ServiceName   string   `json:"service_name"`
	OfficeName    string   `json:"office_name"`
	OfficeAddress string   `json:"office_address"`
	OfficePhone   string   `json:"office_phone,omitempty"`
	OfficeEmail   string   `json:"office_email,omitempty"`
	WhatToBring   []string `json:"what_to_bring,omitempty"`
	// ManageURL opens the citizen's manage page (empty once cancelled).
	ManageURL string `json:"manage_url,omitempty"`
	// JoinURL opens the call of a video or phone booking.
	JoinURL string `json:"join_url,omitempty"`
	// BookURL is the Comune's site, where a new booking can be made.
	BookURL string `json:"book_url,omitempty"`
	// CancelBy is the last instant at which the citizen may cancel or move.
	CancelBy time.Time `json:"cancel_by,omitzero"`
	// ConfirmURL, ConfirmFrom and ConfirmBy ask the citizen to confirm
	// the appointment in that window (confirm-to-keep, fair_confirm.go);
	// empty when the service does not ask it.
	ConfirmURL  string    `json:"confirm_url,omitempty"`
	ConfirmFrom time.Time `json:"confirm_from,omitzero"`
	ConfirmBy   time.Time `json:"confirm_by,omitzero"`
	// PreviousStart and PreviousEnd are the old time of a moved booking.
	PreviousStart time.Time `json:"previous_start,omitzero"`
	PreviousEnd   time.Time `json:"previous_end,omitzero"`
	// Sequence is the booking's Sequence: the ICS SEQUENCE, and part of
	// the Message-ID.
	Sequence int `json:"sequence"`
	// Reason is why the office cancelled the booking (a cancellation
	// notice only); empty when the citizen cancelled it.
	Reason string `json:"reason,omitempty"`
	// Before is how long before the appointment a reminder is sent (a
	// reminder notice only): with the booking and Sequence it names the
	// reminder.
	Before time.Duration `json:"before,omitempty"`
}

// newNotice builds the notice of a change of b. manageURL is empty for a
// cancellation.
func newNotice(kind NoticeKind, t tenant.Tenant, b Booking, svc Service, o Office, baseURL, manageURL string) Notice {
	base := trimBase(baseURL)
	n := Notice{
		Kind: kind, Tenant: t.ID, TenantName: t.Name, TimeZone: t.TimeZone, Sender: t.Sender,
		Booking: b, ServiceName: svc.Name, OfficeName: o.Name, OfficeAddress: o.Address,
		OfficePhone: o.Phone, OfficeEmail: o.Email, WhatToBring: svc.WhatToBring,
		ManageURL: manageURL, Sequence: b.Sequence,
	}
	if base != "" {
		n.BookURL = base + "/"
	}
	n.Booking.Citizen.FiscalCode = ""
	n.Booking.JoinToken = ""
	// Italian is written as no language, so that the notice of an
	// Italian booking is the same bytes a node without languages queues
	// for the same command: during a rolling upgrade both apply it.
	if NormalizeLang(b.Lang) == LangIT {
		n.Booking.Lang = ""
	}
	if b.JoinToken != "" && (b.Channel == Video || b.Channel == Phone) && kind != NoticeCancel {
		n.JoinURL = base + JoinPath(b.Code, b.JoinToken)
	}
	if kind != NoticeCancel {
		n.CancelBy = b.Start.Add(-svc.CancelDeadline).UTC()
	}
	return n
}

// location returns the Comune's zone for rendering the notice's times.
func (n Notice) location() *time.Location {
	return tenant.Tenant{TimeZone: n.TimeZone}.Location()
}

// fairNoticeWith is fairNotice with the service's fair-access settings
// already read (booking.create reads them with its configuration, in one
// query): it adds the confirm-to-keep window to n when the service asks
// for it, without a query of its own.
func fairNoticeWith(n *Notice, s FairSettings, manageURL string) {
	if manageURL == "" {
		return
	}
	if c := confirmationOf(s, n.Booking, false); c.Required {
		n.ConfirmURL, n.ConfirmFrom, n.ConfirmBy = confirmURLOf(manageURL), c.Opens.UTC(), c.Deadline.UTC()
	}
}
