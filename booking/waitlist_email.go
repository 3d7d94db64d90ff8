package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/mailpage"
	"github.com/sportello-virtuale/sportello/tenant"
)

// WaitlistOutboxKind is the cluster.OutboxItem kind of the waiting
// lists' emails (WaitNotice), delivered by WaitlistEmailDeliverer.
const WaitlistOutboxKind = "booking.waitlist"

// WaitNoticeKind says which waiting-list email a WaitNotice is.
type WaitNoticeKind string

// The waiting-list emails: the confirmation of joining (with the link to
// leave) and the offer of a seat (with the link to accept).
const (
	WaitNoticeJoined WaitNoticeKind = "joined"
	WaitNoticeOffer  WaitNoticeKind = "offer"
)

// WaitNotice is the frozen content of a waiting-list email, recorded by
// apply; the leader composes it at delivery (ComposeWaitEmail).
type WaitNotice struct {
	Kind          WaitNoticeKind `json:"kind"`
	EntryID       string         `json:"entry_id"`
	Tenant        tenant.ID      `json:"tenant"`
	TenantName    string         `json:"tenant_name"`
	TimeZone      string         `json:"time_zone"`
	Sender        tenant.Sender  `json:"sender"`
	Lang          string         `json:"lang"`
	Email         string         `json:"email"`
	Name          string         `json:"name"`
	ServiceName   string         `json:"service_name"`
	OfficeName    string         `json:"office_name"`
	OfficeAddress string         `json:"office_address"`
	Link          string         `json:"link"`
	Start         time.Time      `json:"start,omitzero"`
	End           time.Time      `json:"end,omitzero"`
	Expires       time.Time      `json:"expires,omitzero"`
}

func (n *WaitNotice) fill(t tenant.Tenant, svc Service, o Office) {
	n.Tenant, n.TenantName, n.TimeZone, n.Sender = t.ID, t.Name, t.TimeZone, t.Sender
	n.ServiceName, n.OfficeName, n.OfficeAddress = svc.Name, o.Name, o.Address
}

// enqueueWaitNotice records n in the outbox; the key names the entry,
// the kind and the seat, so one offer is queued once.
func enqueueWaitNotice(tx *sql.Tx, cmd cluster.Command, n WaitNotice) error {
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode waiting-list email: %w", err)
	}
	key := fmt.Sprintf("waitlist/%s/%s/%s", cmd.Tenant, n.EntryID, n.Kind)
	if n.Kind == WaitNoticeOffer {
		key += fmt.Sprintf("/%d", n.Start.Unix())
	}
	if err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: WaitlistOutboxKind, Key: key, Payload: payload}); err != nil {
		return fmt.Errorf("enqueue waiting-list email of %s: %w", n.EntryID, err)
	}
	return nil
}

// waitTexts are the words of the waiting-list emails in one language.
type waitTexts struct {
	// JoinedSubject: service. JoinedBody: service, office.
	JoinedSubject, JoinedBody, JoinedLink string
	// OfferSubject: service. OfferBody: service, appointment, office,
	// address. OfferUntil: deadline. OfferLink.
	OfferSubject, OfferBody, OfferUntil, OfferLink string
	Hello, Footer                                  string
}

var waitLangs = map[string]waitTexts{
	"it": {
		JoinedSubject: "Sei nella lista d'attesa: %s",
		JoinedBody:    "Ti abbiamo inserito nella lista d'attesa del servizio «%s» (%s). Se si libera un posto ti scriveremo e lo terremo per te per un tempo limitato.",
		JoinedLink:    "Per vedere la tua richiesta o uscire dalla lista:",
		OfferSubject:  "Si è liberato un posto: %s",
		OfferBody:     "Si è liberato un posto per il servizio «%s»: %s, %s, %s.",
		OfferUntil:    "Il posto è tenuto per te fino a %s. Dopo, passerà alla persona successiva in lista.",
		OfferLink:     "Per confermare l'appuntamento, o rinunciare:",
		Hello:         "Gentile %s,",
		Footer:        "Ricevi questo messaggio perché ti sei iscritto alla lista d'attesa. È un messaggio automatico: non rispondere.",
	},
	"en": {
		JoinedSubject: "You are on the waiting list: %s",
		JoinedBody:    "You are on the waiting list of the service “%s” (%s). If a place frees up we will write to you and hold it for you for a limited time.",
		JoinedLink:    "To see your request or leave the list:",
		OfferSubject:  "A place has freed up: %s",
		OfferBody:     "A place has freed up for the service “%s”: %s, %s, %s.",
		OfferUntil:    "The place is held for you until %s. After that, it goes to the next person on the list.",
		OfferLink:     "To confirm the appointment, or decline it:",
		Hello:         "Dear %s,",
		Footer:        "You receive this message because you joined the waiting list. It was sent automatically: please do not reply.",
	},
	"de": {
		JoinedSubject: "Sie stehen auf der Warteliste: %s",
		JoinedBody:    "Sie stehen auf der Warteliste für den Dienst „%s“ (%s). Wird ein Platz frei, schreiben wir Ihnen und halten ihn für begrenzte Zeit für Sie frei.",
		JoinedLink:    "Um Ihre Anfrage zu sehen oder die Liste zu verlassen:",
		OfferSubject:  "Ein Platz ist frei geworden: %s",
		OfferBody:     "Für den Dienst „%s“ ist ein Platz frei geworden: %s, %s, %s.",
		OfferUntil:    "Der Platz ist bis %s für Sie reserviert. Danach geht er an die nächste Person auf der Liste.",
		OfferLink:     "Um den Termin zu bestätigen oder abzulehnen:",
		Hello:         "Guten Tag %s,",
		Footer:        "Sie erhalten diese Nachricht, weil Sie sich in die Warteliste eingetragen haben. Sie wurde automatisch versandt: Bitte antworten Sie nicht.",
	},
}

