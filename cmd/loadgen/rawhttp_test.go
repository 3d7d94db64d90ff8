package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestBookConn: the workers' hand-made requests reach a real net/http
// server intact, every answer is read and its status reported, the
// connection is kept across requests and dialled again after the server
// closed it.
func TestBookConn(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/api/v1/bookings" || r.Host != "bench.localhost:80" ||
			r.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(body), `{"n":`) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		switch string(body) {
		case `{"n":2}`:
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"slot_full"}`)
		case `{"n":3}`:
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
		case `{"n":4}`:
			// A chunked answer: no Content-Length.
			w.WriteHeader(http.StatusCreated)
			w.(http.Flusher).Flush()
			io.WriteString(w, strings.Repeat("x", 10000))
		default:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"code":"ABC234"}`)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	all := &bookConns{}
	defer all.closeAll()
	bc := newBookConn(all, srv.Listener.Addr().String(), "bench.localhost:80", "/api/v1/bookings")
	ctx := context.Background()
	for i, want := range []string{"", "409", "", "", "", "", "400"} {
		body := `{"n":` + string(rune('1'+i)) + `}`
		if i == 6 {
			body = `nope`
		}
		if got := bc.post(ctx, []byte(body)); got != want {
			t.Errorf("request %d: got %q, want %q", i+1, got, want)
		}
	}
	// Requests 1–3 on the first connection (3 closes it), 4–7 on the
	// second.
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
	all.closeAll()
	if got := bc.post(ctx, []byte(`{"n":1}`)); got != "net" {
		t.Errorf("after closeAll: got %q, want net", got)
	}
}
