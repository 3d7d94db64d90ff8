package booking

// waitlistSchemaV2 (component booking-waitlist, version 2) rebuilds
// booking_waitlist_email for the count it serves. Joining a waiting list
// counts, in apply on every node, the entries of the citizen's email
// still in line, without regard to case, and those in the service's line
// (waitlistEmailCountQuery: the address is kept as typed). The index
// compared in binary and lacked the service, so SQLite could not use it
// and read every entry of the Comune's waiting lists instead; it is now
// in the count's collation and holds every column the count reads
// (TestWaitlistEmailCountUsesItsIndex). The count is the same either way,
// so nodes that have not run the migration yet run the same statement.
const waitlistSchemaV2 = `
DROP INDEX booking_waitlist_email;
CREATE INDEX booking_waitlist_email ON booking_waitlist (tenant, email COLLATE NOCASE, status, service_id);
`
