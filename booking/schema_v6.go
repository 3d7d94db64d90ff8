package booking

// schemaV6 adds the booking's language and what its reminders need
// (reminders.go):
//
//   - booking_bookings.lang, the language of the citizen's messages;
//     every booking made before is Italian.
//   - booking_bookings_start lists a Comune's active bookings by start,
//     for the reminder worker's scan (tenant first, as every index).
//   - booking_reminder_settings holds each Comune's reminder offsets, in
//     seconds before the appointment, as a JSON array; no row means the
//     default (24 h and 2 h), "[]" means no reminders.
//   - booking_reminders_sent records each reminder queued, per booking,
//     Sequence and offset: the primary key is what makes a reminder
//     queued once. A move increments Sequence, so the moved booking's
//     reminders are new ones.
//   - booking_reminder_links keeps the Comune's base URL and the manage
//     link of an active booking until its appointment, for the
//     reminders (the token is stored nowhere else; DESIGN.md,
//     "Reminders").
//   - booking_push holds the browsers a citizen allowed on the booking's
//     page, at most maxPushPerBooking; added is the log index of the
//     subscription, so the oldest is evicted without a clock.
const schemaV6 = `
ALTER TABLE booking_bookings ADD COLUMN lang TEXT NOT NULL DEFAULT 'it';
CREATE INDEX booking_bookings_start ON booking_bookings (tenant, start_unix) WHERE status = 'active';

CREATE TABLE booking_reminder_settings (
	tenant  TEXT NOT NULL PRIMARY KEY,
	offsets TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE booking_reminders_sent (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	sequence   INTEGER NOT NULL,
	offset_s   INTEGER NOT NULL,
	sent_unix  INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id, sequence, offset_s)
) WITHOUT ROWID;

CREATE TABLE booking_reminder_links (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	base_url   TEXT NOT NULL,
	manage_url TEXT NOT NULL,
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;

CREATE TABLE booking_push (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	endpoint   TEXT NOT NULL,
	p256dh     TEXT NOT NULL,
	auth       TEXT NOT NULL,
	added      INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id, endpoint)
) WITHOUT ROWID;
`
