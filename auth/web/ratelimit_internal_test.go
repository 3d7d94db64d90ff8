package web

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestWindowLimiter(t *testing.T) {
	t.Parallel()
	l := newWindowLimiter(LoginLimit{PerClient: 2, PerNode: 3})
	now := time.Date(2026, 11, 26, 9, 0, 10, 0, time.UTC)
	steps := []struct {
		client string
		at     time.Duration
		want   bool
	}{
		{"a", 0, true},
		{"a", time.Second, true},
		{"a", 2 * time.Second, false}, // per client
		{"b", 3 * time.Second, true},
		{"c", 4 * time.Second, false}, // per node
		{"a", time.Minute, true},      // a new window
	}
	for i, s := range steps {
		if got := l.allow(s.client, now.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s at +%s): got %v, want %v", i, s.client, s.at, got, s.want)
		}
	}
	off := newWindowLimiter(LoginLimit{PerClient: -1, PerNode: -1})
	for i := range 100 {
		if !off.allow("a", now) {
			t.Fatalf("disabled limiter refused login %d", i)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.7:4711", "", false, "192.0.2.7"},
		{"192.0.2.7:4711", "203.0.113.9", false, "192.0.2.7"},
		{"192.0.2.7:4711", "198.51.100.1, 203.0.113.9", true, "203.0.113.9"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", false, "2001:db8:1:2::"},
	}
	for _, tt := range tests {
		h := &Handler{trustProxy: tt.trust}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := h.clientKey(r); got != tt.want {
			t.Errorf("clientKey(%s, %q, trust=%v) = %q, want %q", tt.remote, tt.xff, tt.trust, got, tt.want)
		}
	}
}
