package queue

// schemaV4 holds the Web Push subscriptions of active tickets: one row
// per ticket and browser (endpoint), at most maxPushPerTicket per ticket.
// The keys are what the deliverer encrypts for; lang is the language of
// the notifications; added is the log index of the subscription's last
// command, so that the oldest can be evicted without a clock. near_sent
// and called_sent play the role they play in queue_notify, per browser.
// Rows go when the ticket closes (pushLine), like queue_notify's.
const schemaV4 = `
CREATE TABLE queue_push (
	tenant      TEXT NOT NULL,
	ticket_id   TEXT NOT NULL,
	endpoint    TEXT NOT NULL,
	p256dh      TEXT NOT NULL,
	auth        TEXT NOT NULL,
	lang        TEXT NOT NULL,
	added       INTEGER NOT NULL,
	near_sent   INTEGER NOT NULL,
	called_sent INTEGER NOT NULL,
	PRIMARY KEY (tenant, ticket_id, endpoint)
) WITHOUT ROWID;
`
