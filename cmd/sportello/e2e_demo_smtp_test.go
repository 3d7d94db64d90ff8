package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// TestDemoBookingEmailOverSMTP is issue 2's end-to-end path on the real
// `sportello demo` binary: book the demo's identity-card service through
// the HTML form, receive the confirmation over SMTP, follow its manage
// link, cancel, and receive the cancellation.
func TestDemoBookingEmailOverSMTP(t *testing.T) {
	needBinary(t)
	t.Parallel()
	srv := smtptest.Start(t)
	dataDir := shortTempDir(t)
	p := startProc(t, dataDir, "demo", "--data", dataDir, "--listen", "127.0.0.1:0", "--raft", "127.0.0.1:0",
		"--log-level", "warn", "--smtp", srv.Addr, "--smtp-security", "none")
	host := "bari.localhost"

	// The demo's identity-card service, by its readable ID.
	svc := booking.Service{ID: "rilascio-carta-d-identita-elettronica"}
	code, token := bookThroughForm(t, p, host, svc)

	confirmation := receive(t, srv, 1, code)
	if !strings.Contains(confirmation.Message.Subject, code) {
		t.Errorf("confirmation subject %q lacks the code %s", confirmation.Message.Subject, code)
	}
	if ics := confirmation.calendar(t); !strings.Contains(ics, "METHOD:REQUEST") {
		t.Errorf("confirmation ICS lacks METHOD:REQUEST:\n%s", ics)
	}
	manage := confirmation.link(t, "/prenotazioni/"+code)
	if u, _ := url.Parse(manage); u.Query().Get("token") != token {
		t.Fatalf("manage link %s does not carry the booking's token", manage)
	}

	r := p.get(t, manage)
	wantStatus(t, "manage page from the email", r, http.StatusOK)
	wantText(t, "manage page from the email", r.Body, code, "Annulla appuntamento")
	r = p.get(t, p.url(host, "/prenotazioni/"+code+"/annulla?token="+url.QueryEscape(token)))
	wantStatus(t, "cancel page", r, http.StatusOK)
	f := findForm(t, r.Body, "/prenotazioni/"+code+"/annulla", "")
	r = p.postForm(t, p.url(host, f.Action), f.Values)
	wantStatus(t, "cancel", r, http.StatusSeeOther)

	cancellation := receive(t, srv, 2, code)
	if ics := cancellation.calendar(t); !strings.Contains(ics, "METHOD:CANCEL") {
		t.Errorf("cancellation ICS lacks METHOD:CANCEL:\n%s", ics)
	}
	// Nothing went to the demo mailbox: --smtp replaces it.
	r = p.get(t, p.url(host, "/_demo/posta"))
	if strings.Contains(r.Body, code) {
		t.Errorf("the demo mailbox shows %s although email went over SMTP", code)
	}
}
