// Package web is the back-office page of a Comune's host names and their
// certificates: /gestione/domini lists the names the Comune answers on
// (its <id>.<base-domain> subdomain and its own domains, such as
// servizi.comune.bari.it), each with the state of its certificate, and
// lets the Comune's administrator add and remove own domains, explaining
// the DNS record each one needs. Saving goes through the tenant registry
// (a replicated command); the certificates themselves are package certs'
// business, read here only through a StatusFunc.
//
// The package sits with the other web packages: it does not import
// auth/web (the login guard and the session come in Config as an
// interface and a function, as booking/web takes them).
package web
