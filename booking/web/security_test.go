package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
)

// TestCrossSiteRejected checks that every state-changing route refuses a
// browser request sent from another site, including another Comune's
// subdomain, while same-origin and non-browser requests pass.
func TestCrossSiteRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bari
	bk := e.create(t, b, b.Remote, slot(4, 10, 0), booking.InPerson, citizen(1))
	code, token := bk.Booking.Code, bk.ManageToken

	posts := []struct {
		method, target, ctype, body string
		api                         bool
	}{
		{"POST", "/prenota", "application/x-www-form-urlencoded", url.Values{"passo": {"1"}, "vai": {"2"}, "servizio": {b.InPerson.ID}}.Encode(), false},
		{"POST", "/prenotazioni", "application/x-www-form-urlencoded", flowState(b.InPerson, slot(5, 10, 0)).Encode(), false},
		{"POST", "/prenotazioni/" + code + "/annulla", "application/x-www-form-urlencoded", url.Values{"token": {token}}.Encode(), false},
		{"POST", "/prenotazioni/" + code + "/sposta", "application/x-www-form-urlencoded", url.Values{"token": {token}, "inizio": {slot(5, 11, 0).Format(time.RFC3339)}}.Encode(), false},
		{"POST", "/api/v1/bookings", "application/json", bookingJSON(b.InPerson.ID, slot(5, 10, 0), "in_person", citizen(2)), true},
		{"DELETE", "/api/v1/bookings/" + code + "?token=" + url.QueryEscape(token), "", "", true},
		{"POST", "/api/v1/bookings/" + code + "/move?token=" + url.QueryEscape(token), "application/json", `{"start":"2027-03-05T11:00:00+01:00"}`, true},
	}
	attacks := []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://" + lecceHost},
		{"Origin": "https://evil.example"},
		{"Origin": "http://" + lecceHost},
	}
	for _, p := range posts {
		for _, h := range attacks {
			t.Run(fmt.Sprintf("%s %s %v", p.method, p.target, h), func(t *testing.T) {
				hdr := map[string]string{"Content-Type": p.ctype}
				for k, v := range h {
					hdr[k] = v
				}
				var r response
				if p.body != "" {
					r = e.do(p.method, bariHost, p.target, strings.NewReader(p.body), hdr)
				} else {
					r = e.do(p.method, bariHost, p.target, nil, hdr)
				}
				if r.Status != http.StatusForbidden {
					t.Fatalf("got %d, want 403\n%s", r.Status, r.Body)
				}
				if p.api {
					wantAPIError(t, r, http.StatusForbidden, "cross_site")
				} else {
					wantText(t, r.Body, "altro sito")
				}
			})
		}
	}
	got, err := e.book.Get(context.Background(), "bari", code, token)
	if err != nil || got.Status != booking.Active || !got.Start.Equal(slot(4, 10, 0)) {
		t.Errorf("booking changed by cross-site requests: %+v, %v", got, err)
	}
	all, _ := e.book.Bookings(context.Background(), "bari", "", slot(1, 0, 0), slot(31, 0, 0))
	if len(all) != 1 {
		t.Errorf("bari has %d bookings after cross-site requests, want 1", len(all))
	}

	// Same-origin browsers and clients without the headers pass.
	r := e.do("POST", bariHost, "/api/v1/bookings", strings.NewReader(bookingJSON(b.InPerson.ID, slot(5, 10, 0), "in_person", citizen(3))),
		map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": "http://" + bariHost})
	wantStatus(t, r, http.StatusCreated)
	r = e.postJSON(bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(5, 10, 30), "in_person", citizen(4)), nil)
	wantStatus(t, r, http.StatusCreated)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := strings.Repeat("x", 2000)
	body := strings.Replace(bookingJSON(e.bari.InPerson.ID, slot(2, 10, 0), "in_person", citizen(1)), `"details":""`, `"details":"`+big+`"`, 1)
	r := e.postJSON(bariHost, "/api/v1/bookings", body, nil)
	wantAPIError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")

	r = e.postJSON(bariHost, "/api/v1/bookings/BA-ZZZZZZ/move", `{"start":"`+big+`"}`, map[string]string{"Authorization": "Bearer x"})
	wantAPIError(t, r, http.StatusRequestEntityTooLarge, "payload_too_large")

	for _, target := range []string{"/prenota", "/prenotazioni"} {
		r = e.postForm(bariHost, target, with(flowState(e.bari.InPerson, slot(2, 10, 0)), "dettagli", big))
		wantStatus(t, r, http.StatusRequestEntityTooLarge)
		wantText(t, r.Body, "La richiesta è troppo grande")
	}
	all, _ := e.book.Bookings(context.Background(), "bari", "", slot(1, 0, 0), slot(31, 0, 0))
	if len(all) != 0 {
		t.Errorf("bookings after oversized requests: got %d, want 0", len(all))
	}
	// Within the cap all is well.
	r = e.postJSON(bariHost, "/api/v1/bookings", bookingJSON(e.bari.InPerson.ID, slot(2, 10, 0), "in_person", citizen(1)), nil)
	wantStatus(t, r, http.StatusCreated)
}

