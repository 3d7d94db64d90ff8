package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestDebugRoutes checks the profiler pages and the profile-rate switch of
// the admin socket's mux. It changes process-wide profiling rates, so it
// does not run in parallel and turns them off again.
func TestDebugRoutes(t *testing.T) {
	mux := http.NewServeMux()
	debugRoutes(mux)
	t.Cleanup(func() {
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	})
	tests := []struct {
		method, path string
		want         int
		body         string
	}{
		{"PUT", "/v1/debug/profile-rates?block=1&mutex=1", http.StatusNoContent, ""},
		{"PUT", "/v1/debug/profile-rates?block=-1", http.StatusBadRequest, "block and mutex"},
		{"PUT", "/v1/debug/profile-rates?mutex=x", http.StatusBadRequest, "block and mutex"},
		{"GET", "/debug/pprof/", http.StatusOK, "goroutine"},
		{"GET", "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile"},
		{"PUT", "/v1/debug/profile-rates?block=0&mutex=0", http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s: got %d %q, want %d containing %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.want, tt.body)
		}
		if tt.path == "/v1/debug/profile-rates?block=1&mutex=1" {
			if got := runtime.SetMutexProfileFraction(-1); got != 1 {
				t.Errorf("mutex profile fraction: got %d, want 1", got)
			}
		}
	}
}
