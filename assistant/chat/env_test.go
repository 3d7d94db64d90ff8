package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// rome is the Comuni's zone.
var rome = tenant.Tenant{}.Location()

// testNow is Monday 1 March 2027, 10:00 in Rome: the offices (Monday to
// Friday 8:30–12:30) are open and their queues take tickets.
var testNow = time.Date(2027, 3, 1, 10, 0, 0, 0, rome)

const testBase = "https://bari.example.it"

// testTenant is a Comune for the tests without a cluster.
var testTenant = tenant.Tenant{ID: "bari", Name: "Comune di Bari"}

// demoCatalogues is the test's stand-in for knowledge.Store: it builds
// the catalogue from the Comune's real offices and services in the
// booking tables, with the demo's synonyms and the test's FAQ, once per
// Comune (knowledge.Store caches it likewise).
type demoCatalogues struct {
	book *booking.Book
	faq  []knowledge.FAQ
	mu   sync.Mutex
	m    map[tenant.ID]*knowledge.Catalogue
}

func (d *demoCatalogues) Catalogue(ctx context.Context, t tenant.Tenant) (*knowledge.Catalogue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.m[t.ID]; ok {
		return c, nil
	}
	offices, err := d.book.Offices(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	syn := map[string][]string{}
	for _, s := range assistant.DemoCatalogue() {
		syn[s.ID] = s.Synonyms
	}
	cat := &knowledge.Catalogue{Services: map[string]booking.Service{}, Offices: map[string]booking.Office{}, FAQ: d.faq}
	var docs []assistant.Doc
	for _, o := range offices {
		cat.Offices[o.ID] = o
		for _, s := range o.Services {
			cat.Services[s.ID] = s
			docs = append(docs, assistant.Doc{ServiceID: s.ID, OfficeID: o.ID, Name: s.Name, OfficeName: o.Name,
				Description: s.Description, Bring: strings.Join(s.WhatToBring, "; "), Synonyms: syn[s.ID]})
		}
	}
	cat.Index = assistant.NewIndex(docs)
	if d.m == nil {
		d.m = map[tenant.ID]*knowledge.Catalogue{}
	}
	d.m[t.ID] = cat
	return cat, nil
}

// env is an engine over a real one-node Raft cluster with booking and the
// queue registered, the demo Comune's catalogue seeded, and the booking
// emails delivered through the outbox to a real SMTP server.
type env struct {
	t      *testing.T
	clock  *clustertest.Clock
	node   *cluster.Node
	book   *booking.Book
	queue  *queue.Queue
	engine *Engine
	smtp   *smtptest.Server
	bari   tenant.Tenant
	lecce  tenant.Tenant
	cats   *demoCatalogues
	// store is the real knowledge.Store over the same node.
	store *knowledge.Store
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	clk := clustertest.NewClock(testNow)
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, tenant.Register, booking.Register, queue.Register, knowledge.Register)
	n.HandleOutbox(booking.OutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
		var no booking.Notice
		if err := json.Unmarshal(m.Payload, &no); err != nil {
			return err
		}
		from, to, msg, err := booking.ComposeEmail(no, clk.Now())
		if err != nil {
			return err
		}
		return sender.Send(ctx, from, []string{to}, msg)
	})
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clk.Now, rand.Reader)
	q := queue.New(n, n.DB(), book, clk.Now, rand.Reader)
	e := &env{t: t, clock: clk, node: n, book: book, queue: q, smtp: srv, store: knowledge.NewStore(n, n.DB(), book)}
	ctx := context.Background()
	e.bari = e.seed(reg, "bari", "Comune di Bari")
	e.lecce = e.seed(reg, "lecce", "Comune di Lecce")
	// The URP has a remote desk: an operator answers video calls there.
	if _, err := book.WriteDesk(ctx, e.bari.ID, booking.Desk{OfficeID: "urp", Label: "Postazione video", Kind: booking.DeskRemote}, false); err != nil {
		t.Fatalf("desk: %v", err)
	}
	e.cats = &demoCatalogues{book: book, faq: []knowledge.FAQ{
		{ID: "f1", Question: "Dove posso parcheggiare vicino al municipio?", Answer: "Il parcheggio di Piazza Garibaldi è gratuito per i primi 30 minuti.", OfficeID: "urp"},
		{ID: "f2", Question: "La carta d'identità cartacea è ancora valida per l'espatrio?", Answer: "No: dal 3 agosto 2026 la carta d'identità cartacea non è più valida.", ServiceID: "cie"},
	}}
	var key [32]byte
	copy(key[:], "a test key of thirty-two bytes!!")
	cfg := Config{Catalogues: e.cats, Book: book, Queue: q, Key: key[:], Now: clk.Now, Logger: clustertest.Logger(t)}
	for _, o := range opts {
		o(&cfg)
	}
	if e.engine, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// seed creates a Comune with the demo catalogue's offices and services:
