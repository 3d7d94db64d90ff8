package queue

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/tenant"
)

// App IO for the queue (issue 11): the "manca poco" and "è il tuo turno"
// notices of a ticket reach the citizen's IO app as well as their email
// and browser, like booking's App IO channel (booking/appio_channel.go).
//
//   - Settings are per Comune and per office, optionally per service of
//     the office: a ticket uses its service's key when the office has one
//     for it, otherwise the office's key (service ""). Keys are sealed in
//     the proposer (appio.Sealer), so the log, the state and the backups
//     hold only the sealed form.
//   - Only tickets linked to a codice fiscale get a message: a ticket
//     of a checked-in booking (the booking's codice fiscale), or one
//     whose citizen gave theirs on the ticket's page (SubscribeAppIO).
//   - appioLine, called from notifyLine inside apply, decides which
//     notices are due by the same rule as the emails and pushes
//     (lineWatch.due) and queues them in the replicated outbox with a key
//     per ticket, kind and event, in the same transaction that records
//     them as given (queue_appio_tickets): a command applied on every
//     node, or replayed, queues each message once.
//   - The leader's AppIODeliverer opens the key, checks the citizen's
//     profile first and then sends the message with a due date
//     (internal/appio.Client.Send); 429, 5xx and network errors are
//     retried by the outbox.
//
// App IO is a service outside the machine: the tests speak to
// internal/appio's FakeServer, a local server that answers as App IO's
// API is documented. That fake is allowed because the real service cannot
// be reached from the tests; everything on our side of the HTTP call is
// real.

// AppIOOutboxKind is the outbox kind of the queue's App IO messages; the
// node hands them to AppIODeliverer.
const AppIOOutboxKind = "queue.appio"

// Command types of the queue's App IO channel.
const (
	CmdAppIOSave      = "queue.appio.save"
	CmdAppIOSubscribe = "queue.appio.subscribe"
)

// appIOComponent names the channel's schema in cluster_schema. It is its
// own component, so that its migrations never collide with the queue's.
const appIOComponent = "queue_appio"

// appIOStale is how old a notice may be when the leader delivers it: a
// "your turn" delivered an hour late (App IO down, a long election) is
// noise, and the citizen has been called on the screen meanwhile.
const appIOStale = 30 * time.Minute

// appIODueIn is the due date shown in the app: the event plus this
// long, the time a called citizen has to reach the desk.
const appIODueIn = 15 * time.Minute

// appIOSchemaV1 holds the channel's settings and the tickets it watches.
//
//   - queue_appio: one row per Comune, office and service ("" for every
//     service of the office): the sealed key, whether the channel is on,
//     and the Comune's name and time zone for the messages (stamped by the
//     proposer, as apply reads no tenant registry).
//   - queue_appio_tickets: the tickets linked to a codice fiscale, with
//     the marks of the notices already queued (near_sent and called_sent,
//     as in queue_notify). A row is made when the citizen gives a codice
//     fiscale, or when appioLine first sees a checked-in booking's ticket;
//     it goes when the ticket closes. fiscal_code keeps its name on
//     purpose: privacy's erasure deletes every row of a Comune with that
//     column equal to the citizen's.
const appIOSchemaV1 = `
CREATE TABLE queue_appio (
	tenant      TEXT NOT NULL,
	office_id   TEXT NOT NULL,
	service_id  TEXT NOT NULL,
	sealed_key  TEXT NOT NULL,
	enabled     INTEGER NOT NULL,
	tenant_name TEXT NOT NULL,
	time_zone   TEXT NOT NULL,
	PRIMARY KEY (tenant, office_id, service_id)
) WITHOUT ROWID;

CREATE TABLE queue_appio_tickets (
	tenant      TEXT NOT NULL,
	ticket_id   TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	lang        TEXT NOT NULL,
	near_sent   INTEGER NOT NULL,
	called_sent INTEGER NOT NULL,
	PRIMARY KEY (tenant, ticket_id)
) WITHOUT ROWID;
`

