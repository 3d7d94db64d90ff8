package booking

import (
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Channel is how a booked appointment takes place.
type Channel string

// The channels a service may offer.
const (
	InPerson Channel = "in_person"
	Video    Channel = "video"
	Phone    Channel = "phone"
)

// Office is a public counter of a Comune: URP, Anagrafe, ...
type Office struct {
	ID      string    `json:"id"`
	Tenant  tenant.ID `json:"-"`
	Name    string    `json:"name"`
	Address string    `json:"address"`
	Phone   string    `json:"phone,omitempty"`
	Email   string    `json:"email,omitempty"`
	// Hours are the office's weekly opening hours, which its services
	// inherit unless they have hours of their own.
	Hours    Week      `json:"hours"`
	Services []Service `json:"services,omitempty"`
}

// Service is something a citizen books at an office: "Rilascio carta
// d'identità elettronica".
type Service struct {
	ID          string    `json:"id"`
	Tenant      tenant.ID `json:"-"`
	OfficeID    string    `json:"office_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	// Category is one of the Designers Italia service categories.
	Category string `json:"category,omitempty"`
	// WhatToBring lists the documents the citizen must bring or show.
	WhatToBring []string `json:"what_to_bring,omitempty"`
	// Duration is the length of one appointment; slots are cut at this step.
	Duration time.Duration `json:"duration"`
	Channels []Channel     `json:"channels"`
	// Capacity is the number of desks serving the service in parallel: how
	// many bookings one slot holds.
	Capacity int `json:"capacity"`
	// MinNotice is the least time between booking and appointment.
	MinNotice time.Duration `json:"min_notice"`
	// HorizonDays is how many days ahead slots are offered.
	HorizonDays int `json:"horizon_days"`
	// CancelDeadline is the least time before the appointment at which the
	// citizen may still cancel or move it.
	CancelDeadline time.Duration `json:"cancel_deadline"`
	// MaxActivePerCitizen caps active bookings per codice fiscale for this
	// service; 0 means no cap. Default 1.
	MaxActivePerCitizen int `json:"max_active_per_citizen"`
	// Hours, when set, replace the office's hours for this service.
	Hours Week `json:"hours,omitempty"`
}

// Week holds opening intervals per weekday (index time.Sunday..Saturday).
type Week [7][]Interval

// Interval is an opening interval of one day in wall-clock minutes from
// midnight, [Start, End).
type Interval struct {
	Start int `json:"start"` // minutes from midnight, 8:30 → 510
	End   int `json:"end"`
}

// Closure closes an office (or, with OfficeID "", every office) on the days
// From..To inclusive.
type Closure struct {
	ID       string     `json:"id"`
	OfficeID string     `json:"office_id,omitempty"`
	From     civil.Date `json:"from"`
	To       civil.Date `json:"to"`
	Reason   string     `json:"reason"`
}

// Opening is an extra opening of an office on a day it would be closed, or
// with other hours.
type Opening struct {
	ID        string     `json:"id"`
	OfficeID  string     `json:"office_id"`
	Date      civil.Date `json:"date"`
	Intervals []Interval `json:"intervals"`
	Reason    string     `json:"reason"`
}

// Slot is a bookable time of a service.
type Slot struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Remaining int       `json:"remaining"`
}

// Citizen is the person who books.
type Citizen struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	FiscalCode string `json:"fiscal_code"`
	Email      string `json:"email"`
	Phone      string `json:"phone,omitempty"`
}

// Status is a booking's state: active → cancelled (or moved, staying active).
type Status string

// Booking statuses.
const (
	Active    Status = "active"
	Cancelled Status = "cancelled"
)

// Booking is an appointment of a citizen.
type Booking struct {
	ID        string    `json:"id"`
	Tenant    tenant.ID `json:"-"`
	Code      string    `json:"code"`
	ServiceID string    `json:"service_id"`
	OfficeID  string    `json:"office_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Channel   Channel   `json:"channel"`
	Citizen   Citizen   `json:"citizen"`
	Details   string    `json:"details,omitempty"`
	Status    Status    `json:"status"`
	// JoinToken opens the call of a video or phone booking.
	JoinToken string `json:"-"`
	// Sequence counts changes (moves, cancellation); it is the ICS SEQUENCE.
	Sequence int       `json:"sequence"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// Lang is the language of the citizen's emails, calendar file and
	// reminders: "it", "en" or "de" (lang.go).
	Lang string `json:"lang,omitempty"`
}

// Request is what a citizen submits to book.
type Request struct {
	ServiceID       string
	Start           time.Time
	Channel         Channel
	Citizen         Citizen
	Details         string
	PrivacyAccepted bool
	// Lang is the language the citizen booked in; CheckRequest makes it
	// "it" when empty or not one of Languages.
	Lang string
	// Admission is what the web layer checked for fair access (proof of
	// work, network hash; fair.go); the zero value is none.
	Admission Admission
}

// Created is the outcome of a successful booking: the booking, the secret
// manage token (shown once, stored only hashed) and the log index to wait
// for on reads.
type Created struct {
	Booking     Booking
	ManageToken string
	Index       uint64
}
