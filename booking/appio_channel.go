package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/tenant"
)

// App IO as a notification channel (issue 11): per Comune and per
// service, with the service's own API key, for the confirmation of a
// booking, its reminders and a waiting list's "it's your turn". Only
// bookings and entries that carry a codice fiscale get one. Apply queues
// an AppIONotice (AppIOOutboxKind) beside the email, in the same
// transaction, when the service has the channel on; the leader's
// AppIODeliverer opens the service's sealed key, checks the profile,
// sends, and retries 429 and 5xx through the outbox. A 404 profile is
// remembered (booking.appio.noprofile) so that the next messages to that
// citizen are not even queued for a while.

// AppIOOutboxKind is the outbox kind of App IO messages.
const AppIOOutboxKind = "booking.appio"

// Command types of the App IO channel.
const (
	CmdAppIOSave      = "booking.appio.save"
	CmdAppIONoProfile = "booking.appio.noprofile"
)

// noProfileFor is how long a 404 profile is believed: a citizen may
// install the app later.
const noProfileFor = 30 * 24 * time.Hour

// AppIOKind says what an App IO message tells.
type AppIOKind string

// The App IO messages.
const (
	AppIOConfirm  AppIOKind = "confirm"
	AppIOReminder AppIOKind = "reminder"
	AppIOOffer    AppIOKind = "offer"
)

// AppIONotice is the frozen content of an App IO message.
type AppIONotice struct {
	Kind AppIOKind `json:"kind"`
	// Ref names what the message is about (booking ID and sequence, or
	// waiting-list entry and seat): with Kind, the outbox key.
	Ref           string    `json:"ref"`
	Tenant        tenant.ID `json:"tenant"`
	TenantName    string    `json:"tenant_name"`
	TimeZone      string    `json:"time_zone"`
	ServiceID     string    `json:"service_id"`
	ServiceName   string    `json:"service_name"`
	OfficeName    string    `json:"office_name"`
	OfficeAddress string    `json:"office_address"`
	FiscalCode    string    `json:"fiscal_code"`
	Lang          string    `json:"lang,omitempty"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	// Due is the message's due date: the appointment, or the end of an
	// offer.
	Due  time.Time `json:"due"`
	Link string    `json:"link,omitempty"`
}

// AppIOSetting is a service's App IO channel as the back office sees
// it: never the key itself.
type AppIOSetting struct {
	Enabled bool
	HasKey  bool
}

// appIOSavePayload is version 1 of booking.appio.save. Sealed "" keeps
// the stored key unless Clear.
type appIOSavePayload struct {
	ServiceID string `json:"service_id"`
	Sealed    string `json:"sealed,omitempty"`
	Clear     bool   `json:"clear,omitempty"`
	Enabled   bool   `json:"enabled"`
}

// appIONoProfilePayload is version 1 of booking.appio.noprofile.
type appIONoProfilePayload struct {
	ServiceID  string `json:"service_id"`
	FiscalCode string `json:"fiscal_code"`
}

func registerAppIO(reg *cluster.Registry) {
	reg.Handle(CmdAppIOSave, payloadVersion, applyAppIOSave)
	reg.Handle(CmdAppIONoProfile, payloadVersion, applyAppIONoProfile)
	// The audit names the service only: the sealed key stays out.
	reg.Describe(CmdAppIOSave, func(cmd cluster.Command) string {
		var p struct {
			ServiceID string `json:"service_id"`
		}
		if idsOf(cmd, &p) != nil {
			return ""
		}
		return summary("service", p.ServiceID)
	})
}

func applyAppIOSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p appIOSavePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if _, err := loadService(ctx, tx, t, p.ServiceID); err != nil {
		return nil, err
	}
	var sealed string
	err := tx.QueryRowContext(ctx, `SELECT sealed_key FROM booking_appio WHERE tenant = ? AND service_id = ?`, t, p.ServiceID).Scan(&sealed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("load App IO of %s: %w", p.ServiceID, err)
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
	_, err = tx.ExecContext(ctx, `INSERT INTO booking_appio (tenant, service_id, sealed_key, enabled) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, service_id) DO UPDATE SET sealed_key = excluded.sealed_key, enabled = excluded.enabled`,
		t, p.ServiceID, sealed, p.Enabled)
	return nil, err
}

func applyAppIONoProfile(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p appIONoProfilePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	_, err := tx.ExecContext(context.Background(), `INSERT INTO booking_appio_noprofile (tenant, service_id, fiscal_code, at_unix)
		VALUES (?, ?, ?, ?) ON CONFLICT (tenant, service_id, fiscal_code) DO UPDATE SET at_unix = excluded.at_unix`,
		cmd.Tenant, p.ServiceID, p.FiscalCode, cmd.Time.Unix())
	return nil, err
}

// enqueueAppIO queues n when its service has the channel on and App IO
// has not said recently that the citizen has no profile. It reads only
// the transaction and cmd.Time.
func enqueueAppIO(tx *sql.Tx, cmd cluster.Command, n AppIONotice) error {
	if n.FiscalCode == "" {
		return nil
	}
	var enabled bool
	err := tx.QueryRowContext(context.Background(), `SELECT enabled FROM booking_appio WHERE tenant = ? AND service_id = ? AND sealed_key <> ''`,
		cmd.Tenant, n.ServiceID).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) || (err == nil && !enabled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("App IO of %s: %w", n.ServiceID, err)
	}
	return enqueueAppIOOn(tx, cmd, n)
}

// enqueueAppIOIf is enqueueAppIO for a caller that read from the
// transaction whether the service has the channel on (booking.create,
// with its configuration): it spares the query.
func enqueueAppIOIf(tx *sql.Tx, cmd cluster.Command, n AppIONotice, enabled bool) error {
	if n.FiscalCode == "" || !enabled {
		return nil
	}
	return enqueueAppIOOn(tx, cmd, n)
}

// enqueueAppIOOn is enqueueAppIO once the channel is known to be on.
func enqueueAppIOOn(tx *sql.Tx, cmd cluster.Command, n AppIONotice) error {
	ctx := context.Background()
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT at_unix FROM booking_appio_noprofile WHERE tenant = ? AND service_id = ? AND fiscal_code = ?`,
		cmd.Tenant, n.ServiceID, n.FiscalCode).Scan(&at)
	if err == nil && cmd.Time.Sub(time.Unix(at, 0)) < noProfileFor {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("App IO profile memory: %w", err)
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("appio/%s/%s/%s", cmd.Tenant, n.Ref, n.Kind)
	return cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: AppIOOutboxKind, Key: key, Payload: payload})
}

