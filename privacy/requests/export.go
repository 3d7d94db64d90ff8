package requests

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// ExportFormat names the JSON layout of Export; a change that is not an
// addition gets a new number.
const ExportFormat = "sportello-privacy-export/1"

// Scopes of an export.
const (
	// ScopeOperator: an operator searched a codice fiscale and/or an
	// email address.
	ScopeOperator = "operator"
	// ScopeCitizen: the citizen verified an email address by link; only
	// the data tied to that address is included.
	ScopeCitizen = "citizen"
)

// Export is everything the Comune's Sportello holds about one citizen,
// as the JSON download gives it (fields documented in DESIGN.md,
// "Export format"). Every list is present, possibly empty; times are
// RFC 3339 in the Comune's zone.
type Export struct {
	Format    string           `json:"format"`
	Comune    ExportComune     `json:"comune"`
	Subject   Subject          `json:"subject"`
	Scope     string           `json:"scope"`
	Generated time.Time        `json:"generated"`
	Bookings  []ExportBooking  `json:"bookings"`
	Tickets   []ExportTicket   `json:"tickets"`
	Waitlist  []ExportWaiting  `json:"waiting_lists"`
	Documents []ExportDocument `json:"documents"`
	Push      []ExportPush     `json:"push_subscriptions"`
	Emails    []ExportEmail    `json:"emails"`
	Audit     []ExportAudit    `json:"audit"`
	Requests  []Request        `json:"requests"`
}

// ExportComune names the Comune that holds the data.
type ExportComune struct {
	ID   tenant.ID `json:"id"`
	Name string    `json:"name"`
}

// ExportBooking is a booking with the office's record of it. Notes are
// the office's internal notes about the appointment (their authors are
// left out: they are the staff's data, not the citizen's).
type ExportBooking struct {
	ID          string       `json:"id"`
	Code        string       `json:"code"`
	ServiceID   string       `json:"service_id"`
	Service     string       `json:"service"`
	OfficeID    string       `json:"office_id"`
	Start       time.Time    `json:"start"`
	End         time.Time    `json:"end"`
	Channel     string       `json:"channel"`
	Status      string       `json:"status"`
	Outcome     string       `json:"outcome"`
	GivenName   string       `json:"given_name"`
	FamilyName  string       `json:"family_name"`
	FiscalCode  string       `json:"fiscal_code"`
	Email       string       `json:"email"`
	Phone       string       `json:"phone,omitempty"`
	Details     string       `json:"details,omitempty"`
	Lang        string       `json:"lang"`
	Created     time.Time    `json:"created"`
	Updated     time.Time    `json:"updated"`
	ArrivedAt   time.Time    `json:"arrived_at,omitzero"`
	OutcomeAt   time.Time    `json:"outcome_at,omitzero"`
	OutcomeNote string       `json:"outcome_note,omitempty"`
	CancelledAt time.Time    `json:"cancelled_by_office_at,omitzero"`
	CancelNote  string       `json:"cancel_reason,omitempty"`
	Notes       []ExportNote `json:"notes"`
}

// ExportNote is an internal note of the office.
type ExportNote struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// ExportTicket is a queue ticket of the citizen.
type ExportTicket struct {
	ID          string    `json:"id"`
	Number      string    `json:"number"`
	OfficeID    string    `json:"office_id"`
	ServiceID   string    `json:"service_id,omitempty"`
	Day         string    `json:"day"`
	Channel     string    `json:"channel"`
	State       string    `json:"state"`
	BookingCode string    `json:"booking_code,omitempty"`
	Email       string    `json:"email,omitempty"`
	Taken       time.Time `json:"taken"`
	Called      time.Time `json:"called,omitzero"`
	Done        time.Time `json:"done,omitzero"`
}

