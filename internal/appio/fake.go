package appio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// FakeServer is a local HTTP server that speaks App IO's Services API as
// documented (POST /profiles, POST /messages, header
// Ocp-Apim-Subscription-Key), for tests only: App IO itself is outside
// the machine and must not be called from a test. It is a stand-in for
// that remote service, allowed by the issue, not a mock of our code: the
// client under test makes real HTTP requests to it.
type FakeServer struct {
	*httptest.Server

	mu sync.Mutex
	// keys are the accepted API keys.
	keys map[string]bool
	// profiles: fiscal code → sender_allowed; a code missing is a 404.
	profiles map[string]bool
	messages []FakeMessage
	calls    []string
	// fail429 answers the next n requests with 429.
	fail429 int
}

// FakeMessage is a message the fake accepted.
type FakeMessage struct {
	ID         string
	Key        string
	FiscalCode string
	Subject    string
	Markdown   string
	DueDate    string
}

// NewFakeServer starts a fake App IO accepting the given API keys. Close
// it when done (t.Cleanup(s.Close)).
func NewFakeServer(keys ...string) *FakeServer {
	f := &FakeServer{keys: map[string]bool{}, profiles: map[string]bool{}}
	for _, k := range keys {
		f.keys[k] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/profiles", f.profile)
	mux.HandleFunc("POST /api/v1/messages", f.message)
	f.Server = httptest.NewServer(mux)
	return f
}

// BaseURL is the URL to give Client.BaseURL.
func (f *FakeServer) BaseURL() string { return f.URL + "/api/v1" }

// SetProfile makes a citizen known, allowing this sender or not.
func (f *FakeServer) SetProfile(fiscalCode string, senderAllowed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.profiles[fiscalCode] = senderAllowed
}

// Fail429 answers the next n requests with 429 Too Many Requests, as App
// IO does past 150 requests in 5 s per key.
func (f *FakeServer) Fail429(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail429 = n
}

// Messages returns the messages accepted so far.
func (f *FakeServer) Messages() []FakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeMessage(nil), f.messages...)
}

// Calls returns "profiles" and "messages" in the order they were asked
// (answered or not).
func (f *FakeServer) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// gate records the call and answers 401 or 429 when it must; it reports
// whether the request may go on. Called with f.mu held.
func (f *FakeServer) gate(w http.ResponseWriter, r *http.Request, name string) bool {
	f.calls = append(f.calls, name)
	if !f.keys[r.Header.Get(keyHeader)] {
		writeProblem(w, http.StatusUnauthorized, "Access denied due to invalid subscription key.")
		return false
	}
	if f.fail429 > 0 {
		f.fail429--
		writeProblem(w, http.StatusTooManyRequests, "Rate limit is exceeded.")
		return false
	}
	return true
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "title": http.StatusText(status), "detail": detail})
}

func (f *FakeServer) profile(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.gate(w, r, "profiles") {
		return
	}
	var req profileRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.FiscalCode == "" {
		writeProblem(w, http.StatusBadRequest, "fiscal_code is required")
		return
	}
	allowed, ok := f.profiles[req.FiscalCode]
	if !ok {
		writeProblem(w, http.StatusNotFound, "Profile not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(profileAnswer{SenderAllowed: allowed})
}

func (f *FakeServer) message(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.gate(w, r, "messages") {
		return
	}
	var req messageRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, "malformed body")
		return
	}
	m := Message{FiscalCode: req.FiscalCode, Subject: req.Content.Subject, Markdown: req.Content.Markdown}
	if err := m.Check(); err != nil {
		writeProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Content.DueDate != "" {
		if _, err := time.Parse(time.RFC3339, req.Content.DueDate); err != nil {
			writeProblem(w, http.StatusBadRequest, "due_date is not a date-time")
			return
		}
	}
	if allowed, ok := f.profiles[req.FiscalCode]; !ok || !allowed {
		writeProblem(w, http.StatusForbidden, "Recipient has not enabled this service")
		return
	}
	id := fmt.Sprintf("01FAKE%06d", len(f.messages)+1)
	f.messages = append(f.messages, FakeMessage{ID: id, Key: r.Header.Get(keyHeader), FiscalCode: req.FiscalCode,
		Subject: req.Content.Subject, Markdown: req.Content.Markdown, DueDate: req.Content.DueDate})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(messageAnswer{ID: id})
}
