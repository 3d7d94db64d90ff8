package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mailpage"
	"github.com/sportello-virtuale/sportello/tenant"
)

// ErrNoSender is returned by the deliverer when neither the Comune nor
// the node has a sender address.
var ErrNoSender = errors.New("no email sender address")

// EmailDeliverer returns the outbox deliverer of the queue's emails
// (OutboxKind): it decodes the notice, uses defaultFrom ("Name <addr>")
// when the Comune has no sender of its own, composes the message and
// hands it to sender. now dates the message. The lead wires it with
// node.HandleOutbox(queue.OutboxKind, queue.EmailDeliverer(...)).
func EmailDeliverer(sender mail.Sender, defaultFrom string, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	var fallback tenant.Sender
	if a, err := netmail.ParseAddress(defaultFrom); err == nil {
		fallback = tenant.Sender{Name: a.Name, Address: a.Address}
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode queue email %s: %w", m.Key, err)
		}
		if n.Sender.Address == "" {
			n.Sender = fallback
		}
		from, to, msg, err := composeEmail(n, now())
		if err != nil {
			return err
		}
		if err := sender.Send(ctx, from, []string{to}, msg); err != nil {
			return err
		}
		log.Info("queue email sent", "tenant", m.Tenant, "ticket", n.Number, "notice", n.Kind,
			"key", m.Key, "attempt", m.Attempts+1)
		return nil
	}
}

// emailTexts are the words of the queue's emails in one language. The
// %s and %d verbs are filled in the order the comments say.
type emailTexts struct {
	// NearSubject: number. NearNext, when nobody is before the citizen;
	// NearOne / NearMany: position (NearMany only). NearBody: office.
	NearSubject, NearNext, NearOne, NearMany, NearBody string
	// CalledSubject: desk, number. CalledBody: number, desk, office.
	// RecallSubject / RecallBody: the same, when the desk calls again.
	CalledSubject, CalledBody, RecallSubject, RecallBody string
	// Number: number. Where: address.
	Number, Where string
	// Footer explains why the email came.
	Footer string
	// ConfirmSubject: office. ConfirmBody: office; ConfirmBy: the time
	// the link expires ("15:40"); ConfirmIgnore says what happens if the
	// citizen did not ask.
	ConfirmSubject, ConfirmBody, ConfirmBy, ConfirmIgnore string
}

var emailLangs = map[string]emailTexts{
	"it": {
		NearSubject:    "Manca poco al tuo turno (numero %s)",
		NearNext:       "Nessuno ti precede: preparati.",
		NearOne:        "Prima di te c'è una sola persona.",
		NearMany:       "Prima di te ci sono %d persone.",
		NearBody:       "Manca poco al tuo turno all'ufficio %s. Avvicinati e tieni d'occhio il tabellone della sala d'attesa.",
		CalledSubject:  "È il tuo turno: %s (numero %s)",
		CalledBody:     "È il tuo turno: il numero %s è chiamato a %s dell'ufficio %s.",
		RecallSubject:  "Ti stiamo chiamando di nuovo: %s (numero %s)",
		RecallBody:     "Ti stiamo chiamando di nuovo: il numero %s è atteso a %s dell'ufficio %s.",
		Number:         "Il tuo numero: %s",
		Where:          "Indirizzo: %s",
		Footer:         "Ricevi questo messaggio perché hai indicato questo indirizzo prendendo il numero o prenotando l'appuntamento. È un messaggio automatico: non rispondere.",
		ConfirmSubject: "Conferma il tuo numero per l'ufficio %s",
		ConfirmBody:    "Hai chiesto un numero per la coda dell'ufficio %s. Per entrare in coda apri questo collegamento:",
		ConfirmBy:      "Il collegamento vale fino alle %s; poi la richiesta decade e puoi prendere un nuovo numero. Entri in coda nel momento in cui confermi.",
		ConfirmIgnore:  "Se non hai chiesto tu questo numero, ignora il messaggio: senza conferma non succede nulla.",
	},
	"en": {
		NearSubject:    "Your turn is coming up (number %s)",
		NearNext:       "You are next: please be ready.",
		NearOne:        "There is one person before you.",
		NearMany:       "There are %d people before you.",
		NearBody:       "Your turn at the %s office is coming up. Please come closer and watch the board in the waiting hall.",
		CalledSubject:  "It's your turn: %s (number %s)",
		CalledBody:     "It's your turn: number %s is called to %s of the %s office.",
		RecallSubject:  "We are calling you again: %s (number %s)",
		RecallBody:     "We are calling you again: number %s is expected at %s of the %s office.",
		Number:         "Your number: %s",
		Where:          "Address: %s",
		Footer:         "You receive this message because you gave this address when you took your number or booked the appointment. It was sent automatically: please do not reply.",
		ConfirmSubject: "Confirm your number for the %s office",
		ConfirmBody:    "You asked for a number in the queue of the %s office. To join the queue, open this link:",
		ConfirmBy:      "The link is valid until %s; after that the request lapses and you can take a new number. You join the queue when you confirm.",
		ConfirmIgnore:  "If you did not ask for this number, ignore this message: nothing happens without confirmation.",
	},
	"de": {
		NearSubject:    "Sie sind bald an der Reihe (Nummer %s)",
		NearNext:       "Sie sind als Nächste an der Reihe: Bitte halten Sie sich bereit.",
		NearOne:        "Vor Ihnen ist nur noch eine Person.",
		NearMany:       "Vor Ihnen sind noch %d Personen.",
		NearBody:       "Sie sind bald an der Reihe beim Amt %s. Bitte kommen Sie näher und achten Sie auf die Anzeigetafel im Wartesaal.",
		CalledSubject:  "Sie sind an der Reihe: %s (Nummer %s)",
		CalledBody:     "Sie sind an der Reihe: Nummer %s wird zu %s beim Amt %s gerufen.",
		RecallSubject:  "Wir rufen Sie erneut auf: %s (Nummer %s)",
		RecallBody:     "Wir rufen Sie erneut auf: Nummer %s wird bei %s des Amts %s erwartet.",
		Number:         "Ihre Nummer: %s",
		Where:          "Adresse: %s",
		Footer:         "Sie erhalten diese Nachricht, weil Sie diese Adresse beim Ziehen Ihrer Nummer oder bei der Terminbuchung angegeben haben. Sie wurde automatisch versandt: Bitte antworten Sie nicht.",
		ConfirmSubject: "Bestätigen Sie Ihre Nummer für das Amt %s",
		ConfirmBody:    "Sie haben eine Nummer für die Warteschlange des Amts %s angefordert. Um sich einzureihen, öffnen Sie diesen Link:",
		ConfirmBy:      "Der Link gilt bis %s Uhr; danach verfällt die Anfrage und Sie können eine neue Nummer ziehen. Sie reihen sich ein, sobald Sie bestätigen.",
		ConfirmIgnore:  "Wenn Sie diese Nummer nicht angefordert haben, ignorieren Sie diese Nachricht: Ohne Bestätigung geschieht nichts.",
	},
}

