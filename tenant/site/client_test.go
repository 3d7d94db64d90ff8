package site

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestClientIPAndOrigin(t *testing.T) {
	cases := []struct {
		name       string
		remote     string
		xff        []string
		xfp        string
		tls, trust bool
		ip, origin string
	}{
		{"peer", "192.0.2.1:5000", nil, "", false, false, "192.0.2.1", "http://bari.example.it"},
		{"headers ignored when not trusted", "192.0.2.1:5000", []string{"198.51.100.9"}, "https", false, false, "192.0.2.1", "http://bari.example.it"},
		{"last entry of the last header", "10.0.0.2:5000", []string{"203.0.113.5", "198.51.100.1, 198.51.100.9"}, "https", false, true, "198.51.100.9", "https://bari.example.it"},
		{"not an address: the peer", "10.0.0.2:5000", []string{"unknown"}, "", false, true, "10.0.0.2", "http://bari.example.it"},
		{"TLS", "[2001:db8::1]:443", nil, "", true, false, "2001:db8::1", "https://bari.example.it"},
		{"odd scheme ignored", "10.0.0.2:5000", nil, "gopher", true, true, "10.0.0.2", "https://bari.example.it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://bari.example.it/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.xfp != "" {
				r.Header.Set("X-Forwarded-Proto", c.xfp)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := ClientIP(r, c.trust); got != c.ip {
				t.Errorf("ClientIP: got %q, want %q", got, c.ip)
			}
			if got := Origin(r, c.trust); got != c.origin {
				t.Errorf("Origin: got %q, want %q", got, c.origin)
			}
		})
	}
}
