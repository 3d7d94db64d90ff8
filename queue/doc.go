// Package queue holds the virtual queue of each Comune: tickets taken
// "now" by walk-in citizens and check-ins of booked ones, numbered per
// office and day with a letter per service group, their fair ordering
// (order.go, explained in DESIGN.md), call-next and the other operator
// moves, positions and waiting-time estimates. Like every domain package
// it writes only through cluster commands and never imports net/http;
// its API lives in queue/web.
package queue