// appIOOfNotice is the App IO twin of a booking's email notice.
func appIOOfNotice(kind AppIOKind, n Notice, svcID, fiscalCode string) AppIONotice {
	ref := fmt.Sprintf("%s/%d", n.Booking.ID, n.Sequence)
	if kind == AppIOReminder {
		ref += fmt.Sprintf("/%d", int64(n.Before/time.Minute))
	}
	return AppIONotice{Kind: kind, Ref: ref, Tenant: n.Tenant, TenantName: n.TenantName, TimeZone: n.TimeZone,
		ServiceID: svcID, ServiceName: n.ServiceName, OfficeName: n.OfficeName, OfficeAddress: n.OfficeAddress,
		FiscalCode: fiscalCode, Lang: n.Booking.Lang, Start: n.Booking.Start, End: n.Booking.End,
		Due: n.Booking.Start, Link: n.ManageURL}
}

// SaveAppIO sets a service's App IO channel. apiKey "" keeps the stored
// key; clear forgets it. The key is sealed here, in the proposer, so the
// log, the state and its backups hold only the sealed form.
func (b *Book) SaveAppIO(ctx context.Context, t tenant.ID, serviceID, apiKey string, enabled, clear bool, sealer appio.Sealer) (uint64, error) {
	p := appIOSavePayload{ServiceID: serviceID, Enabled: enabled, Clear: clear}
	if k := strings.TrimSpace(apiKey); k != "" && !clear {
		if len(k) > 200 || strings.ContainsAny(k, " \t\r\n") {
			return 0, &ValidationError{Fields: map[string]string{"api_key": "La chiave API non è valida: copiala senza spazi dal portale di App IO."}}
		}
		b.rndMu.Lock()
		sealed, err := sealer.Seal(b.rnd, string(t), serviceID, k)
		b.rndMu.Unlock()
		if err != nil {
			return 0, err
		}
		p.Sealed = sealed
	}
	res, err := b.propose(ctx, CmdAppIOSave, t, p)
	if err != nil {
		return 0, fmt.Errorf("save App IO of %s: %w", serviceID, err)
	}
	return res.Index, nil
}