// ExportWaiting is one of the citizen's waiting-list entries (waiting,
// offered a seat, or closed and not yet removed by the retention), with
// the contacts they left; the entry's secret token is not part of it.
type ExportWaiting struct {
	ID         string    `json:"id"`
	ServiceID  string    `json:"service_id"`
	Service    string    `json:"service"`
	GivenName  string    `json:"given_name"`
	FamilyName string    `json:"family_name"`
	FiscalCode string    `json:"fiscal_code,omitempty"`
	Email      string    `json:"email"`
	Phone      string    `json:"phone,omitempty"`
	Days       []string  `json:"days"`
	Lang       string    `json:"lang"`
	Status     string    `json:"status"`
	Joined     time.Time `json:"joined"`
	// OfferStart and OfferExpires describe the seat held for the entry
	// while Status is "offered".
	OfferStart   time.Time `json:"offer_start,omitzero"`
	OfferExpires time.Time `json:"offer_expires,omitzero"`
}

// ExportDocument is a document exchanged in a call about one of the
// citizen's bookings or tickets; the file itself is not in the JSON. URL
// is the operator's download link (operator scope only).
type ExportDocument struct {
	ID       string    `json:"id"`
	Ref      string    `json:"ref"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	From     string    `json:"from,omitempty"`
	Uploaded time.Time `json:"uploaded"`
	Expires  time.Time `json:"expires"`
	URL      string    `json:"url,omitempty"`
}

// ExportPush is one browser subscribed to notifications of a record:
// only the host of its push service.
type ExportPush struct {
	Record string `json:"record"`
	Host   string `json:"host"`
}

// ExportEmail is one email queued for the citizen (sent or not): what it
// was about, not its text.
type ExportEmail struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"`
	About  string    `json:"about"`
	Record string    `json:"record,omitempty"`
	Status string    `json:"status"`
	Queued time.Time `json:"queued"`
	Sent   time.Time `json:"sent,omitzero"`
}

// ExportAudit is an audit-log entry that names one of the citizen's
// records (the log never holds their personal data, only the IDs).
type ExportAudit struct {
	At      time.Time `json:"at"`
	Type    string    `json:"type"`
	Summary string    `json:"summary"`
	Actor   string    `json:"actor"`
}

// Documents lists a record's documents: *docs.Store.
type Documents interface {
	ListRef(ctx context.Context, t tenant.ID, ref string) ([]docs.Document, error)
}

// Exporter gathers a citizen's data from every package of the node.
type Exporter struct {
	Book  *booking.Book
	Queue *queue.Queue
	// Docs may be nil (calls off): no documents then.
	Docs  Documents
	Store *Store
	// DB is the node's read pool, for the outbox and the audit log.
	DB  *sql.DB
	Now func() time.Time
	// DocURL, when set, makes the operator's download link of a
	// document.
	DocURL func(id string) string
}