// newWaitView writes n in its language, in the layout every automatic
// email of Sportello shares (internal/mailpage).
func newWaitView(n WaitNotice) mailpage.Page {
	lang := NormalizeLang(n.Lang)
	tx := waitLangs[lang]
	loc := tenant.Tenant{TimeZone: n.TimeZone}.Location()
	v := mailpage.Page{Lang: lang, Tenant: n.TenantName, Hello: fmt.Sprintf(tx.Hello, n.Name), Link: n.Link, Footer: tx.Footer}
	switch n.Kind {
	case WaitNoticeOffer:
		v.Subject = fmt.Sprintf(tx.OfferSubject, n.ServiceName)
		v.Lines = []string{
			fmt.Sprintf(tx.OfferBody, n.ServiceName, spanIn(lang, n.Start, n.End, loc), n.OfficeName, n.OfficeAddress),
			fmt.Sprintf(tx.OfferUntil, DateTimeIn(lang, n.Expires.In(loc))),
		}
		v.LinkText = tx.OfferLink
	default:
		v.Subject = fmt.Sprintf(tx.JoinedSubject, n.ServiceName)
		v.Lines = []string{fmt.Sprintf(tx.JoinedBody, n.ServiceName, n.OfficeName)}
		v.LinkText = tx.JoinedLink
	}
	return v
}

// ComposeWaitEmail builds the MIME message of n (internal/mailpage). The
// Message-ID depends only on the notice, so a resend by a new leader
// carries the same one.
func ComposeWaitEmail(n WaitNotice, date time.Time) (from, to string, msg []byte, err error) {
	from, to = n.Sender.Address, n.Email
	if from == "" || to == "" {
		return "", "", nil, fmt.Errorf("waiting-list email of %s: no sender or recipient", n.EntryID)
	}
	name := n.Sender.Name
	if name == "" {
		name = n.TenantName
	}
	msg, err = mailpage.Compose(mailpage.Envelope{From: netmail.Address{Name: name, Address: from}, To: to, Date: date,
		Key:    fmt.Sprintf("%s/%s/%s/%d", n.Tenant, n.EntryID, n.Kind, n.Start.Unix()),
		Domain: string(n.Tenant) + ".waitlist.sportello", BoundaryPrefix: "sportello-w-"}, newWaitView(n))
	if err != nil {
		return "", "", nil, fmt.Errorf("waiting-list email of %s: %w", n.EntryID, err)
	}
	return from, to, msg, nil
}

// MailSender sends one message (internal/mail.Sender has this method).
type MailSender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// WaitlistEmailDeliverer delivers WaitlistOutboxKind items through
// sender; defaultFrom is used when the Comune has no sender.
func WaitlistEmailDeliverer(sender MailSender, defaultFrom string, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	var fallback tenant.Sender
	if a, err := netmail.ParseAddress(defaultFrom); err == nil {
		fallback = tenant.Sender{Name: a.Name, Address: a.Address}
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n WaitNotice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode waiting-list email %s: %w", m.Key, err)
		}
		if n.Sender.Address == "" {
			n.Sender = fallback
		}
		from, to, msg, err := ComposeWaitEmail(n, now())
		if err != nil {
			return err
		}
		if err := sender.Send(ctx, from, []string{to}, msg); err != nil {
			return err
		}
		log.Info("waiting-list email sent", "tenant", m.Tenant, "entry", n.EntryID, "notice", n.Kind, "attempt", m.Attempts+1)
		return nil
	}
}