// offices open Monday to Friday 8:30–12:30, in-person services of
// capacity 1 with an hour's notice.
func (e *env) seed(reg *tenant.Registry, id, name string) tenant.Tenant {
	t := e.t
	t.Helper()
	ctx := context.Background()
	ten, err := reg.Create(ctx, tenant.Tenant{ID: tenant.ID(id), Name: name, ISTAT: "072006",
		Sender: tenant.Sender{Name: name, Address: "noreply@" + id + ".example.it"}})
	if err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	for _, o := range assistant.DemoOffices() {
		if _, err := e.book.SaveOffice(ctx, ten.ID, booking.Office{ID: o.ID, Name: o.Name, Address: o.Address, Phone: o.Phone, Email: o.Email, Hours: week}); err != nil {
			t.Fatalf("office %s: %v", o.ID, err)
		}
	}
	for _, s := range assistant.DemoCatalogue() {
		if _, err := e.book.SaveService(ctx, ten.ID, booking.Service{
			ID: s.ID, OfficeID: s.OfficeID, Name: s.Name, Description: s.Description, Category: s.Category,
			WhatToBring: s.Bring, Duration: time.Duration(s.Minutes) * time.Minute, Channels: []booking.Channel{booking.InPerson},
			Capacity: 1, MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour, MaxActivePerCitizen: 1,
		}); err != nil {
			t.Fatalf("service %s: %v", s.ID, err)
		}
	}
	return ten
}

// validFiscal completes a codice fiscale of 15 characters with its check
// character.
func validFiscal(t *testing.T, prefix string) string {
	t.Helper()
	for c := 'A'; c <= 'Z'; c++ {
		if cf := prefix + string(c); booking.ValidFiscalCode(cf) {
			return cf
		}
	}
	t.Fatalf("no check character makes %s valid", prefix)
	return ""
}

// conv is one citizen's conversation.
type conv struct {
	e    *env
	t    tenant.Tenant
	id   string
	lang string
	ip   string
}

func (e *env) conv(t tenant.Tenant) *conv { return &conv{e: e, t: t, ip: "192.0.2.10"} }

// say sends msg and returns the reply, keeping the conversation's token.
func (c *conv) say(msg string) Response {
	c.e.t.Helper()
	r, err := c.e.engine.Handle(context.Background(), c.t, Request{Message: msg, ConversationID: c.id, Lang: c.lang, BaseURL: testBase, ClientIP: c.ip})
	if err != nil {
		c.e.t.Fatalf("say %q: %v", msg, err)
	}
	c.id = r.ConversationID
	c.e.t.Logf("> %s\n< %s %v", msg, r.Reply, r.Actions)
	return r
}

// actions returns the actions of type typ.
func actions(r Response, typ string) []Action {
	var out []Action
	for _, a := range r.Actions {
		if a.Type == typ {
			out = append(out, a)
		}
	}
	return out
}

func wantReply(t *testing.T, r Response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.Reply, p) {
			t.Errorf("reply %q lacks %q", r.Reply, p)
		}
	}
}
