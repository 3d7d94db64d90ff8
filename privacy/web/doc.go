// Package web serves the Comune administrator's page of personal-data
// retention, /gestione/comune/privacy-dati: how many days each class of
// personal data is kept, the legal holds on bookings, and the history of
// the erasures.
package web
