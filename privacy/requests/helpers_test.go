package requests_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Two Comuni, so that every test can check that one never sees the
// other's rows.
var (
	bari  = tenant.Tenant{ID: "bari", Name: "Comune di Bari", TimeZone: tenant.DefaultTimeZone}
	lecce = tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", TimeZone: tenant.DefaultTimeZone}
)

// defaultFrom is the node's sender (the test Comuni have none).
const defaultFrom = "Sportello <noreply@sportello.example.it>"

func register(r *cluster.Registry) {
	tenant.Register(r)
	booking.Register(r)
	queue.Register(r)
	media.Register(r)
	docs.Register(r)
	privacy.Register(r)
	requests.Register(r)
}

// member is one node with the packages' stores on it.
type member struct {
	node  *cluster.Node
	book  *booking.Book
	queue *queue.Queue
	docs  *docs.Store
	store *requests.Store
	ex    *requests.Exporter
	erase *privacy.Service
}

func newMember(n *cluster.Node, now func() time.Time) member {
	book := booking.NewBook(n, n.DB(), now, rand.Reader)
	q := queue.New(n, n.DB(), book, now, rand.Reader)
	ds := docs.NewStore(n, nil, now)
	st := requests.NewStore(n, n.DB(), now, rand.Reader)
	return member{node: n, book: book, queue: q, docs: ds, store: st,
		ex:    &requests.Exporter{Book: book, Queue: q, Docs: ds, Store: st, DB: n.DB(), Now: now, DocURL: func(id string) string { return "/gestione/privacy/documenti/" + id }},
		erase: privacy.NewService(n, n.DB(), privacy.Options{Now: now})}
}

// newCluster starts n real Raft nodes whose outbox delivers the
// package's emails to a real SMTP server.
func newCluster(t *testing.T, n int) ([]member, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	setup := func(node *cluster.Node) {
		node.HandleOutbox(requests.OutboxKind, requests.EmailDeliverer(sender, defaultFrom, time.Now, clustertest.Logger(t)))
	}
	nodes := clustertest.ClusterWith(t, n, setup, register)
	out := make([]member, len(nodes))
	for i, node := range nodes {
		out[i] = newMember(node, time.Now)
	}
	return out, srv
}

// catchUp waits until m has applied everything from has applied.
func catchUp(t testing.TB, from, m member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.node.WaitApplied(ctx, from.node.AppliedIndex()); err != nil {
		t.Fatalf("wait applied: %v", err)
	}
}

// fiscalCode completes a 15-character stem with its check character.
func fiscalCode(t testing.TB, stem string) string {
	t.Helper()
	odd := map[rune]int{'0': 1, '1': 0, '2': 5, '3': 7, '4': 9, '5': 13, '6': 15, '7': 17, '8': 19, '9': 21,
		'A': 1, 'B': 0, 'C': 5, 'D': 7, 'E': 9, 'F': 13, 'G': 15, 'H': 17, 'I': 19, 'J': 21, 'K': 2, 'L': 4, 'M': 18,
		'N': 20, 'O': 11, 'P': 3, 'Q': 6, 'R': 8, 'S': 12, 'T': 14, 'U': 16, 'V': 10, 'W': 22, 'X': 25, 'Y': 24, 'Z': 23}
	sum := 0
	for i, r := range stem {
		if i%2 == 0 {
			sum += odd[r]
		} else if r >= '0' && r <= '9' {
			sum += int(r - '0')
		} else {
			sum += int(r - 'A')
		}
	}
	cf := stem + string(rune('A'+sum%26))
	if !booking.ValidFiscalCode(cf) {
		t.Fatalf("test fiscal code %s is not valid", cf)
	}
	return cf
}

// anagrafe gives Comune tn an office open every day all day, with a
// service, and an always-open queue.
func anagrafe(t *testing.T, m member, tn tenant.ID) (booking.Office, booking.Service) {
	t.Helper()
	ctx := context.Background()
	var w booking.Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		w[d] = []booking.Interval{{Start: 0, End: 24*60 - 30}}
	}
	o, err := m.book.SaveOffice(ctx, tn, booking.Office{Name: "Anagrafe", Address: "Piazza del Municipio 1", Hours: w})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	s, err := m.book.SaveService(ctx, tn, booking.Service{OfficeID: o.ID, Name: "Carta d'identità elettronica",
		Description: "Rilascio della CIE.", Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson, booking.Video},
		Capacity: 5, HorizonDays: 30, MaxActivePerCitizen: 5})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	if err := m.queue.Configure(ctx, tn, queue.OfficeConfig{OfficeID: o.ID, AlwaysOpen: true, Sample: queue.DefaultSample, EarlyCheckIn: queue.DefaultEarlyCheckIn, LateCheckIn: queue.DefaultLateCheckIn, MaxPerDevice: 50, MaxPerIP: 50, NotifyAhead: 3}); err != nil {
		t.Fatalf("Configure queue: %v", err)
	}
	return o, s
}

// bookSlot books the n-th free slot of svc for c.
func bookSlot(t *testing.T, m member, tn tenant.Tenant, svc booking.Service, n int, c booking.Citizen, details string) booking.Booking {
	t.Helper()
	return bookSlotCreated(t, m, tn, svc, n, c, details).Booking
}

// bookSlotCreated is bookSlot with the manage token.
func bookSlotCreated(t *testing.T, m member, tn tenant.Tenant, svc booking.Service, n int, c booking.Citizen, details string) booking.Created {
	t.Helper()
	ctx := context.Background()
	today := time.Now().In(tn.Location())
	from := civil.DateOf(today.AddDate(0, 0, 1))
	slots, err := m.book.Slots(ctx, tn, svc.ID, from, civil.DateOf(today.AddDate(0, 0, 8)))
	if err != nil {
		t.Fatalf("Slots: %v", err)
	}
	var free []booking.Slot
	for _, s := range slots {
		if s.Remaining > 0 {
			free = append(free, s)
		}
	}
	if len(free) <= n {
		t.Fatalf("only %d free slots", len(free))
	}
	created, err := m.book.Create(ctx, tn, booking.Request{ServiceID: svc.ID, Start: free[n].Start, Channel: booking.InPerson,
		Citizen: c, Details: details, PrivacyAccepted: true}, "https://"+string(tn.ID)+".example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return created
}

// sentEmail is a received message, decoded.
type sentEmail struct {
	to, subject, text string
}

func decodeEmail(t *testing.T, m smtptest.Message) sentEmail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	e := sentEmail{to: strings.Join(m.To, ",")}
	if e.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			e.text = string(b)
		}
	}
	return e
}

// waitMail waits for a message to addr whose subject contains subject.
func waitMail(t *testing.T, srv *smtptest.Server, addr, subject string) sentEmail {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range srv.Messages() {
			e := decodeEmail(t, m)
			if e.to == addr && strings.Contains(e.subject, subject) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no email %q to %s", subject, addr)
	return sentEmail{}
}

var linkRE = regexp.MustCompile(`https?://\S+/privacy/richiesta/([A-Za-z0-9_-]+)`)

// tokenOf returns the token of the link in an email.
func tokenOf(t *testing.T, e sentEmail) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(e.text)
	if m == nil {
		t.Fatalf("email has no link:\n%s", e.text)
	}
	return m[1]
}
