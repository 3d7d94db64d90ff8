package main

import (
	"errors"
	"net/http"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Fault injection exists only for tests of network partitions against real
// processes (the chaos test, e2e_chaos_test.go). The hidden flag
// --fault-injection of `serve` and `demo` turns it on (cluster
// Config.FaultInjection); then the admin socket, which only the node's
// user can open (0600), answers PUT /v1/debug/partition with
// {"peers":["node2","node3"]}: from then on the node refuses and closes
// every node-to-node connection with those node IDs, both ways, until a
// request with no peers heals it. Without the flag the route answers 404.
// Never run a node in service with the flag.

// faultInjectionFlag is the hidden flag that enables fault injection. It
// is taken out of the arguments before they are parsed, so that it does
// not show in the usage text.
const faultInjectionFlag = "fault-injection"

// takeFaultInjectionFlag removes --fault-injection (or -fault-injection,
// with =true or =false) from args and reports whether it was set.
func takeFaultInjectionFlag(args []string) ([]string, bool) {
	on := false
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		switch a {
		case "-" + faultInjectionFlag, "--" + faultInjectionFlag, "-" + faultInjectionFlag + "=true", "--" + faultInjectionFlag + "=true":
			on = true
		case "-" + faultInjectionFlag + "=false", "--" + faultInjectionFlag + "=false":
			on = false
		default:
			out = append(out, a)
		}
	}
	return out, on
}

// partitionRequest is the body of PUT /v1/debug/partition, and its answer.
type partitionRequest struct {
	// Peers are the node IDs to cut this node off from; empty heals.
	Peers []string `json:"peers"`
}

// faultRoutes adds the fault injection routes to the admin socket.
func (a *adminServer) faultRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /v1/debug/partition", a.putPartition)
	mux.HandleFunc("GET /v1/debug/partition", a.getPartition)
}

// putPartition answers PUT /v1/debug/partition: it replaces the peers this
// node is cut off from and answers them.
func (a *adminServer) putPartition(w http.ResponseWriter, r *http.Request) {
	if !a.faultsOn(w) {
		return
	}
	var req partitionRequest
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.node.Partition(req.Peers); err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, cluster.ErrNotStarted) || errors.Is(err, cluster.ErrClosed) {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, adminError{adminErrorBody{Code: "invalid", Message: err.Error()}})
		return
	}
	a.log.Warn("fault injection: node partitioned", "peers", req.Peers)
	writeJSON(w, http.StatusOK, partitionRequest{Peers: a.node.Partitioned()})
}

// getPartition answers the peers this node is cut off from.
func (a *adminServer) getPartition(w http.ResponseWriter, r *http.Request) {
	if !a.faultsOn(w) {
		return
	}
	writeJSON(w, http.StatusOK, partitionRequest{Peers: a.node.Partitioned()})
}

// faultsOn answers 404 and returns false when the node runs without
// --fault-injection.
func (a *adminServer) faultsOn(w http.ResponseWriter) bool {
	if a.node.Config().FaultInjection {
		return true
	}
	writeJSON(w, http.StatusNotFound, adminError{adminErrorBody{
		Code: "not_found", Message: "fault injection is off: start the node with --" + faultInjectionFlag + " (tests only)",
	}})
	return false
}
