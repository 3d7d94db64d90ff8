package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
)

// qePush is the Web Push side of TestQueueE2E: a real push service (it
// verifies the cluster's VAPID signature and decrypts every message) that
// the nodes reach through [push] as they would an internal push server.
type qePush struct {
	recv *pushtest.Receiver
	// endpoints maps a subscribed ticket's ID to its endpoint.
	endpoints map[string]string
}

// newQEPush starts the receiver and returns the [push] section that
// points the nodes at it.
func newQEPush(t *testing.T) (*qePush, string) {
	t.Helper()
	recv := pushtest.New(t)
	ca := filepath.Join(t.TempDir(), "push-ca.pem")
	if err := os.WriteFile(ca, recv.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("\n[push]\nendpoint_hosts = [\"127.0.0.1\"]\nallow_private_endpoints = true\nca_file = %q\n", ca)
	return &qePush{recv: recv, endpoints: map[string]string{}}, conf
}

// sameKey checks that every node offers one VAPID key (made once, in the
// replicated state) and makes the receiver refuse any other.
func (qp *qePush) sameKey(t *testing.T, procs []*proc, host string) {
	t.Helper()
	var first string
	for i, p := range procs {
		r := p.get(t, p.url(host, "/api/v1/push/key"))
		wantStatus(t, fmt.Sprintf("push key on node %d", i+1), r, http.StatusOK)
		var k struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal([]byte(r.Body), &k); err != nil || len(k.PublicKey) != 87 {
			t.Fatalf("push key on node %d: %q (%v); want a base64url P-256 point", i+1, r.Body, err)
		}
		if first == "" {
			first = k.PublicKey
		} else if k.PublicKey != first {
			t.Fatalf("node %d offers push key %s, node 1 %s", i+1, k.PublicKey, first)
		}
	}
	qp.recv.ExpectKey(first)
}

// subscribe subscribes ticket k through node c (its statusPath carries
// the secret), as the ticket page's push.js does.
func (qp *qePush) subscribe(t *testing.T, c *qeClient, k *qeTicket) {
	t.Helper()
	sub := qp.recv.Subscribe()
	body, err := json.Marshal(map[string]any{"endpoint": sub.Endpoint, "keys": sub.Keys, "lang": "it"})
	if err != nil {
		t.Fatal(err)
	}
	path, query, _ := strings.Cut(k.StatusPath, "?")
	r, err := c.postJSON(path+"/push?"+query, string(body))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "push subscription of "+k.Number, r, http.StatusNoContent)
	qp.endpoints[k.ID] = sub.Endpoint
}

// check waits for the pushes of the subscribed tickets: each is told "è il
// tuo turno" exactly once, by the desk that called it, in Italian, after
// any "manca poco" (and "ti stiamo chiamando di nuovo" after it when the
// desk recalled the citizen before marking a no-show); nothing reaches an
// endpoint no ticket subscribed.
func (qp *qePush) check(t *testing.T, byID map[string]*qeTicket, deskOf func(id string) string) {
	t.Helper()
	type msg struct {
		Kind, TicketID, Number, Desk, Lang, Title string
		Recall                                    bool
	}
	got := map[string][]msg{}
	called := func() int {
		n := 0
		for id := range qp.endpoints {
			for _, m := range got[id] {
				if m.Kind == "called" {
					n++
					break
				}
			}
		}
		return n
	}
	deadline := time.After(30 * time.Second)
	for called() < len(qp.endpoints) {
		select {
		case rcv := <-qp.recv.Messages():
			var m struct {
				Kind     string `json:"kind"`
				TicketID string `json:"ticket_id"`
				Number   string `json:"number"`
				Desk     string `json:"desk"`
				Lang     string `json:"lang"`
				Title    string `json:"title"`
				Recall   bool   `json:"recall"`
			}
			if err := json.Unmarshal(rcv.Payload, &m); err != nil {
				t.Fatalf("push payload %q: %v", rcv.Payload, err)
			}
			if qp.endpoints[m.TicketID] != rcv.Endpoint {
				t.Fatalf("push for ticket %s reached %s, subscribed %q", m.TicketID, rcv.Endpoint, qp.endpoints[m.TicketID])
			}
			got[m.TicketID] = append(got[m.TicketID], msg{m.Kind, m.TicketID, m.Number, m.Desk, m.Lang, m.Title, m.Recall})
		case <-deadline:
			t.Fatalf("pushes after 30s: %+v; want a call for each of %d tickets", got, len(qp.endpoints))
		}
	}
	for id := range qp.endpoints {
		k := byID[id]
		var calls int
		for i, m := range got[id] {
			if m.Number != k.Number || m.Lang != "it" || m.Title == "" {
				t.Errorf("push %d of %s: %+v", i, k.Number, m)
			}
			switch m.Kind {
			case "called":
				if m.Recall {
					if calls == 0 {
						t.Errorf("push of %s: a recall before the call: %+v", k.Number, got[id])
					}
				} else {
					calls++
				}
				if want := deskOf(id); m.Desk != want {
					t.Errorf("call push of %s names desk %q, it was called by %q", k.Number, m.Desk, want)
				}
			case "near":
				if calls > 0 {
					t.Errorf("push of %s: \"manca poco\" after the call: %+v", k.Number, got[id])
				}
			default:
				t.Errorf("push of %s: kind %q", k.Number, m.Kind)
			}
		}
		if calls != 1 {
			t.Errorf("ticket %s got %d call pushes: %+v", k.Number, calls, got[id])
		}
		t.Logf("pushes of %s: %+v", k.Number, got[id])
	}
}
