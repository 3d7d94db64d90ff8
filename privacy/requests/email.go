package requests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/tenant"
)

// OutboxKind is the cluster.OutboxItem kind of the package's emails; the
// lead wires node.HandleOutbox(requests.OutboxKind, requests.EmailDeliverer(...)).
const OutboxKind = "privacyreq.email"

// noticeKind says what an email tells.
type noticeKind string

const (
	// noticeLink carries the one-time link.
	noticeLink noticeKind = "link"
	// noticeFiled confirms an erasure request was received.
	noticeFiled noticeKind = "filed"
	// noticeDecision tells the administrator's decision.
	noticeDecision noticeKind = "decision"
)

// notice is everything one email says, frozen in apply (the outbox
// payload).
type notice struct {
	Kind      noticeKind `json:"kind"`
	Tenant    tenant.ID  `json:"tenant"`
	Comune    comune     `json:"comune"`
	To        string     `json:"to"`
	Link      string     `json:"link,omitempty"`
	Expires   time.Time  `json:"expires,omitzero"`
	RequestID string     `json:"request_id,omitempty"`
	Decision  State      `json:"decision,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// Lang is the language of the page the citizen used ("it", "en",
	// "de"); empty, as in notices stamped before it existed, is Italian.
	Lang string `json:"lang,omitempty"`
	Key  string `json:"key"`
}

// ErrNoSender: neither the Comune nor the node has a sender address.
var ErrNoSender = errors.New("privacyreq: no email sender address")

// EmailDeliverer returns the outbox deliverer of the package's emails: it
// decodes the notice, uses defaultFrom ("Name <addr>") when the Comune
// has no sender of its own, composes the message and hands it to sender.
// now dates the message.
func EmailDeliverer(sender mail.Sender, defaultFrom string, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	var fallback tenant.Sender
	if a, err := netmail.ParseAddress(defaultFrom); err == nil {
		fallback = tenant.Sender{Name: a.Name, Address: a.Address}
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode privacy email %s: %w", m.Key, err)
		}
		if n.Comune.Sender.Address == "" {
			n.Comune.Sender = fallback
		}
		from, to, msg, err := composeEmail(n, now())
		if err != nil {
			return err
		}
		if err := sender.Send(ctx, from, []string{to}, msg); err != nil {
			return err
		}
		// The address is not logged: the key names the request or link.
		log.Info("privacy email sent", "tenant", m.Tenant, "notice", n.Kind, "key", m.Key, "attempt", m.Attempts+1)
		return nil
	}
}

// emailView is what one email says.
type emailView struct {
	Lang                     string
	Subject, Heading, Tenant string
	Lines                    []string
	Link, LinkLabel          string
	Footer                   string
}

func newEmailView(n notice) emailView {
	lang := emailLang(n.Lang)
	v := emailView{Lang: lang, Tenant: n.Comune.Name, Footer: et(lang, "footer")}
	loc, err := time.LoadLocation(n.Comune.TimeZone)
	if err != nil || n.Comune.TimeZone == "" {
		loc = time.UTC
	}
	switch n.Kind {
	case noticeLink:
		v.Subject = et(lang, "link.subject")
		v.Heading = et(lang, "link.heading")
		exp := n.Expires.In(loc)
		v.Lines = []string{et(lang, "link.asked"), et(lang, "link.open", exp.Format("15:04"), exp.Format(et(lang, "date")))}
		v.Link, v.LinkLabel = n.Link, et(lang, "link.button")
	case noticeFiled:
		v.Subject = et(lang, "filed.subject")
		v.Heading = v.Subject
		v.Lines = []string{et(lang, "filed.recorded", n.RequestID), et(lang, "filed.next")}
	default:
		v.Subject = et(lang, "decision.subject")
		v.Heading = v.Subject
		if n.Decision == StateApproved {
			v.Lines = []string{et(lang, "decision.granted", n.RequestID)}
		} else {
			v.Lines = []string{et(lang, "decision.refused", n.RequestID)}
		}
		if n.Reason != "" {
			v.Lines = append(v.Lines, et(lang, "decision.reason", n.Reason))
		}
		v.Lines = append(v.Lines, et(lang, "decision.contact"))
		v.Footer = et(lang, "footer.decision")
	}
	return v
}

// emailHTML is the HTML part: nothing fetched from elsewhere.
var emailHTML = template.Must(template.New("privacy-email").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #1a1a1a;">
<p style="font-size: 0.9em; color: #5c6f82;">{{.Tenant}}</p>
<h1 style="font-size: 1.4em;">{{.Heading}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{with .Link}}<p><a href="{{.}}">{{$.LinkLabel}}</a></p>
<p style="font-size: 0.85em;">{{.}}</p>
{{end}}<hr>
<p style="font-size: 0.85em; color: #5c6f82;">{{.Footer}}</p>
</body>
</html>
`))

func emailText(v emailView) string {
	var b strings.Builder
	b.WriteString(v.Tenant + "\n\n" + v.Heading + "\n\n")
	for _, l := range v.Lines {
		b.WriteString(l + "\n")
	}
	if v.Link != "" {
		b.WriteString("\n" + v.Link + "\n")
	}
	b.WriteString("\n-- \n" + v.Footer + "\n")
	return b.String()
}

// composeEmail builds the MIME message of n (multipart/alternative,
// UTF-8, quoted-printable). Message-ID and boundary depend only on the
// notice's key, so a resend carries the same Message-ID.
func composeEmail(n notice, date time.Time) (from, to string, msg []byte, err error) {
	from, to = n.Comune.Sender.Address, n.To
	if from == "" {
		return "", "", nil, fmt.Errorf("privacy email %s: %w", n.Key, ErrNoSender)
	}
	if to == "" {
		return "", "", nil, fmt.Errorf("privacy email %s: no recipient", n.Key)
	}
	v := newEmailView(n)
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, v); err != nil {
		return "", "", nil, fmt.Errorf("privacy email %s: %w", n.Key, err)
	}
	sum := sha256.Sum256([]byte(n.Key))
	boundary := "sportello-p-" + hex.EncodeToString(sum[:12])
	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(name + ": " + value + "\r\n") }
	name := n.Comune.Sender.Name
	if name == "" {
		name = n.Comune.Name
	}
	header("From", (&netmail.Address{Name: name, Address: from}).String())
	header("To", (&netmail.Address{Address: to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", v.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+string(n.Tenant)+".privacy.sportello>")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	header("Content-Language", v.Lang)
	header("Auto-Submitted", "auto-generated")
	buf.WriteString("\r\n")
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return "", "", nil, err
	}
	for _, p := range []struct{ typ, body string }{{"text/plain", emailText(v)}, {"text/html", html.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=UTF-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return "", "", nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(p.body, "\n", "\r\n"))); err != nil {
			return "", "", nil, err
		}
		if err := qp.Close(); err != nil {
			return "", "", nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return "", "", nil, err
	}
	return from, to, buf.Bytes(), nil
}
