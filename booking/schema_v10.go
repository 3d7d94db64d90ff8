package booking

// schemaV10 keeps only the filed emails in booking_fair_contacts_email,
// the index the per-email cap (FairSettings.MaxActivePerEmail) counts
// with, as the phone index already did with its phones.
//
// booking.create version 4 files an empty email for a service without
// that cap (createLeanContactsVersion). An empty value does not bunch at
// the end of the index: in an index of a WITHOUT ROWID table SQLite
// appends the primary key (tenant, booking_id) to the key, so the
// service's empty emails are ordered by booking ID, which is random, and
// each booking still took a leaf page of its own in this index on every
// node, for a count that never reads an empty value.
//
// The counts (fairCountQuery) name the condition (the value is not
// empty), without which SQLite does not use a partial index: the phone
// count, which never named it, read every contact row of the Comune
// instead (TestSchemaV10FairCountsUseTheirIndexes). With or without the
// migration the statements give the same counts, so nodes that have not
// run it yet (a rolling upgrade) run them too.
const schemaV10 = `
DROP INDEX booking_fair_contacts_email;
CREATE INDEX booking_fair_contacts_email ON booking_fair_contacts (tenant, service_id, email) WHERE email <> '';
`
