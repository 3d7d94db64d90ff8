package booking

// schemaV8 drops booking_bookings_start, the index of a Comune's active
// bookings by start that schema 6 added for the reminder worker's scan.
// Every booking writes each index of booking_bookings, and an index keyed
// by the appointment's time takes each new booking on a leaf page of its
// own when citizens pick slots across the calendar: an insert into it, a
// page in the WAL at the COMMIT and again at the checkpoint, on every
// node (bookings spread over the slots as in BenchmarkCreateSpread, three
// runs each: the FSM's time per booking went from 137 to 122 µs without
// this index). The scan reads few rows a minute, and
// booking_bookings_slot answers it as well, one range per service of the
// Comune (dueRemindersQuery names it). Services are archived, never
// deleted, so every booking's service is listed. The query does not need
// the index, so nodes that have not run this migration yet (a rolling
// upgrade) run the same statement.
const schemaV8 = `
DROP INDEX booking_bookings_start;
`
