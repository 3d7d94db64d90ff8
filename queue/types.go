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
//	waiting, called → cancelled (the citizen leaves)
type State string

// States.
const (
	Waiting   State = "waiting"
	Called    State = "called"
	Serving   State = "serving"
	Served    State = "served"
	NoShow    State = "no_show"
	Cancelled State = "cancelled"
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
	Booked bool   `json:"booked,omitempty"`
	State  State  `json:"state"`
	Desk   string `json:"desk,omitempty"`
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
}

// Active reports whether the ticket is still in the office (waiting,
// called or being served).
func (t Ticket) Active() bool { return t.State == Waiting || t.State == Called || t.State == Serving }

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
)

// defaultConfig is the configuration of an office never configured.
func defaultConfig(officeID string) OfficeConfig {
	return OfficeConfig{OfficeID: officeID, EarlyCheckIn: DefaultEarlyCheckIn, LateCheckIn: DefaultLateCheckIn, Sample: DefaultSample}
}

// letter returns the group letter of a service in c.
func (c OfficeConfig) letter(serviceID string) string {
	if l, ok := c.Groups[serviceID]; ok && l != "" {
		return l
	}
	return DefaultLetter
}