// deskWord is how a desk whose label is only a number is named.
var deskWord = map[string]string{"it": "sportello", "en": "desk", "de": "Schalter"}

// newEmailView writes the words of notice n.
func newEmailView(n notice) mailpage.Page {
	lang := normLang(n.Lang)
	tx := emailLangs[lang]
	v := mailpage.Page{Lang: lang, Tenant: n.TenantName, Footer: tx.Footer}
	desk := n.Desk
	if desk != "" && strings.Trim(desk, "0123456789") == "" {
		desk = deskWord[lang] + " " + desk
	}
	switch n.Kind {
	case noticeConfirm:
		v.Subject = fmt.Sprintf(tx.ConfirmSubject, n.Office)
		v.Heading = v.Subject
		// The confirmation link is the one link a queue email ever
		// carries, to the Comune's own host.
		v.Link = n.Link
		until := n.Expires.In(tenant.Tenant{TimeZone: n.TimeZone}.Location()).Format("15:04")
		v.Lines = []string{fmt.Sprintf(tx.ConfirmBody, n.Office)}
		v.After = []string{fmt.Sprintf(tx.ConfirmBy, until), tx.ConfirmIgnore}
	case noticeCalled:
		subj, body := tx.CalledSubject, tx.CalledBody
		if n.Recall {
			subj, body = tx.RecallSubject, tx.RecallBody
		}
		v.Subject = fmt.Sprintf(subj, desk, n.Number)
		v.Heading = strings.TrimSuffix(v.Subject[:strings.LastIndex(v.Subject, " (")], ".")
		v.Lines = []string{fmt.Sprintf(body, n.Number, desk, n.Office)}
	default:
		v.Subject = fmt.Sprintf(tx.NearSubject, n.Number)
		v.Heading = v.Subject[:strings.LastIndex(v.Subject, " (")]
		ahead := tx.NearNext
		switch {
		case n.Position == 1:
			ahead = tx.NearOne
		case n.Position > 1:
			ahead = fmt.Sprintf(tx.NearMany, n.Position)
		}
		v.Lines = []string{fmt.Sprintf(tx.NearBody, n.Office), ahead, fmt.Sprintf(tx.Number, n.Number)}
	}
	if n.Address != "" {
		v.Lines = append(v.Lines, fmt.Sprintf(tx.Where, n.Address))
	}
	return v
}

// composeEmail builds the MIME message of n with internal/mailpage's
// layout (no image, style sheet or anything else fetched from elsewhere,
// so that opening it tells nobody anything). The Message-ID and
// the boundary depend only on the notice, so a resend of the same email
// (the outbox delivers at least once) carries the same Message-ID and a
// mail client can drop the copy; date only sets the Date header.
func composeEmail(n notice, date time.Time) (from, to string, msg []byte, err error) {
	from, to = n.Sender.Address, n.Email
	if from == "" {
		return "", "", nil, fmt.Errorf("queue email %s: %w", n.Key, ErrNoSender)
	}
	if to == "" {
		return "", "", nil, fmt.Errorf("queue email %s: no recipient", n.Key)
	}
	name := n.Sender.Name
	if name == "" {
		name = n.TenantName
	}
	msg, err = mailpage.Compose(mailpage.Envelope{From: netmail.Address{Name: name, Address: from}, To: to, Date: date,
		Key: n.Key, Domain: string(n.Tenant) + ".queue.sportello", BoundaryPrefix: "sportello-q-"}, newEmailView(n))
	if err != nil {
		return "", "", nil, fmt.Errorf("queue email %s: %w", n.Key, err)
	}
	return from, to, msg, nil
}
