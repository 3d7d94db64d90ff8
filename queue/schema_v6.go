package queue

// schemaV6 indexes every ticket that names a booking, cancelled ones
// included. queue_tickets_booking holds only the ticket that still holds
// a place (it is the uniqueness of a check-in), so the erasure of a
// booking (privacy, eraser.eraseBooking), which must also reach the
// cancelled ones, read every ticket the Comune ever had, once per
// booking erased, inside apply: the hourly retention erases up to 200
// bookings a command. A ticket gets an entry here only when it names a
// booking (a check-in), so the index costs nothing to the others.
const schemaV6 = `
CREATE INDEX queue_tickets_code ON queue_tickets (tenant, booking_code) WHERE booking_code <> '';
`