// Export returns everything about who in the Comune t. scope is
// ScopeOperator or ScopeCitizen; a citizen's export must be called with
// the verified email only. Nothing of another Comune or another citizen
// is read: every query names t and matches the subject exactly.
func (e *Exporter) Export(ctx context.Context, t tenant.Tenant, who Subject, scope string) (Export, error) {
	who = who.Normalize()
	if who.FiscalCode == "" && who.Email == "" {
		return Export{}, ErrNoSubject
	}
	loc := t.Location()
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	out := Export{Format: ExportFormat, Comune: ExportComune{ID: t.ID, Name: t.Name}, Subject: who, Scope: scope,
		Generated: now().In(loc).Truncate(time.Second),
		Bookings:  []ExportBooking{}, Tickets: []ExportTicket{}, Waitlist: []ExportWaiting{}, Documents: []ExportDocument{}, Push: []ExportPush{},
		Emails: []ExportEmail{}, Audit: []ExportAudit{}, Requests: []Request{}}
	// ids are the identifiers of the citizen's records: the outbox and
	// the audit log name records by them.
	ids := map[string]string{}
	bks, err := e.Book.CitizenBookings(ctx, t, who.FiscalCode, who.Email)
	if err != nil {
		return Export{}, err
	}
	var codes []string
	for _, cb := range bks {
		b, h := cb.Booking, cb.Handling
		eb := ExportBooking{ID: b.ID, Code: b.Code, ServiceID: b.ServiceID, Service: cb.ServiceName, OfficeID: b.OfficeID,
			Start: b.Start.In(loc), End: b.End.In(loc), Channel: string(b.Channel), Status: string(b.Status), Outcome: cb.State(),
			GivenName: b.Citizen.GivenName, FamilyName: b.Citizen.FamilyName, FiscalCode: b.Citizen.FiscalCode,
			Email: b.Citizen.Email, Phone: b.Citizen.Phone, Details: b.Details, Lang: b.Lang,
			Created: b.Created.In(loc), Updated: b.Updated.In(loc),
			ArrivedAt: inLoc(h.ArrivedAt, loc), OutcomeAt: inLoc(h.OutcomeAt, loc), OutcomeNote: h.OutcomeNote,
			CancelledAt: inLoc(h.CancelledAt, loc), CancelNote: h.CancelReason, Notes: []ExportNote{}}
		for _, n := range cb.Notes {
			eb.Notes = append(eb.Notes, ExportNote{At: n.At.In(loc), Text: n.Text})
		}
		out.Bookings = append(out.Bookings, eb)
		for _, host := range cb.PushHosts {
			out.Push = append(out.Push, ExportPush{Record: "booking:" + b.Code, Host: host})
		}
		ids[b.ID] = "booking:" + b.Code
		ids[b.Code] = "booking:" + b.Code
		codes = append(codes, b.Code)
	}
	if out.Waitlist, err = e.waitlist(ctx, t, who, ids); err != nil {
		return Export{}, err
	}
	var tickets []queue.CitizenTicket
	if e.Queue != nil {
		if tickets, err = e.Queue.CitizenTickets(ctx, t.ID, who.Email, codes); err != nil {
			return Export{}, err
		}
	}
	for _, k := range tickets {
		out.Tickets = append(out.Tickets, ExportTicket{ID: k.ID, Number: k.Number, OfficeID: k.OfficeID, ServiceID: k.ServiceID,
			Day: k.Day, Channel: string(k.Channel), State: string(k.State), BookingCode: k.BookingCode, Email: k.Email,
			Taken: inLoc(k.Taken, loc), Called: inLoc(k.Called, loc), Done: inLoc(k.Done, loc)})
		for _, host := range k.PushHosts {
			out.Push = append(out.Push, ExportPush{Record: "ticket:" + k.Number + " " + k.Day, Host: host})
		}
		ids[k.ID] = "ticket:" + k.ID
	}
	if e.Docs != nil {
		var refs []string
		for _, b := range bks {
			refs = append(refs, "booking:"+b.Booking.ID)
		}
		for _, k := range tickets {
			refs = append(refs, "ticket:"+k.ID)
		}
		for _, ref := range refs {
			ds, err := e.Docs.ListRef(ctx, t.ID, ref)
			if err != nil {
				return Export{}, err
			}
			for _, d := range ds {
				ed := ExportDocument{ID: d.ID, Ref: d.Ref, Name: d.Name, Type: d.Type, Size: d.Size, SHA256: d.SHA256,
					From: d.From, Uploaded: d.Uploaded.In(loc), Expires: d.Expires.In(loc)}
				if scope == ScopeOperator && e.DocURL != nil {
					ed.URL = e.DocURL(d.ID)
				}
				out.Documents = append(out.Documents, ed)
				ids[d.ID] = d.Ref
			}
		}
	}
	reqs, err := e.Store.RequestsAbout(ctx, t.ID, who)
	if err != nil {
		return Export{}, err
	}
	for _, r := range reqs {
		r.Filed, r.Decided = r.Filed.In(loc), inLoc(r.Decided, loc)
		out.Requests = append(out.Requests, r)
		ids[r.ID] = "request:" + r.ID
	}
	if out.Emails, err = e.emails(ctx, t.ID, who, ids, loc); err != nil {
		return Export{}, err
	}
	if out.Audit, err = e.audit(ctx, t.ID, ids, loc); err != nil {
		return Export{}, err
	}
	return out, nil
}