// RegisterAppIO adds the queue's App IO channel (schema, commands) to
// reg. cmd/sportello calls it beside Register; without it appioLine does
// nothing (its tables are missing), so a binary that leaves the channel
// out applies the queue's commands as before.
func RegisterAppIO(reg *cluster.Registry) {
	reg.Migrate(cluster.Migration{Component: appIOComponent, Version: 1, SQL: appIOSchemaV1})
	reg.Handle(CmdAppIOSave, payloadVersion, applyAppIOSave)
	reg.Handle(CmdAppIOSubscribe, payloadVersion, applyAppIOSubscribe)
	// The audit names the office and service only: never the sealed key
	// nor the codice fiscale.
	reg.Describe(CmdAppIOSave, func(cmd cluster.Command) string {
		var p appIOSavePayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		return fmt.Sprintf("office=%s service=%s enabled=%t", p.OfficeID, p.ServiceID, p.Enabled)
	})
	reg.Describe(CmdAppIOSubscribe, func(cmd cluster.Command) string {
		var p appIOSubscribePayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		return "ticket=" + p.TicketID
	})
}

// AppIOTicketNotice is the frozen content of one App IO message about a
// ticket: the outbox item's payload.
type AppIOTicketNotice struct {
	Kind       noticeKind `json:"kind"`
	Tenant     tenant.ID  `json:"tenant"`
	TenantName string     `json:"tenant_name"`
	TimeZone   string     `json:"time_zone"`
	OfficeID   string     `json:"office_id"`
	// KeyService is the service of the setting whose key sends the
	// message ("" for the office's).
	KeyService string `json:"key_service"`
	Office     string `json:"office"`
	Address    string `json:"address,omitempty"`
	FiscalCode string `json:"fiscal_code"`
	Lang       string `json:"lang"`
	TicketID   string `json:"ticket_id"`
	Number     string `json:"number"`
	Position   int    `json:"position,omitempty"`
	Desk       string `json:"desk,omitempty"`
	Recall     bool   `json:"recall,omitempty"`
	// At is the event's time (the command's).
	At time.Time `json:"at"`
}

// AppIOSetting is an office's (or service's) App IO channel as the back
// office sees it: never the key itself.
type AppIOSetting struct {
	Enabled bool
	HasKey  bool
}

// appIOSavePayload is version 1 of queue.appio.save. Sealed "" keeps the
// stored key unless Clear.
type appIOSavePayload struct {
	OfficeID   string `json:"office_id"`
	ServiceID  string `json:"service_id,omitempty"`
	Sealed     string `json:"sealed,omitempty"`
	Clear      bool   `json:"clear,omitempty"`
	Enabled    bool   `json:"enabled"`
	TenantName string `json:"tenant_name"`
	TimeZone   string `json:"time_zone"`
}

// appIOSubscribePayload is version 1 of queue.appio.subscribe: the
// citizen of a ticket gives their codice fiscale (checked and upper-cased
// by the proposer) to be told on App IO.
type appIOSubscribePayload struct {
	TicketID   string `json:"ticket_id"`
	SecretHash []byte `json:"secret_hash"`
	FiscalCode string `json:"fiscal_code"`
	Lang       string `json:"lang"`
}

// appIOSealService is the service name a key is sealed for: it binds
// the sealed key to its office and service, so that a key copied to
// another row does not open.
func appIOSealService(officeID, serviceID string) string {
	return "queue/" + officeID + "/" + serviceID
}

func applyAppIOSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p appIOSavePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || p.OfficeID == "" {
		return nil, fmt.Errorf("%s: payload lacks the Comune or the office", cmd.Type)
	}
	ctx := context.Background()
	var sealed string
	err := tx.QueryRowContext(ctx, `SELECT sealed_key FROM queue_appio WHERE tenant = ? AND office_id = ? AND service_id = ?`,
		cmd.Tenant, p.OfficeID, p.ServiceID).Scan(&sealed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load App IO of %s: %w", p.OfficeID, err)
	}
	switch {
	case p.Clear:
		sealed = ""
	case p.Sealed != "":
		sealed = p.Sealed
	}
	if p.Enabled && sealed == "" {
		return nil, &ValidationError{Fields: map[string]string{"api_key": "Inserisci la chiave API del servizio su App IO per attivare il canale."}}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO queue_appio (tenant, office_id, service_id, sealed_key, enabled, tenant_name, time_zone)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, office_id, service_id) DO UPDATE SET sealed_key = excluded.sealed_key,
		enabled = excluded.enabled, tenant_name = excluded.tenant_name, time_zone = excluded.time_zone`,
		cmd.Tenant, p.OfficeID, p.ServiceID, sealed, p.Enabled, p.TenantName, p.TimeZone)
	return nil, err
}

func applyAppIOSubscribe(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p appIOSubscribePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || p.TicketID == "" || p.FiscalCode == "" {
		return nil, fmt.Errorf("%s: payload lacks the ticket or the codice fiscale", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	k, hash, err := loadTicket(ctx, tx, t, p.TicketID)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(hash, p.SecretHash) != 1 {
		return nil, fmt.Errorf("ticket %s: %w", p.TicketID, ErrBadSecret)
	}
	if !activeState(k.State) {
		return nil, fmt.Errorf("App IO for ticket %s, %s: %w", k.Number, k.State, ErrTransition)
	}
	// A citizen who subscribes while called is not told "è il tuo
	// turno" for that call: they are reading it on the ticket's page.
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_appio_tickets (tenant, ticket_id, fiscal_code, lang, near_sent, called_sent)
		VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (tenant, ticket_id) DO UPDATE SET fiscal_code = excluded.fiscal_code, lang = excluded.lang`,
		t, k.ID, p.FiscalCode, normLang(p.Lang), unixOf(k.Called)); err != nil {
		return nil, fmt.Errorf("record App IO of %s: %w", k.Number, err)
	}
	return nil, nil
}

