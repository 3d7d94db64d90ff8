// Package queue will hold the virtual queue of each Comune: tickets taken
// "now" by walk-in citizens and check-ins of booked ones, their fair
// ordering, call-next for operators, waiting-time estimates and live
// updates. Like every domain package it writes only through cluster
// commands and never imports net/http; its pages and API will live in
// queue/web.
package queue