// waitlist lists the citizen's waiting-list entries (matched exactly on
// the codice fiscale or the email, as the bookings are) and adds their
// IDs to ids: the emails of an offer and the audit log name an entry by
// its ID.
func (e *Exporter) waitlist(ctx context.Context, t tenant.Tenant, who Subject, ids map[string]string) ([]ExportWaiting, error) {
	out := []ExportWaiting{}
	entries, err := e.Book.CitizenWaitlist(ctx, t.ID, who.FiscalCode, who.Email)
	if err != nil {
		return nil, err
	}
	loc := t.Location()
	names := map[string]string{}
	for _, w := range entries {
		name, ok := names[w.ServiceID]
		if !ok {
			// A service deleted since keeps its ID in the export.
			if svc, err := e.Book.Service(ctx, t.ID, w.ServiceID); err == nil {
				name = svc.Name
			}
			names[w.ServiceID] = name
		}
		ew := ExportWaiting{ID: w.ID, ServiceID: w.ServiceID, Service: name, GivenName: w.Citizen.GivenName,
			FamilyName: w.Citizen.FamilyName, FiscalCode: w.Citizen.FiscalCode, Email: w.Citizen.Email,
			Phone: w.Citizen.Phone, Days: []string{}, Lang: w.Lang, Status: string(w.Status), Joined: inLoc(w.Joined, loc)}
		for _, d := range w.Days {
			ew.Days = append(ew.Days, strings.ToLower(d.String()))
		}
		if w.Offer != nil {
			ew.OfferStart, ew.OfferExpires = inLoc(w.Offer.Start, loc), inLoc(w.Offer.Expires, loc)
		}
		out = append(out, ew)
		ids[w.ID] = "waitlist:" + w.ID
	}
	return out, nil
}

func inLoc(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(loc)
}

// emails reads the Comune's outbox rows (the cluster package's table,
// read-only: it has no per-tenant read function) and keeps those about
// the citizen's records or addressed to them. Keys name the record
// ("booking/<tenant>/<id>/…", "queue/<tenant>/<ticket>/…"); the
// package's own emails and the queue's carry the address in the payload.
func (e *Exporter) emails(ctx context.Context, t tenant.ID, who Subject, ids map[string]string, loc *time.Location) ([]ExportEmail, error) {
	rows, err := e.DB.QueryContext(ctx, `SELECT id, kind, key, payload, status, created, coalesce(sent, 0)
		FROM cluster_outbox WHERE tenant = ? ORDER BY created, id`, string(t))
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	out := []ExportEmail{}
	for rows.Next() {
		var id, kind, key, status string
		var payload []byte
		var created, sent int64
		if err := rows.Scan(&id, &kind, &key, &payload, &status, &created, &sent); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		parts := strings.Split(key, "/")
		record := ""
		if len(parts) >= 3 && parts[1] == string(t) {
			record = ids[parts[2]]
		}
		var p struct {
			Kind  string `json:"kind"`
			Email string `json:"email"`
			To    string `json:"to"`
		}
		_ = json.Unmarshal(payload, &p)
		addr := strings.ToLower(strings.TrimSpace(p.Email + p.To))
		if record == "" && (who.Email == "" || addr != who.Email) {
			continue
		}
		ee := ExportEmail{ID: id, Kind: kind, About: p.Kind, Record: record, Status: status, Queued: time.Unix(0, created).In(loc)}
		if sent != 0 {
			ee.Sent = time.Unix(0, sent).In(loc)
		}
		out = append(out, ee)
	}
	return out, rows.Err()
}

// audit reads the Comune's audit log and keeps the entries whose summary
// names one of the citizen's records.
func (e *Exporter) audit(ctx context.Context, t tenant.ID, ids map[string]string, loc *time.Location) ([]ExportAudit, error) {
	out := []ExportAudit{}
	if len(ids) == 0 {
		return out, nil
	}
	var before int64
	for {
		page, err := cluster.ReadAudit(ctx, e.DB, string(t), cluster.AuditFilter{Before: before, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		for _, a := range page {
			if namesAny(a.Summary, ids) {
				out = append(out, ExportAudit{At: a.Time.In(loc), Type: a.Type, Summary: a.Summary, Actor: a.Actor.Name})
			}
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].ID
	}
	// Oldest first, as the rest of the export.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// namesAny reports whether summary names one of ids as a whole token
// ("booking=ab12" names ab12, not ab1).
func namesAny(summary string, ids map[string]string) bool {
	for _, tok := range strings.FieldsFunc(summary, func(r rune) bool {
		return r == ' ' || r == '=' || r == ',' || r == ':' || r == ';' || r == '/'
	}) {
		if _, ok := ids[tok]; ok {
			return true
		}
	}
	return false
}
