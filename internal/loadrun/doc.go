// Package loadrun is the load loop shared by the load generator
// (cmd/loadgen, over HTTP) and the node's direct-to-store measurement
// (the admin socket's POST /v1/debug/store-load, Book.Create in process):
// c workers call an operation back to back for a duration, after a warm-up
// round, and the latencies of the successes and the count of each failure
// kind are collected. It also makes the distinct, valid fiscal codes of
// the fictitious citizens who book.
package loadrun
