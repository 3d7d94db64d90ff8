package web

import (
	"net/http"
	"testing"
)

func TestAPIFallbackAnswersJSON(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, target string
		status         int
		code, allow    string
	}{
		{"GET", "/api/v1/nothing-here", http.StatusNotFound, "not_found", ""},
		{"POST", "/api/v1/offices/x/y", http.StatusNotFound, "not_found", ""},
		{"PUT", "/api/v1/offices", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/api/v1/bookings/BA-7K3Q9P", http.StatusMethodNotAllowed, "method_not_allowed", "DELETE, GET, HEAD"},
		{"GET", "/api/v1/bookings", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := e.do(tc.method, bariHost, tc.target, nil, nil)
			if r.Status != tc.status {
				t.Fatalf("status: got %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			wantAPIError(t, r, tc.status, tc.code)
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow: got %q, want %q", got, tc.allow)
			}
		})
	}
}
