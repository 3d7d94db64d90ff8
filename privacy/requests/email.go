package requests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mailpage"
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

// newEmailView writes n in its language, in the layout every automatic
// email of Sportello shares (internal/mailpage).
func newEmailView(n notice) mailpage.Page {
	lang := emailLang(n.Lang)
	v := mailpage.Page{Lang: lang, Tenant: n.Comune.Name, Footer: et(lang, "footer")}
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
		v.Lines = []string{et(lang, "filed.recorded", n.RequestID), et(lang, "filed.next")}
	default:
		v.Subject = et(lang, "decision.subject")
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

// composeEmail builds the MIME message of n (internal/mailpage). The
// Message-ID and boundary depend only on the notice's key, so a resend
// carries the same Message-ID.
func composeEmail(n notice, date time.Time) (from, to string, msg []byte, err error) {
	from, to = n.Comune.Sender.Address, n.To
	if from == "" {
		return "", "", nil, fmt.Errorf("privacy email %s: %w", n.Key, ErrNoSender)
	}
	if to == "" {
		return "", "", nil, fmt.Errorf("privacy email %s: no recipient", n.Key)
	}
	name := n.Comune.Sender.Name
	if name == "" {
		name = n.Comune.Name
	}
	msg, err = mailpage.Compose(mailpage.Envelope{From: netmail.Address{Name: name, Address: from}, To: to, Date: date,
		Key: n.Key, Domain: string(n.Tenant) + ".privacy.sportello", BoundaryPrefix: "sportello-p-"}, newEmailView(n))
	if err != nil {
		return "", "", nil, fmt.Errorf("privacy email %s: %w", n.Key, err)
	}
	return from, to, msg, nil
}
