package queue

import (
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Channel is how a ticket's citizen is served: at the desk, by video or
// by phone (the waiting room of a remote appointment).
type Channel string

// Channels.
const (
	InPerson Channel = "in_person"
	Video    Channel = "video"
	Phone    Channel = "phone"
)

func (c Channel) valid() bool { return c == InPerson || c == Video || c == Phone }

// State is where a ticket is in its life:
//
//	waiting → called → serving → served
//	             ↘ no_show   (called again by Recall: called → called)
//	called, serving ⇄ parked (Park, and Resume to called)
//	called, serving, parked → waiting (Transfer)
//	parked → served, no_show
//	waiting, called, parked → cancelled (the citizen leaves)
type State string

// States.
const (
	Waiting   State = "waiting"
	Called    State = "called"
	Serving   State = "serving"
	Served    State = "served"
	NoShow    State = "no_show"
	Cancelled State = "cancelled"
	// Parked is a ticket the operator set aside (the citizen fetches a
	// document, say): not in the line, kept by its desk, which resumes it.
	Parked State = "parked"
	// PendingConfirmation is a remote ticket of an office that confirms
	// by email, taken but not yet confirmed: it has no number and is not
	// in the line until the citizen opens the email's link (confirm.go).
	PendingConfirmation State = "pending_confirmation"
)

// Priority is a category that jumps ahead of the line ("" for none).
type Priority string

// Priority categories.
const (
	NoPriority Priority = ""
	Disability Priority = "disability"
	Pregnancy  Priority = "pregnancy"
)

func (p Priority) valid() bool { return p == NoPriority || p == Disability || p == Pregnancy }

// Ticket is one place in an office's line for one Comune-local day.
type Ticket struct {
	ID       string    `json:"id"`
	Tenant   tenant.ID `json:"-"`
	OfficeID string    `json:"office_id"`
	// Day is the Comune-local date the ticket belongs to ("2026-03-09");
	// numbers restart every day.
	Day string `json:"day"`
	// Seq is the ticket's order of arrival in the office's day, across
	// every group letter; it breaks ties in the ordering rule.
	Seq       int      `json:"seq"`
	Number    string   `json:"number"`
	ServiceID string   `json:"service_id,omitempty"`
	Channel   Channel  `json:"channel"`
	Priority  Priority `json:"priority,omitempty"`
	// BookingCode is set when a booked citizen checked in.
	BookingCode string `json:"booking_code,omitempty"`
	// Appointment is the start of the checked-in booking (zero otherwise).
	Appointment time.Time `json:"appointment,omitzero"`
	// Booked is true when the citizen checked in inside the check-in
	// window and so keeps the appointment time; a late check-in has
	// BookingCode but not Booked, and waits in the walk-in line.
	Booked bool  `json:"booked,omitempty"`
	State  State `json:"state"`
	// Desk is the desk that called the ticket (and, while it is parked,
	// the one that parked it and may resume it).
	Desk string `json:"desk,omitempty"`
	// Recalls counts the Recall commands since the ticket was called.
	Recalls int `json:"recalls,omitempty"`
	// Duration is the expected length of one service (the service's
	// appointment length, or DefaultDuration), used by the estimate
	// before the office has served anyone today.
	Duration time.Duration `json:"duration"`
	Taken    time.Time     `json:"taken"`
	Called   time.Time     `json:"called,omitzero"`
	Started  time.Time     `json:"started,omitzero"`
	Done     time.Time     `json:"done,omitzero"`
	// TransferredFrom is the office the ticket was transferred from
	// ("" when never transferred to another office).
	TransferredFrom string `json:"transferred_from,omitempty"`
	// ForDesk, while the ticket waits, is the only desk that may call it
	// (a transfer to one desk).
	ForDesk string `json:"for_desk,omitempty"`
	// Transferred is when the ticket was last transferred back to the
	// line (zero when never): it orders transferred citizens, who have
	// already waited, ahead of walk-ins.
	Transferred time.Time `json:"transferred,omitzero"`
	// ConfirmBy, while the ticket is PendingConfirmation, is when its
	// confirmation link expires.
	ConfirmBy time.Time `json:"confirm_by,omitzero"`
}

// Active reports whether the ticket is still in the office (waiting,
// called, being served or parked).
func (t Ticket) Active() bool {
	return t.State == Waiting || t.State == Called || t.State == Serving || t.State == Parked
}

// OfficeConfig is the queue configuration of one office.
type OfficeConfig struct {
	OfficeID string `json:"office_id"`
	// Groups maps a service ID to its group letter ("A" … "Z"); services
	// not named, and tickets without a service, take DefaultLetter.
	Groups map[string]string `json:"groups,omitempty"`
	// EarlyCheckIn and LateCheckIn bound the check-in window of a booked
	// citizen around the appointment's start.
	EarlyCheckIn time.Duration `json:"early_check_in"`
	LateCheckIn  time.Duration `json:"late_check_in"`
	// Sample is how many of today's last services the estimate averages.
	Sample int `json:"sample"`
	// DailyCap is how many tickets the office gives in a day (0: no cap);
	// tickets an operator adds at the desk do not count.
	DailyCap int `json:"daily_cap"`
	// MaxPerDevice and MaxPerIP bound the active tickets one device (its
	// cookie) and one address hold in the office's day (0: no limit).
	MaxPerDevice int `json:"max_per_device"`
	MaxPerIP     int `json:"max_per_ip"`
	// NotifyAhead is the position at which a citizen who left an email
	// is told that the turn is close ("manca poco"); 0 turns it off.
	NotifyAhead int `json:"notify_ahead"`
	// ProofOfWork is the difficulty in bits of the proof a web or API
	// client computes before taking a ticket (0: off, at most 24).
	ProofOfWork int `json:"proof_of_work"`
	// StopBefore stops taking tickets this long before the office closes,
	// so that the last citizen can still be served.
	StopBefore time.Duration `json:"stop_before"`
	// AlwaysOpen takes tickets at any hour, ignoring the office's hours
	// and closures.
	AlwaysOpen bool `json:"always_open"`
	// ConfirmEmail asks remote tickets (web page and API, not check-ins
	// nor the kiosk) for an email address and files them only when the
	// citizen opens the link sent there within ConfirmWithin (confirm.go).
	ConfirmEmail  bool          `json:"confirm_email,omitempty"`
	ConfirmWithin time.Duration `json:"confirm_within,omitempty"`
	// KioskOnly makes the kiosk page refuse browsers that are not an
	// enrolled kiosk of the office (kiosk.go).
	KioskOnly bool `json:"kiosk_only,omitempty"`
}

// Defaults of an office that was never configured.
const (
	DefaultLetter       = "A"
	DefaultEarlyCheckIn = 15 * time.Minute
	DefaultLateCheckIn  = 10 * time.Minute
	DefaultSample       = 10
	// DefaultDuration is the expected service length of a ticket without
	// a service.
	DefaultDuration = 10 * time.Minute
	// Admission and notification defaults (admit.go, notify.go).
	DefaultMaxPerDevice = 2
	DefaultMaxPerIP     = 20
	DefaultNotifyAhead  = 3
	DefaultStopBefore   = 15 * time.Minute
	// DefaultConfirmWithin is how long a confirmation link is valid.
	DefaultConfirmWithin = 15 * time.Minute
)

// defaultConfig is the configuration of an office never configured.
func defaultConfig(officeID string) OfficeConfig {
	return OfficeConfig{
		OfficeID: officeID, EarlyCheckIn: DefaultEarlyCheckIn, LateCheckIn: DefaultLateCheckIn, Sample: DefaultSample,
		MaxPerDevice: DefaultMaxPerDevice, MaxPerIP: DefaultMaxPerIP, NotifyAhead: DefaultNotifyAhead, StopBefore: DefaultStopBefore,
		ConfirmWithin: DefaultConfirmWithin,
	}
}

// letter returns the group letter of a service in c.
func (c OfficeConfig) letter(serviceID string) string {
	if l, ok := c.Groups[serviceID]; ok && l != "" {
		return l
	}
	return DefaultLetter
}