// appIOCandidate is a ticket of the watched line linked to a codice
// fiscale.
type appIOCandidate struct {
	id, fiscalCode, lang string
	// known: the ticket has its queue_appio_tickets row already.
	known                bool
	nearSent, calledSent int64
}

// appioLine queues the App IO notices now due for the line (t,
// officeID, day) at cmd.Time. notifyLine calls it inside apply after
// every command that changes a line. It reads only the transaction and
// cmd: a Comune whose office has no channel on costs one query.
func appioLine(tx *sql.Tx, cmd cluster.Command, t tenant.ID, officeID, day string) error {
	ctx := context.Background()
	var on int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_appio WHERE tenant = ? AND office_id = ? AND enabled AND sealed_key <> ''`,
		t, officeID).Scan(&on)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil // RegisterAppIO not wired: the channel does not exist.
		}
		return fmt.Errorf("App IO of %s: %w", officeID, err)
	}
	// The rows of tickets that closed or belong to a past day go, channel
	// on or off: nothing is kept once the ticket is over.
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_appio_tickets WHERE tenant = ? AND ticket_id IN
		(SELECT a.ticket_id FROM queue_appio_tickets a JOIN queue_tickets k ON k.tenant = a.tenant AND k.id = a.ticket_id
		 WHERE a.tenant = ? AND k.office_id = ? AND (k.day < ? OR k.state NOT IN (?, ?, ?, ?)))`,
		t, t, officeID, day, Waiting, Called, Serving, Parked); err != nil {
		return fmt.Errorf("forget App IO of closed tickets: %w", err)
	}
	if on == 0 {
		return nil
	}
	cands, err := appIOCandidates(ctx, tx, t, officeID, day)
	if err != nil || len(cands) == 0 {
		return err
	}
	lw := &lineWatch{tx: tx, cmd: cmd, t: t, officeID: officeID, day: day}
	for _, c := range cands {
		k, _, err := loadTicket(ctx, tx, t, c.id)
		if err != nil {
			return err
		}
		if !c.known {
			// First sight of a checked-in booking's ticket (a check-in
			// does not run notifyLine, so this may be the command that
			// calls it): nothing told yet.
			if _, err := tx.ExecContext(ctx, `INSERT INTO queue_appio_tickets (tenant, ticket_id, fiscal_code, lang, near_sent, called_sent)
				VALUES (?, ?, ?, ?, 0, 0)`, t, k.ID, c.fiscalCode, normLang(c.lang)); err != nil {
				return fmt.Errorf("record App IO of %s: %w", k.Number, err)
			}
		}
		d, err := lw.due(k, c.nearSent, c.calledSent)
		if err != nil {
			return err
		}
		if d.kind == "" {
			continue
		}
		if d.kind == noticeNear && d.quiet {
			if _, err := tx.ExecContext(ctx, `UPDATE queue_appio_tickets SET near_sent = ? WHERE tenant = ? AND ticket_id = ?`,
				nearEpoch(k), t, k.ID); err != nil {
				return err
			}
			continue
		}
		keyService, tenantName, tz, ok, err := appIOSettingFor(ctx, tx, t, officeID, k.ServiceID)
		if err != nil {
			return err
		}
		if ok {
			n := AppIOTicketNotice{Kind: d.kind, Tenant: t, TenantName: tenantName, TimeZone: tz, OfficeID: officeID,
				KeyService: keyService, Office: officeID, FiscalCode: c.fiscalCode, Lang: normLang(c.lang), TicketID: k.ID,
				Number: k.Number, Position: d.pos, At: cmd.Time.UTC().Truncate(time.Second)}
			if d.kind == noticeCalled {
				n.Desk, n.Recall = deskLabel(ctx, tx, t, k.Desk), k.Recalls > 0
			}
			if err := tx.QueryRowContext(ctx, `SELECT name, address FROM booking_offices WHERE tenant = ? AND id = ?`,
				t, officeID).Scan(&n.Office, &n.Address); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("office of App IO message: %w", err)
			}
			payload, err := json.Marshal(n)
			if err != nil {
				return err
			}
			key := "queue-appio/" + string(t) + "/" + k.ID + "/" + string(d.kind) + "/" + d.instance
			if err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: AppIOOutboxKind, Key: key, Payload: payload}); err != nil {
				return err
			}
		}
		set := `near_sent = ?`
		args := []any{nearEpoch(k)}
		if d.kind == noticeCalled {
			set += `, called_sent = ?`
			args = append(args, unixOf(k.Called))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE queue_appio_tickets SET `+set+` WHERE tenant = ? AND ticket_id = ?`,
			append(args, t, k.ID)...); err != nil {
			return fmt.Errorf("record App IO notice of %s: %w", k.Number, err)
		}
	}
	return nil
}

// appIOCandidates returns the waiting and called tickets of the line
// that are linked to a codice fiscale: subscribed ones, and those of a
// checked-in booking that has one.
func appIOCandidates(ctx context.Context, tx *sql.Tx, t tenant.ID, officeID, day string) ([]appIOCandidate, error) {
	rows, err := tx.QueryContext(ctx, `SELECT k.id, a.ticket_id IS NOT NULL,
		COALESCE(NULLIF(a.fiscal_code, ''), b.fiscal_code, ''), COALESCE(a.lang, b.lang, ''),
		COALESCE(a.near_sent, 0), COALESCE(a.called_sent, 0)
		FROM queue_tickets k
		LEFT JOIN queue_appio_tickets a ON a.tenant = k.tenant AND a.ticket_id = k.id
		LEFT JOIN booking_bookings b ON b.tenant = k.tenant AND k.booking_code <> '' AND b.code = k.booking_code
		WHERE k.tenant = ? AND k.office_id = ? AND k.day = ? AND k.state IN (?, ?)
		ORDER BY k.seq`, t, officeID, day, Waiting, Called)
	if err != nil {
		return nil, fmt.Errorf("App IO tickets of %s: %w", officeID, err)
	}
	defer rows.Close()
	var out []appIOCandidate
	for rows.Next() {
		var c appIOCandidate
		if err := rows.Scan(&c.id, &c.known, &c.fiscalCode, &c.lang, &c.nearSent, &c.calledSent); err != nil {
			return nil, err
		}
		if c.fiscalCode != "" {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// appIOSettingFor returns which setting sends a ticket's messages: the
// service's when the office has one on for it, else the office's.
func appIOSettingFor(ctx context.Context, tx *sql.Tx, t tenant.ID, officeID, serviceID string) (keyService, tenantName, tz string, ok bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT service_id, tenant_name, time_zone FROM queue_appio
		WHERE tenant = ? AND office_id = ? AND service_id IN (?, '') AND enabled AND sealed_key <> ''
		ORDER BY service_id DESC LIMIT 1`, t, officeID, serviceID).Scan(&keyService, &tenantName, &tz)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", "", false, nil
	}
	if err != nil {
		return "", "", "", false, fmt.Errorf("App IO setting of %s: %w", officeID, err)
	}
	return keyService, tenantName, tz, true, nil
}

