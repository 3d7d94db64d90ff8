// Package requests handles citizens' data-protection requests in a
// Comune: the export of everything the Comune's Sportello holds about a
// codice fiscale or an email address (Export, as JSON and as a readable
// page), the citizen's own verification by a one-time link sent to their
// email, and erasure requests, which the Comune administrator approves
// (the erasure itself is privacy.Service.EraseCitizen) or refuses with a
// reason. Requests, decisions and the hashes of the one-time links live
// in the replicated state (component "privacyreq"); apply is
// deterministic and every row starts with the tenant. The package never
// writes another package's tables: it reads them through their own
// read functions (booking.Book.CitizenBookings, queue.Queue.CitizenTickets,
// docs.Store.ListRef, cluster.ReadAudit) and reads the outbox's rows of
// the Comune directly. privacy/requests/web serves the pages.
package requests
