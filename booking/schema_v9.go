package booking

// schemaV9 keeps booking_bookings_citizen, the index the per-citizen cap
// (Service.MaxActivePerCitizen) counts a codice fiscale's active bookings
// with, to the bookings of services that have that cap. The index is
// keyed by the fiscal code, as random as the booking codes, so each
// booking took a leaf page of its own in it on every node (written to the
// WAL at the commit and again at the checkpoint), for a count most
// services never make.
//
//   - booking_bookings.capped is 1 for a booking of a service with the
//     cap: booking.create sets it (insertBooking), and booking.service.save
//     sets it on the service's active bookings still to come when the cap
//     is turned on (markCapped), so every booking the cap counts has it.
//     A cap turned off leaves it: the index holds a few rows more.
//   - the index is rebuilt as partial on it; the counts name the
//     condition (capped = 1), without which SQLite does not use a
//     partial index, and fall back to the statements without it until
//     this migration has run (createSettingsQuery, readSlotCounts).
const schemaV9 = `
ALTER TABLE booking_bookings ADD COLUMN capped INTEGER NOT NULL DEFAULT 0;
UPDATE booking_bookings SET capped = 1 WHERE status = 'active' AND EXISTS (
	SELECT 1 FROM booking_services s
	WHERE s.tenant = booking_bookings.tenant AND s.id = booking_bookings.service_id AND s.max_active > 0);
DROP INDEX booking_bookings_citizen;
CREATE INDEX booking_bookings_citizen ON booking_bookings (tenant, service_id, fiscal_code, start_unix)
	WHERE status = 'active' AND capped = 1;
`