// SaveAppIO sets the App IO channel of an office of Comune t (serviceID
// "") or of one of its services. apiKey "" keeps the stored key; clear
// forgets it. The key is sealed here, in the proposer, so the log, the
// state and its backups hold only the sealed form.
func (q *Queue) SaveAppIO(ctx context.Context, t tenant.Tenant, officeID, serviceID, apiKey string, enabled, clear bool, sealer appio.Sealer) (uint64, error) {
	if officeID == "" {
		return 0, &ValidationError{Fields: map[string]string{"office_id": "Scegli l'ufficio."}}
	}
	p := appIOSavePayload{OfficeID: officeID, ServiceID: serviceID, Enabled: enabled, Clear: clear,
		TenantName: t.Name, TimeZone: t.TimeZone}
	if k := strings.TrimSpace(apiKey); k != "" && !clear {
		if len(k) > 200 || strings.ContainsAny(k, " \t\r\n") {
			return 0, &ValidationError{Fields: map[string]string{"api_key": "La chiave API non è valida: copiala senza spazi dal portale di App IO."}}
		}
		q.rndMu.Lock()
		sealed, err := sealer.Seal(q.rnd, string(t.ID), appIOSealService(officeID, serviceID), k)
		q.rndMu.Unlock()
		if err != nil {
			return 0, err
		}
		p.Sealed = sealed
	}
	res, err := q.propose(ctx, CmdAppIOSave, t.ID, p)
	if err != nil {
		return 0, fmt.Errorf("save App IO of %s: %w", officeID, err)
	}
	return res.Index, nil
}

