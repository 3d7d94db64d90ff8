// Package privacy keeps each Comune's personal data only as long as its
// retention policy allows, and erases what a citizen asks to have erased.
//
// Every erasure is a replicated command ("privacy.erase"): the proposer
// stamps the cut-off times and the subject, and apply deletes or
// pseudonymises the same rows on every node at the same log index. After
// an erasure the node compacts what still holds the old bytes (WAL, Raft
// log, snapshots): see DESIGN.md for what remains and for how long.
package privacy

import (
	"time"
)

// Class is one kind of personal data a Comune holds, with its own
// retention period.
type Class string

// The data classes. Their names are stored in the policy table and shown
// on the back office page, so they never change.
const (
	// ClassBookings is the personal data of bookings (name, codice
	// fiscale, email, phone, notes) and their emails in the outbox; the
	// statistics columns (service, office, time, outcome) stay.
	ClassBookings Class = "bookings"
	// ClassTickets is the queue tickets with their contacts and push
	// subscriptions.
	ClassTickets Class = "tickets"
	// ClassCalls is the metadata of video calls (rooms, invitations).
	ClassCalls Class = "calls"
	// ClassDocuments is the documents exchanged in calls.
	ClassDocuments Class = "documents"
	// ClassChat is the chat of calls; the SFU keeps it in memory only, so
	// its retention is informative (nothing is written to disk).
	ClassChat Class = "chat"
	// ClassAudit is the audit log of the back office and of the cluster.
	ClassAudit Class = "audit"
)

// Classes lists every class in the order the back office shows them.
func Classes() []Class {
	return []Class{ClassBookings, ClassTickets, ClassCalls, ClassDocuments, ClassChat, ClassAudit}
}

// Bounds of a retention period in days.
const (
	MinDays = 1
	MaxDays = 3650
)

// Policy is a Comune's retention: for each class, how many days after
// the record's end (appointment, ticket's day, call, upload, audit event)
// its personal data is erased. A class missing from Days takes its
// default.
type Policy struct {
	Days map[Class]int `json:"days"`
}

// DefaultPolicy returns the minimising defaults: booking personal data 90
// days after the appointment, tickets 30 days, call metadata 30 days,
// documents 30 days (the Comune's document period in the tenant settings
// wins when set), chat 1 day, audit log 365 days.
func DefaultPolicy() Policy {
	return Policy{Days: map[Class]int{
		ClassBookings:  90,
		ClassTickets:   30,
		ClassCalls:     30,
		ClassDocuments: 30,
		ClassChat:      1,
		ClassAudit:     365,
	}}
}

// DaysOf returns the retention of c in days, the default when p does not
// set it.
func (p Policy) DaysOf(c Class) int {
	if d, ok := p.Days[c]; ok && d > 0 {
		return d
	}
	return DefaultPolicy().Days[c]
}

// Subject names the citizen whose data is erased: a codice fiscale, an
// email address or both. Comparisons ignore case and surrounding spaces.
type Subject struct {
	FiscalCode string `json:"fiscal_code,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Report says what one erasure did: how many records of each class were
// erased or pseudonymised, at which log index and with which cut-off.
type Report struct {
	Index  uint64        `json:"index"`
	At     time.Time     `json:"at"`
	Counts map[Class]int `json:"counts"`
}

// Total is the number of records the erasure touched.
func (r Report) Total() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}