// TestRateLimit checks that pages and API share one bucket per client
// address.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RateLimit = RateLimit{PerMinute: 2, Burst: 2} })
	b := e.bari
	r := e.postJSON(bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(2, 10, 0), "in_person", citizen(1)), nil)
	wantStatus(t, r, http.StatusCreated)
	r = e.postForm(bariHost, "/prenotazioni", flowState(b.InPerson, slot(2, 10, 30)))
	wantStatus(t, r, http.StatusSeeOther)
	r = e.postJSON(bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(2, 11, 0), "in_person", citizen(2)), nil)
	wantAPIError(t, r, http.StatusTooManyRequests, "rate_limited")
	if got := r.Header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After: got %q, want 30", got)
	}
	// lecce's host shares the address's bucket: the limit is per client.
	r = e.postJSON(lecceHost, "/api/v1/bookings", bookingJSON(e.lecce.InPerson.ID, slot(2, 11, 0), "in_person", citizen(2)), nil)
	wantAPIError(t, r, http.StatusTooManyRequests, "rate_limited")

	// Another address has its own bucket.
	req := func(addr string, header map[string]string) response {
		hdr := map[string]string{"Content-Type": "application/json"}
		for k, v := range header {
			hdr[k] = v
		}
		rec := e.doFrom(addr, "POST", bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(2, 11, 0), "in_person", citizen(3)), hdr)
		return rec
	}
	if r := req("198.51.100.7:5555", nil); r.Status != http.StatusCreated {
		t.Errorf("other address: got %d, want 201: %s", r.Status, r.Body)
	}
	// Without TrustProxyHeaders, X-Forwarded-For is ignored.
	if r := req("192.0.2.10:1", map[string]string{"X-Forwarded-For": "203.0.113.9"}); r.Status != http.StatusTooManyRequests {
		t.Errorf("spoofed X-Forwarded-For: got %d, want 429", r.Status)
	}

	// Half a minute later one token is back.
	e.clock.Set(testNow.Add(30 * time.Second))
	r = e.postJSON(bariHost, "/api/v1/bookings", bookingJSON(b.InPerson.ID, slot(2, 11, 30), "in_person", citizen(4)), nil)
	wantStatus(t, r, http.StatusCreated)

	t.Run("behind a proxy", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.RateLimit = RateLimit{PerMinute: 1, Burst: 1}
			c.TrustProxyHeaders = true
		})
		b := e.bari
		send := func(xff string, n int) int {
			return e.doFrom("10.0.0.1:1", "POST", bariHost, "/api/v1/bookings",
				bookingJSON(b.Remote.ID, slot(2, 10, 0), "in_person", citizen(n)),
				map[string]string{"Content-Type": "application/json", "X-Forwarded-For": xff}).Status
		}
		if got := send("203.0.113.1", 1); got != http.StatusCreated {
			t.Errorf("first client: got %d, want 201", got)
		}
		if got := send("203.0.113.1", 2); got != http.StatusTooManyRequests {
			t.Errorf("first client again: got %d, want 429", got)
		}
		// The proxy appends the real peer last; what the client wrote
		// before it does not count.
		if got := send("203.0.113.99, 203.0.113.1", 3); got != http.StatusTooManyRequests {
			t.Errorf("spoofed leftmost address: got %d, want 429", got)
		}
		if got := send("203.0.113.2", 4); got != http.StatusCreated {
			t.Errorf("second client: got %d, want 201", got)
		}
	})
}

// doFrom sends a request from the peer address addr.
func (e *env) doFrom(addr, method, host, target, body string, header map[string]string) response {
	e.t.Helper()
	req := newRequest(method, host, target, body, header)
	req.RemoteAddr = addr
	return e.serve(req)
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := testNow
	t.Run("token bucket", func(t *testing.T) {
		l := newLimiter(RateLimit{PerMinute: 6, Burst: 3})
		for i := range 3 {
			if ok, _ := l.Allow("192.0.2.1", now); !ok {
				t.Fatalf("request %d refused within the burst", i)
			}
		}
		ok, wait := l.Allow("192.0.2.1", now)
		if ok || wait != 10*time.Second {
			t.Fatalf("past the burst: got ok=%v wait=%v, want false 10s", ok, wait)
		}
		if ok, _ := l.Allow("192.0.2.1", now.Add(10*time.Second)); !ok {
			t.Errorf("after the refill: refused")
		}
	})
	t.Run("IPv6 grouped by /64", func(t *testing.T) {
		l := newLimiter(RateLimit{PerMinute: 1, Burst: 1})
		if ok, _ := l.Allow("2001:db8:1:2::1", now); !ok {
			t.Fatal("first refused")
		}
		if ok, _ := l.Allow("2001:db8:1:2:ffff::9", now); ok {
			t.Errorf("same /64: allowed, want refused")
		}
		if ok, _ := l.Allow("2001:db8:1:3::1", now); !ok {
			t.Errorf("other /64: refused")
		}
	})
	t.Run("bounded memory", func(t *testing.T) {
		l := newLimiter(RateLimit{PerMinute: 1, Burst: 1, MaxClients: 100})
		for i := range 1000 {
			l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now.Add(time.Duration(i)*time.Millisecond))
		}
		if n := l.Size(); n > 100 {
			t.Errorf("remembered addresses: got %d, want at most 100", n)
		}
		// Addresses whose bucket refilled are forgotten first.
		later := now.Add(time.Hour)
		l.Allow("192.0.2.200", later)
		if n := l.Size(); n != 1 {
			t.Errorf("after an hour: got %d addresses, want 1", n)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		l := newLimiter(RateLimit{PerMinute: -1})
		for range 100 {
			if ok, _ := l.Allow("192.0.2.1", now); !ok {
				t.Fatal("disabled limiter refused")
			}
		}
		if l.Size() != 0 {
			t.Errorf("disabled limiter remembers addresses")
		}
	})
}