// AppIO returns the App IO setting of an office (serviceID "") or of one
// of its services.
func (q *Queue) AppIO(ctx context.Context, t tenant.ID, officeID, serviceID string) (AppIOSetting, error) {
	var s AppIOSetting
	var sealed string
	err := q.db.QueryRowContext(ctx, `SELECT sealed_key, enabled FROM queue_appio WHERE tenant = ? AND office_id = ? AND service_id = ?`,
		t, officeID, serviceID).Scan(&sealed, &s.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return AppIOSetting{}, nil
	}
	if err != nil {
		return AppIOSetting{}, fmt.Errorf("load App IO of %s: %w", officeID, err)
	}
	s.HasKey = sealed != ""
	return s, nil
}

// SubscribeAppIO links the ticket id (whose secret the citizen holds) to
// their codice fiscale, so that its notices reach their IO app when the
// office has the channel on. lang is the language of the page.
func (q *Queue) SubscribeAppIO(ctx context.Context, t tenant.ID, id, secret, fiscalCode, lang string) error {
	cf := strings.ToUpper(strings.TrimSpace(fiscalCode))
	if !booking.ValidFiscalCode(cf) {
		return &ValidationError{Fields: map[string]string{"fiscal_code": "Il codice fiscale non è valido: controlla le 16 lettere e cifre."}}
	}
	_, err := q.propose(ctx, CmdAppIOSubscribe, t, appIOSubscribePayload{TicketID: id, SecretHash: hashSecret(secret),
		FiscalCode: cf, Lang: normLang(lang)})
	return err
}

// appIOTexts are the words of the queue's App IO messages in one
// language. App IO wants a subject of 10–120 characters and a body of at
// least 80: the bodies say where and what to do, and end with the
// Comune's name.
type appIOTexts struct {
	nearSubject, calledSubject, recallSubject string
	nearBody, calledBody                      string
	position                                  string
}

var appIOQueueLangs = map[string]appIOTexts{
	"it": {
		nearSubject: "Manca poco al tuo turno: biglietto %s", calledSubject: "È il tuo turno: biglietto %s",
		recallSubject: "Ti stiamo chiamando di nuovo: biglietto %s",
		nearBody:      "Il tuo turno con il biglietto **%s** all'ufficio **%s** si avvicina.\n\n%s\n\nAvvicinati allo sportello e tieni d'occhio lo schermo delle chiamate.\n\n",
		calledBody:    "È il tuo turno: il biglietto **%s** è chiamato a **%s**, ufficio **%s**.\n\nPresentati ora allo sportello indicato.\n\n",
		position:      "Prima di te: %d.",
	},
	"en": {
		nearSubject: "Your turn is coming up: ticket %s", calledSubject: "It's your turn: ticket %s",
		recallSubject: "We are calling you again: ticket %s",
		nearBody:      "Your turn with ticket **%s** at the office **%s** is coming up.\n\n%s\n\nPlease come near the desks and watch the call screen.\n\n",
		calledBody:    "It's your turn: ticket **%s** is called to **%s**, office **%s**.\n\nPlease go to that desk now.\n\n",
		position:      "People before you: %d.",
	},
	"de": {
		nearSubject: "Sie sind bald an der Reihe: Nummer %s", calledSubject: "Sie sind an der Reihe: Nummer %s",
		recallSubject: "Wir rufen Sie erneut auf: Nummer %s",
		nearBody:      "Ihre Nummer **%s** im Amt **%s** ist bald an der Reihe.\n\n%s\n\nBitte kommen Sie in die Nähe der Schalter und achten Sie auf den Aufrufbildschirm.\n\n",
		calledBody:    "Sie sind an der Reihe: Nummer **%s** wird an **%s** aufgerufen, Amt **%s**.\n\nBitte gehen Sie jetzt zu diesem Schalter.\n\n",
		position:      "Vor Ihnen: %d.",
	},
}

