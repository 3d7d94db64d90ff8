// Package smtptest runs a real SMTP server (emersion/go-smtp) on
// 127.0.0.1 for tests: it accepts every message, records its envelope and
// raw bytes, and lets the test wait for the n-th message. Options add AUTH
// PLAIN, STARTTLS or implicit TLS (with a certificate made at start), and
// refusing the next messages to exercise retries. It is test support and
// is imported only by tests.
package smtptest
