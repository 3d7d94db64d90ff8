// Package mail sends the email that Sportello's outbox hands it. A Sender
// takes a finished RFC 5322 message (composed by the booking package) and an
// envelope; two senders live here: SMTP, which submits to the Comune's or
// the operator's mail server (STARTTLS, implicit TLS or plain, with optional
// AUTH PLAIN), and Mailbox, the demo's node-local folder of .eml files that
// the demo page lists and shows, so a newcomer sees the confirmation email
// without a mail server. Parse decodes a message into its text, HTML and
// attachments for that page and for tests.
//
// The package composes no message and knows nothing of bookings or
// tenants. SMTP keeps a few connections open between messages; it tries
// again only when a kept connection fails before the server accepted the
// message's DATA (the server had closed it while idle), never after:
// other retries are the cluster outbox's, with backoff. With a server that
// offers PIPELINING (RFC 2920; Postfix and every common relay do) MAIL
// FROM, RCPT TO and DATA leave in one write and their replies are read
// together: one round trip per message instead of one per command, which
// under load was more of the leader's time than composing the email.
// Subpackage smtptest runs a real SMTP server for tests.
package mail