// ComposeAppIO writes n as an App IO message: subject and body in the
// citizen's language, due date the event plus appIODueIn.
func ComposeAppIO(n AppIOTicketNotice) appio.Message {
	tx, ok := appIOQueueLangs[normLang(n.Lang)]
	if !ok {
		tx = appIOQueueLangs["it"]
	}
	office := n.Office
	if n.Address != "" {
		office += ", " + n.Address
	}
	var subject, md string
	switch n.Kind {
	case noticeCalled:
		subject = fmt.Sprintf(tx.calledSubject, n.Number)
		if n.Recall {
			subject = fmt.Sprintf(tx.recallSubject, n.Number)
		}
		desk := n.Desk
		if desk == "" {
			desk = "—"
		}
		md = fmt.Sprintf(tx.calledBody, n.Number, desk, office)
	default:
		md = fmt.Sprintf(tx.nearBody, n.Number, office, fmt.Sprintf(tx.position, n.Position))
		subject = fmt.Sprintf(tx.nearSubject, n.Number)
	}
	md += n.TenantName
	if r := []rune(subject); len(r) > appio.MaxSubject {
		subject = string(r[:appio.MaxSubject-1]) + "…"
	}
	return appio.Message{FiscalCode: n.FiscalCode, Subject: subject, Markdown: md, DueDate: n.At.Add(appIODueIn)}
}

// AppIODeliverer delivers AppIOOutboxKind items: it opens the key of the
// setting the notice names with the Sealer that sealer returns (called
// at each delivery, so a node may read its secrets.key after registering
// the deliverer; a zero Sealer fails the delivery, which the outbox
// retries), checks the profile and then sends through client. A setting
// turned off since, a citizen without a profile or who does not allow the
// service, and a notice older than appIOStale are skipped; 429, 5xx and
// network errors are returned, so the outbox tries again later. now is
// the clock that judges staleness.
func AppIODeliverer(q *Queue, client *appio.Client, sealer func() appio.Sealer, now func() time.Time, log *slog.Logger) cluster.Deliverer {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n AppIOTicketNotice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode App IO message %s: %w", m.Key, err)
		}
		attrs := []any{"tenant", n.Tenant, "office", n.OfficeID, "kind", n.Kind}
		if now().Sub(n.At) > appIOStale {
			log.Info("App IO message skipped: too late to be useful", attrs...)
			return nil
		}
		var sealed string
		var enabled bool
		err := q.db.QueryRowContext(ctx, `SELECT sealed_key, enabled FROM queue_appio WHERE tenant = ? AND office_id = ? AND service_id = ?`,
			n.Tenant, n.OfficeID, n.KeyService).Scan(&sealed, &enabled)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (!enabled || sealed == "")) {
			log.Info("App IO message skipped: channel off", attrs...)
			return nil
		}
		if err != nil {
			return fmt.Errorf("App IO key of %s: %w", n.OfficeID, err)
		}
		key, err := sealer().Open(string(n.Tenant), appIOSealService(n.OfficeID, n.KeyService), sealed)
		if err != nil {
			return err
		}
		id, err := client.Send(ctx, key, ComposeAppIO(n))
		switch {
		case errors.Is(err, appio.ErrNoProfile):
			log.Info("App IO message skipped: no profile", attrs...)
			return nil
		case errors.Is(err, appio.ErrNotAllowed):
			log.Info("App IO message skipped: service not allowed by the citizen", attrs...)
			return nil
		case err != nil:
			return err
		}
		log.Info("App IO message sent", append(attrs, "message", id, "attempt", strconv.Itoa(m.Attempts+1))...)
		return nil
	}
}