// AppIO returns a service's App IO setting.
func (b *Book) AppIO(ctx context.Context, t tenant.ID, serviceID string) (AppIOSetting, error) {
	var s AppIOSetting
	var sealed string
	err := b.db.QueryRowContext(ctx, `SELECT sealed_key, enabled FROM booking_appio WHERE tenant = ? AND service_id = ?`,
		t, serviceID).Scan(&sealed, &s.Enabled)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return AppIOSetting{}, nil
	}
	if err != nil {
		return AppIOSetting{}, fmt.Errorf("load App IO of %s: %w", serviceID, err)
	}
	s.HasKey = sealed != ""
	return s, nil
}

// appIOTexts are the words of App IO messages in one language.
type appIOTexts struct {
	ConfirmSubject, ReminderSubject, OfferSubject string
	ConfirmBody, ReminderBody, OfferBody          string
	Manage, Accept                                string
}

var appIOLangs = map[string]appIOTexts{
	"it": {
		ConfirmSubject: "Appuntamento confermato: %s", ReminderSubject: "Promemoria appuntamento: %s",
		OfferSubject: "È il tuo turno: si è liberato un posto per %s",
		ConfirmBody:  "Il tuo appuntamento per **%s** è confermato.\n\n**Quando:** %s\n\n**Dove:** %s, %s\n\n",
		ReminderBody: "Ti ricordiamo l'appuntamento per **%s**.\n\n**Quando:** %s\n\n**Dove:** %s, %s\n\n",
		OfferBody:    "Eri in lista d'attesa per **%s** e si è liberato un posto.\n\n**Quando:** %s\n\n**Dove:** %s, %s\n\nIl posto è tenuto per te fino alla scadenza di questo messaggio.\n\n",
		Manage:       "[Vedi o modifica la prenotazione](%s)", Accept: "[Conferma o rinuncia](%s)",
	},
	"en": {
		ConfirmSubject: "Appointment confirmed: %s", ReminderSubject: "Appointment reminder: %s",
		OfferSubject: "It's your turn: a place has freed up for %s",
		ConfirmBody:  "Your appointment for **%s** is confirmed.\n\n**When:** %s\n\n**Where:** %s, %s\n\n",
		ReminderBody: "This is a reminder of your appointment for **%s**.\n\n**When:** %s\n\n**Where:** %s, %s\n\n",
		OfferBody:    "You were on the waiting list for **%s** and a place has freed up.\n\n**When:** %s\n\n**Where:** %s, %s\n\nThe place is held for you until this message's due date.\n\n",
		Manage:       "[See or change the booking](%s)", Accept: "[Confirm or decline](%s)",
	},
	"de": {
		ConfirmSubject: "Termin bestätigt: %s", ReminderSubject: "Terminerinnerung: %s",
		OfferSubject: "Sie sind an der Reihe: ein Platz ist frei für %s",
		ConfirmBody:  "Ihr Termin für **%s** ist bestätigt.\n\n**Wann:** %s\n\n**Wo:** %s, %s\n\n",
		ReminderBody: "Wir erinnern Sie an Ihren Termin für **%s**.\n\n**Wann:** %s\n\n**Wo:** %s, %s\n\n",
		OfferBody:    "Sie standen auf der Warteliste für **%s**, und ein Platz ist frei geworden.\n\n**Wann:** %s\n\n**Wo:** %s, %s\n\nDer Platz ist bis zum Fälligkeitsdatum dieser Nachricht für Sie reserviert.\n\n",
		Manage:       "[Buchung ansehen oder ändern](%s)", Accept: "[Bestätigen oder ablehnen](%s)",
	},
}

