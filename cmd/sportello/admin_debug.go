package main

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
)

// debugRoutes adds Go's profiler to the admin socket: the pages of
// net/http/pprof under /debug/pprof/, and PUT /v1/debug/profile-rates,
// which sets the sampling rates of the block and mutex profiles (both off
// by default, as they cost a little on every contended lock). They are on
// the admin socket only, never on the public listener: a profile shows
// request data in memory. The load generator uses them to profile a node
// under load (`loadgen -profile DIR`).
func debugRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("PUT /v1/debug/profile-rates", setProfileRates)
}

// setProfileRates answers PUT /v1/debug/profile-rates?block=N&mutex=M:
// block is runtime.SetBlockProfileRate's rate in nanoseconds (1 records
// every blocking event, 0 turns the profile off), mutex is
// runtime.SetMutexProfileFraction's fraction (1 records every contention,
// 0 turns it off). A missing parameter leaves that rate alone.
func setProfileRates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rate := func(name string) (int, bool, bool) {
		s := q.Get(name)
		if s == "" {
			return 0, false, true
		}
		n, err := strconv.Atoi(s)
		return n, true, err == nil && n >= 0
	}
	block, setBlock, okBlock := rate("block")
	mutex, setMutex, okMutex := rate("mutex")
	if !okBlock || !okMutex {
		writeJSON(w, http.StatusBadRequest, adminError{Error: adminErrorBody{
			Code: "invalid", Message: "block and mutex must be integers of 0 or more",
		}})
		return
	}
	if setBlock {
		runtime.SetBlockProfileRate(block)
	}
	if setMutex {
		runtime.SetMutexProfileFraction(mutex)
	}
	w.WriteHeader(http.StatusNoContent)
}
