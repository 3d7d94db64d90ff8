// Package booking is the appointment book of each Comune: offices,
// services, weekly hours, closures and extra openings, the slots computed
// from them, bookings with their rules (capacity, one active booking per
// citizen, notice, horizon, cancellation deadline), and the contents of the
// notifications sent to citizens (email with an ICS calendar file). Writes
// are cluster commands whose invariants are checked inside apply. Citizen
// pages and the /api/v1 handlers live in booking/web.
package booking