// ComposeAppIO writes n as an App IO message.
func ComposeAppIO(n AppIONotice) appio.Message {
	lang := NormalizeLang(n.Lang)
	tx := appIOLangs[lang]
	loc := tenant.Tenant{TimeZone: n.TimeZone}.Location()
	when := spanIn(lang, n.Start, n.End, loc)
	subj, body, link := tx.ConfirmSubject, tx.ConfirmBody, tx.Manage
	switch n.Kind {
	case AppIOReminder:
		subj, body = tx.ReminderSubject, tx.ReminderBody
	case AppIOOffer:
		subj, body, link = tx.OfferSubject, tx.OfferBody, tx.Accept
	}
	md := fmt.Sprintf(body, n.ServiceName, when, n.OfficeName, n.OfficeAddress)
	if n.Link != "" {
		md += fmt.Sprintf(link, n.Link) + "\n\n"
	}
	md += n.TenantName
	subject := fmt.Sprintf(subj, n.ServiceName)
	if r := []rune(subject); len(r) > appio.MaxSubject {
		subject = string(r[:appio.MaxSubject-1]) + "…"
	}
	return appio.Message{FiscalCode: n.FiscalCode, Subject: subject, Markdown: md, DueDate: n.Due}
}

// AppIODeliverer delivers AppIOOutboxKind items: it opens the service's
// key with the Sealer that sealer returns (called at each delivery, so a
// node may read its secrets.key after registering the deliverer, which
// must precede Start; a zero Sealer fails the delivery, which the outbox
// retries), checks the profile and sends through client. A
// service whose channel was turned off since is skipped; a citizen who
// does not allow the service is skipped; a 404 profile is skipped and
// remembered; 429, 5xx and network errors are returned, so the outbox
// tries again later.
func AppIODeliverer(book *Book, client *appio.Client, sealer func() appio.Sealer, log *slog.Logger) cluster.Deliverer {
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var n AppIONotice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return fmt.Errorf("decode App IO message %s: %w", m.Key, err)
		}
		var sealed string
		var enabled bool
		err := book.db.QueryRowContext(ctx, `SELECT sealed_key, enabled FROM booking_appio WHERE tenant = ? AND service_id = ?`,
			n.Tenant, n.ServiceID).Scan(&sealed, &enabled)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (!enabled || sealed == "")) {
			log.Info("App IO message skipped: channel off", "tenant", n.Tenant, "service", n.ServiceID, "kind", n.Kind)
			return nil
		}
		if err != nil {
			return fmt.Errorf("App IO key of %s: %w", n.ServiceID, err)
		}
		key, err := sealer().Open(string(n.Tenant), n.ServiceID, sealed)
		if err != nil {
			return err
		}
		msg := ComposeAppIO(n)
		if !msg.DueDate.IsZero() && !msg.DueDate.After(book.now()) {
			// The appointment or the offer is over: the message would
			// be noise.
			return nil
		}
		id, err := client.Send(ctx, key, msg)
		switch {
		case errors.Is(err, appio.ErrNoProfile):
			if _, perr := book.propose(ctx, CmdAppIONoProfile, n.Tenant, appIONoProfilePayload{ServiceID: n.ServiceID, FiscalCode: n.FiscalCode}); perr != nil {
				log.Warn("App IO: could not remember a missing profile", "tenant", n.Tenant, "err", perr)
			}
			log.Info("App IO message skipped: no profile", "tenant", n.Tenant, "service", n.ServiceID, "kind", n.Kind)
			return nil
		case errors.Is(err, appio.ErrNotAllowed):
			log.Info("App IO message skipped: service not allowed by the citizen", "tenant", n.Tenant, "service", n.ServiceID, "kind", n.Kind)
			return nil
		case err != nil:
			return err
		}
		log.Info("App IO message sent", "tenant", n.Tenant, "service", n.ServiceID, "kind", n.Kind, "message", id, "attempt", m.Attempts+1)
		return nil
	}
}
