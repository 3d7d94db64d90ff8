package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	bookingweb "github.com/sportello-virtuale/sportello/booking/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/turn"
	mediaweb "github.com/sportello-virtuale/sportello/media/web"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The calls of issue 6 in the binary: the glue between the queue (who
// the citizen and the operator are, from a join link or a session) and
// the media packages (rooms, SFU, TURN, documents, the call page), which
// must not know bookings or tickets. See media/DESIGN.md, "Wiring in the
// binary".

// Call routes. The citizen's page and socket share one URL, authorised
// by the booking's join token; the operator's, by the session. Document
// links carry a room token instead (docPath): an announcement in the call
// reaches every participant with one URL, so it cannot carry either
// side's own credential.
const (
	citizenCallPath = "/chiamata/{code}/video"
	operatorPath    = "/gestione/chiamate/{ticket}"
	docPathPrefix   = "/videochiamate/documenti/"
	// invitePath is a guest's call (a colleague or an interpreter the
	// operator invited): page and socket, authorised by the invite token
	// (?t=), and its uploads at invitePath+"/documenti".
	invitePath = "/videochiamate/invito"
)

// guestPrefix starts the Subject of an invite token, and only of one:
// the room tokens of document links name the viewer as "doc-<id>", so a
// document link that a guest's upload announced to everybody cannot be
// replayed as that guest's invite.
const guestPrefix = "guest-"

// maxGuestName caps the name an operator gives a guest.
const maxGuestName = 100

// notOpenRefresh is how often the page of a call the operator has not
// opened yet reloads itself, in seconds.
const notOpenRefresh = 5

// Italian texts of the citizen's refusals.
const (
	msgNoCall    = "Non troviamo una videochiamata con questo link. Controlla di aver aperto il link dell'email di conferma per intero; se l'appuntamento è stato annullato, il link non vale più."
	msgCallOver  = "L'appuntamento è concluso: la videochiamata non è più disponibile."
	msgNoTicket  = "Non c'è una videochiamata per questo biglietto."
	msgCallLater = "La videochiamata non è disponibile in questo momento: riprova tra poco."
)

//go:embed templates/chiamata_stato.html templates/chiamata_invito.html templates/chiamata_documenti.html
var callTemplates embed.FS

// calls holds what the call routes need; nil when [media] is off.
type calls struct {
	cfg    MediaConfig
	nodeID string
	node   *cluster.Node
	rooms  *media.Rooms
	sfu    *sfu.SFU
	store  *docs.Store
	turn   *turn.Server
	log    *slog.Logger
	// retentionDays reads a Comune's own retention of call documents
	// (tenant.Settings.DocumentRetentionDays, 0 for the configured one).
	retentionDays func(context.Context, tenant.ID) (int, error)
	// trustProxy takes the invite link's scheme from X-Forwarded-Proto.
	trustProxy bool

	// Set by mount.
	q     *queue.Queue
	site  *site.Site
	guard *authweb.Handler
	web   *mediaweb.Handler
	pages *site.Templates
	// statusPages is chiamata_stato.html, in the citizen's language.
	statusPages *site.Templates

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// newCalls makes the rooms, the SFU and the documents store of node, or
// returns nil when calls are off. It starts nothing that needs stopping
// but the SFU's UDP socket (sfu_udp_port): start does the rest.
func newCalls(cfg Config, node *cluster.Node, secrets *auth.Secrets, log *slog.Logger) (*calls, error) {
	if !cfg.Media.Enabled {
		return nil, nil
	}
	// Room tokens and TURN secrets must verify on every node, which all
	// hold secrets.key; run reads it once, a test's handler here.
	if secrets == nil {
		var err error
		if secrets, err = nodeSecrets(cfg); err != nil { // admin_oidc.go
			return nil, err
		}
	}
	log = log.With("component", "media")
	s, err := sfu.New(sfu.Config{UDPPort: cfg.Media.SFUUDPPort, NAT1To1IPs: cfg.Media.PublicIPs,
		Loopback: cfg.Media.Loopback, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	store := docs.NewStore(node, cfg.Media.Documents.clamd(), time.Now)
	store.Logger = log
	// Documents are sealed under their Comune's data key before they
	// reach the log (issue 11): destroying the key destroys every copy.
	if wrap := secrets.Derive(privacy.KeysPurpose); wrap != nil {
		store.Cipher = privacy.NewKeys(node, node.DB(), wrap, nil)
	}
	return &calls{cfg: cfg.Media, nodeID: cfg.NodeID, node: node, rooms: media.NewRooms(node, secrets, time.Now),
		sfu: s, store: store, log: log, trustProxy: cfg.HTTP.TrustProxyHeaders,
		retentionDays: tenant.NewRegistry(node, node.DB(), cfg.BaseDomain).DocumentRetentionDays}, nil
}

// startCalls makes the calls of a running node and starts their
// housekeeping and TURN server; nil (and no error) when calls are off.
func startCalls(ctx context.Context, cfg Config, node *cluster.Node, secrets *auth.Secrets, log *slog.Logger) (*calls, error) {
	c, err := newCalls(cfg, node, secrets, log)
	if err != nil || c == nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// start runs the leader's housekeeping (rooms swept, TURN secret
// rotated, expired documents erased) and the TURN server, when one is
// configured.
func (c *calls) start(ctx context.Context) error {
	ctx, c.stop = context.WithCancel(ctx)
	c.wg.Add(3)
	go func() { defer c.wg.Done(); c.rooms.Maintain(ctx, media.Maintenance{Logger: c.log}) }()
	go func() { defer c.wg.Done(); c.store.Maintain(ctx, 0) }()
	go func() { defer c.wg.Done(); c.advertise(ctx) }()
	if !c.cfg.TURN.turnOn() {
		return nil
	}
	t := c.cfg.TURN
	tc := turn.Config{
		UDP: t.UDP, TCP: t.TCP, TLS: t.TLS, RelayIP: c.cfg.relayIP(),
		MinPort: uint16(t.MinPort), MaxPort: uint16(t.MaxPort),
		Secrets:    c.rooms.TURNSecretsFunc(),
		AllowPeers: sfuAddrs(c.cfg),
		// Every node's SFU, as the nodes advertised them: browsers get
		// every live node's TURN (serve), so this one may have to relay
		// to a room held by another node.
		AllowPeersFunc:        c.rooms.PeersFunc(),
		MaxAllocationsPerUser: t.MaxAllocationsPerUser, BandwidthPerUser: t.BandwidthPerUser,
		Logger: c.log,
	}
	if t.TLS != "" {
		cert, err := tls.LoadX509KeyPair(t.TLSCertFile, t.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("media.turn.tls_cert_file, tls_key_file: %w", err)
		}
		tc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv, err := turn.Start(tc)
	if err != nil {
		return fmt.Errorf("media: TURN: %w", err)
	}
	c.turn = srv
	udp, tcp, tlsAddr := srv.Addrs()
	c.log.Info("TURN server listening", "udp", addrText(udp), "tcp", addrText(tcp), "tls", addrText(tlsAddr))
	return nil
}

// advertiseEvery is how often advertise tries again while its proposal
// fails (no leader yet at start).
const advertiseEvery = 5 * time.Second

// advertise records this node's TURN URLs and SFU addresses in the
// replicated state (media.Rooms.Advertise), so that the other nodes list
// this node's TURN to their participants and let their TURN servers
// relay to this node's SFU. It retries until it succeeds or ctx ends; a
// restart with the same configuration proposes nothing.
func (c *calls) advertise(ctx context.Context) {
	ad := media.NodeAd{Node: c.nodeID, TURNURLs: c.cfg.nodeTURNURLs()}
	for _, a := range sfuAddrs(c.cfg) {
		ad.SFUAddrs = append(ad.SFUAddrs, a.String())
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.rooms.Advertise(actx, ad)
		cancel()
		if err == nil {
			c.log.Info("media advertised", "turn_urls", ad.TURNURLs, "sfu_addrs", ad.SFUAddrs)
			return
		}
		c.log.Debug("media advertisement not recorded yet", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(advertiseEvery):
		}
	}
}

// nodeTURNURLs are the URLs other nodes give browsers for this node's
// TURN server: media.turn.urls when set (the way to name the node's own
// host, which TLS needs), else UDP and TCP on the relay address; none
// when TURN is off here.
func (m MediaConfig) nodeTURNURLs() []string {
	if !m.TURN.turnOn() {
		return nil
	}
	if len(m.TURN.URLs) > 0 {
		return m.TURN.URLs
	}
	ip := m.relayIP()
	if ip == nil {
		return nil
	}
	var out []string
	for _, u := range m.turnURLs(ip.String()) {
		// A certificate names a host, not an address: turns: only
		// from the configured URLs.
		if strings.HasPrefix(u, "turn:") {
			out = append(out, u)
		}
	}
	return out
}

func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// sfuAddrs are the addresses the SFU may receive relayed media at, which
// TURN must relay to although they are internal: the node's own
// interface addresses (loopback only when the SFU offers it).
func sfuAddrs(m MediaConfig) []netip.Addr {
	var out []netip.Addr
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.IsLoopback() && !m.Loopback || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue
		}
		out = append(out, ip)
	}
	if m.Loopback {
		out = append(out, netip.MustParseAddr("127.0.0.1"))
	}
	for _, s := range m.PublicIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// close stops the housekeeping, ends every call (the SFU tells the
// browsers, which reconnect to another node) and closes TURN. It runs
// before the node closes; nil-safe.
func (c *calls) close() {
	if c == nil {
		return
	}
	if c.stop != nil {
		c.stop()
	}
	c.wg.Wait()
	if err := c.sfu.Close(); err != nil {
		c.log.Warn("close SFU", "err", err)
	}
	if c.turn != nil {
		if err := c.turn.Close(); err != nil {
			c.log.Warn("close TURN", "err", err)
		}
	}
}

// mount registers the call routes on the Comuni's mux; nil-safe.
func (c *calls) mount(mux *http.ServeMux, q *queue.Queue, s *site.Site, guard *authweb.Handler) error {
	if c == nil {
		return nil
	}
	sub, err := fs.Sub(callTemplates, "templates")
	if err != nil {
		return err
	}
	if c.pages, err = s.Templates(sub, "chiamata_invito.html", "chiamata_documenti.html"); err != nil {
		return fmt.Errorf("call pages: %w", err)
	}
	// The status page has a catalog and follows the citizen's language;
	// the other two stay Italian until theirs exist.
	if c.statusPages, err = s.TemplatesWith(callStatusMessages, sub, "chiamata_stato.html"); err != nil {
		return fmt.Errorf("call pages: %w", err)
	}
	c.q, c.site, c.guard = q, s, guard
	c.web = &mediaweb.Handler{SFU: c.sfu, Site: s, Logger: c.log}
	c.web.Routes(mux)
	mux.HandleFunc("GET "+citizenCallPath, c.citizenCall)
	mux.HandleFunc("POST "+citizenCallPath+"/documenti", c.citizenUpload)
	mux.HandleFunc("GET "+docPathPrefix+"{id}", c.download)
	mux.Handle("GET /gestione/chiamate/{ticket}", c.staff(c.operatorCall))
	mux.Handle("POST /gestione/chiamate/{ticket}/documenti", c.staff(c.operatorUpload))
	mux.Handle("GET /gestione/chiamate/{ticket}/invito", c.staff(c.operatorInvites))
	mux.Handle("POST /gestione/chiamate/{ticket}/invito", c.staff(c.operatorInvite))
	mux.Handle("POST /gestione/chiamate/{ticket}/invito/revoca", c.staff(c.operatorRevoke))
	mux.Handle("GET /gestione/chiamate/{ticket}/documenti", c.staff(c.ticketDocuments))
	mux.Handle("GET /gestione/chiamate/{ticket}/documenti/{id}", c.staff(c.ticketDocument))
	mux.HandleFunc("GET "+invitePath, c.guestCall)
	mux.HandleFunc("POST "+invitePath+"/documenti", c.guestUpload)
	return nil
}

// documents is the store of the calls' documents for the agenda
// (booking/web); nil when calls are off, so that the interface is nil too.
func (c *calls) documents() bookingweb.CallDocuments {
	if c == nil {
		return nil
	}
	return c.store
}

// serveForwarded makes root the handler of the requests other nodes send
// to this one (a call's socket or upload whose room lives here); nil-safe.
func (c *calls) serveForwarded(root http.Handler) {
	if c != nil {
		c.node.ServeForwardedHTTP(root)
	}
}

// ---- the citizen --------------------------------------------------------

// citizenWho is a citizen's call as the join link resolves it.
type citizenWho struct {
	t      tenant.Tenant
	code   string
	token  string
	name   string
	ticket queue.Ticket
	// title names the appointment: "Anagrafe, 3 dicembre alle 10:30".
	title string
}

// joinLink resolves the join link of the request as the waiting room
// does (queue/web's waiting.go): the booking of the code with that join
// token, and the ticket it checked in with. It answers the request
// itself and returns false when there is no call to join: a wrong link
// (404), a booking not checked in yet (back to the waiting room, which
// checks it in), or one whose ticket is closed (410).
func (c *calls) joinLink(w http.ResponseWriter, r *http.Request, api bool) (citizenWho, bool) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	t, ok := site.TenantFrom(r.Context())
	if !ok {
		c.site.Error(w, r, http.StatusNotFound, "")
		return citizenWho{}, false
	}
	ctx := r.Context()
	token := r.URL.Query().Get("t")
	bk, err := c.q.JoinBooking(ctx, t.ID, r.PathValue("code"), token)
	if err != nil {
		c.refuse(w, r, api, err, msgNoCall)
		return citizenWho{}, false
	}
	who := citizenWho{t: t, code: bk.Code, token: token,
		name: strings.TrimSpace(bk.Citizen.GivenName + " " + bk.Citizen.FamilyName), title: "La tua videochiamata"}
	if o, err := c.q.PublicOffice(ctx, t.ID, bk.OfficeID); err == nil {
		who.title = appointmentTitle(o.Name, bk.Start.In(t.Location()))
	}
	who.ticket, err = c.q.BookingTicket(ctx, t.ID, bk.Code)
	switch {
	case errors.Is(err, queue.ErrNotFound) && !api:
		http.Redirect(w, r, who.waitingRoom(), http.StatusSeeOther)
		return citizenWho{}, false
	case err != nil:
		c.refuse(w, r, api, err, msgNoCall)
		return citizenWho{}, false
	case !who.ticket.Active():
		c.refuse(w, r, api, errGone, msgCallOver)
		return citizenWho{}, false
	}
	return who, true
}

// errGone marks a call that is over (410).
var errGone = errors.New("call over")

// refuse answers a refused request: a page, or for an upload a JSON
// error as media/docs writes them.
func (c *calls) refuse(w http.ResponseWriter, r *http.Request, api bool, err error, msg string) {
	status := http.StatusNotFound
	switch {
	case errors.Is(err, errGone):
		status = http.StatusGone
	case errors.Is(err, queue.ErrNotFound), errors.Is(err, media.ErrNotFound), errors.Is(err, media.ErrEnded):
	default:
		c.log.Error("call request failed", "path", r.URL.Path, "err", err)
		status, msg = http.StatusServiceUnavailable, msgCallLater
	}
	if api {
		jsonError(w, status, msg)
		return
	}
	c.site.Error(w, r, status, msg)
}

// jsonError writes {"error":{"code","message"}}, the shape media/docs
// answers uploads with, which call.js shows.
func jsonError(w http.ResponseWriter, status int, msg string) {
	code := map[int]string{http.StatusNotFound: "not_found", http.StatusGone: "gone",
		http.StatusForbidden: "forbidden", http.StatusServiceUnavailable: "unavailable"}[status]
	if code == "" {
		code = "error"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// italianMonths are the months as a date is written in Italian.
var italianMonths = [...]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
	"agosto", "settembre", "ottobre", "novembre", "dicembre"}

// appointmentTitle is "Anagrafe, 3 dicembre alle 10:30".
func appointmentTitle(office string, at time.Time) string {
	return fmt.Sprintf("%s, %d %s alle %s", office, at.Day(), italianMonths[at.Month()-1], at.Format("15:04"))
}

func (who citizenWho) waitingRoom() string {
	return "/chiamata/" + url.PathEscape(who.code) + "?t=" + url.QueryEscape(who.token)
}

func (who citizenWho) callURL() string {
	return "/chiamata/" + url.PathEscape(who.code) + "/video?t=" + url.QueryEscape(who.token)
}

func (who citizenWho) ref() media.RoomRef { return media.RoomRef{Kind: media.RefBooking, ID: who.code} }

func (who citizenWho) participant() sfu.Participant {
	name := who.name
	if name == "" {
		name = "Cittadino"
	}
	return sfu.Participant{ID: "cit-" + who.code, Name: name, Role: string(media.RoleCitizen), Lobby: true}
}

// statusPage is the page of a call the citizen cannot enter yet.
type statusPage struct {
	Heading, Text, Back string
	Refresh             int
	// StopURL is the same page without the reload, "" when the page
	// does not reload: WCAG 2.2.1 wants the citizen able to turn a
	// reload off (a screen reader starts the page again at each one).
	StopURL string
}

// citizenCall answers GET /chiamata/{code}/video?t=<join token>: the
// call page, or its WebSocket, once the operator has opened the room;
// before, a page that reloads itself every few seconds.
func (c *calls) citizenCall(w http.ResponseWriter, r *http.Request) {
	who, ok := c.joinLink(w, r, false)
	if !ok {
		return
	}
	room, err := c.rooms.ByRef(r.Context(), who.t.ID, who.ref())
	if err == nil && room.State != media.StateOpen {
		err = media.ErrEnded
	}
	if errors.Is(err, media.ErrNotFound) || errors.Is(err, media.ErrEnded) {
		if mediaweb.IsSocket(r) {
			http.Error(w, "La chiamata non è aperta", http.StatusConflict)
			return
		}
		// An ended room of a ticket still active: the operator may open
		// it again, so the page waits as for a room not opened yet.
		var reload string
		if q := r.URL.Query(); q.Get("auto") != "0" {
			q.Set("auto", "0")
			reload = r.URL.Path + "?" + q.Encode()
		}
		lang := site.LangFrom(r.Context())
		d := callStatus(lang, err == nil || errors.Is(err, media.ErrEnded), who.waitingRoom(), reload)
		c.statusPages.Render(w, r, http.StatusOK, "chiamata_stato.html",
			site.Page{Title: site.Translate(callStatusMessages, lang, "call.title"), Data: d})
		return
	}
	if err != nil {
		c.refuse(w, r, false, err, "")
		return
	}
	p := who.participant()
	c.serve(w, r, who.t, room, func(room media.Room) (mediaweb.Session, error) {
		return mediaweb.Session{
			Tenant: who.t, RoomID: room.ID, Participant: p,
			Title: who.title, Back: who.waitingRoom(),
			UploadURL: "/chiamata/" + url.PathEscape(who.code) + "/video/documenti?t=" + url.QueryEscape(who.token),
		}, nil
	})
}

// citizenUpload answers POST /chiamata/{code}/video/documenti?t=: a
// document from the citizen into the open room. The join token in the
// URL is the credential, which a cross-site form cannot know.
func (c *calls) citizenUpload(w http.ResponseWriter, r *http.Request) {
	who, ok := c.joinLink(w, r, true)
	if !ok {
		return
	}
	room, err := c.rooms.ByRef(r.Context(), who.t.ID, who.ref())
	if err == nil && room.State != media.StateOpen {
		err = media.ErrEnded
	}
	if err != nil {
		c.refuse(w, r, true, err, "La videochiamata non è aperta.")
		return
	}
	c.upload(w, r, who.t, room, "booking:"+who.code, who.participant())
}

// ---- the operator -------------------------------------------------------

// staff puts an operator's route behind the login: operators pass the
// guard as operators, supervisors who are not operators as supervisors;
// the route then checks the ticket's office against the grant. State
// changes (the uploads) need the session's CSRF token, which call.js
// sends in authweb.CSRFHeader.
func (c *calls) staff(fn func(http.ResponseWriter, *http.Request, tenant.Tenant, auth.Session, auth.User)) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := site.TenantFrom(r.Context())
		s, u, ok2 := authweb.SessionFrom(r.Context())
		if !ok || !ok2 {
			c.site.Error(w, r, http.StatusNotFound, "")
			return
		}
		fn(w, r, t, s, u)
	})
	asOperator := c.guard.RequireRole(auth.RoleOperator, inner)
	asSupervisor := c.guard.RequireRole(auth.RoleSupervisor, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, u, ok := authweb.SessionFrom(r.Context()); ok && !u.Allowed(auth.RoleOperator, "") && u.Allowed(auth.RoleSupervisor, "") {
			asSupervisor.ServeHTTP(w, r)
			return
		}
		asOperator.ServeHTTP(w, r)
	})
}

// ticketRoom finds the ticket of the route and checks that u serves its
// office; it answers the request itself when not.
func (c *calls) ticketRoom(w http.ResponseWriter, r *http.Request, t tenant.Tenant, u auth.User, api bool) (queue.Ticket, media.RoomRef, bool) {
	k, err := c.q.Ticket(r.Context(), t.ID, r.PathValue("ticket"))
	if err == nil && k.Channel == queue.InPerson {
		err = queue.ErrNotFound
	}
	if err == nil && !k.Active() {
		err = errGone // served, absent or cancelled: nobody joins its call
	}
	if err != nil {
		msg := msgNoTicket
		if errors.Is(err, errGone) {
			msg = "Il biglietto è chiuso: la sua videochiamata non è più disponibile."
		}
		c.refuse(w, r, api, err, msg)
		return queue.Ticket{}, media.RoomRef{}, false
	}
	if !u.Allowed(auth.RoleOperator, k.OfficeID) && !u.Allowed(auth.RoleSupervisor, k.OfficeID) {
		status, msg := http.StatusForbidden, "Non puoi servire i biglietti di questo ufficio."
		if api {
			jsonError(w, status, msg)
		} else {
			c.site.Error(w, r, status, msg)
		}
		return queue.Ticket{}, media.RoomRef{}, false
	}
	ref := media.RoomRef{Kind: media.RefTicket, ID: k.ID}
	if k.BookingCode != "" {
		// The citizen's page finds the room by the booking's code.
		ref = media.RoomRef{Kind: media.RefBooking, ID: k.BookingCode}
	}
	return k, ref, true
}

func operatorParticipant(u auth.User) sfu.Participant {
	name := u.DisplayName
	if name == "" {
		name = "Operatore"
	}
	return sfu.Participant{ID: "op-" + u.ID, Name: name, Role: string(media.RoleOperator)}
}

// operatorCall answers GET /gestione/chiamate/{ticket}: it opens the
// ticket's room (one per appointment, whoever comes first; open from now
// until the service's length and an hour after) and serves the call page
// or its socket to the operator, who admits the citizen from the lobby.
// The page of a ticket already closed shows what is left of its call:
// the documents exchanged (calls_docs.go).
func (c *calls) operatorCall(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
	if !mediaweb.IsSocket(r) {
		if k, err := c.q.Ticket(r.Context(), t.ID, r.PathValue("ticket")); err == nil && k.Channel != queue.InPerson && !k.Active() {
			http.Redirect(w, r, "/gestione/chiamate/"+url.PathEscape(k.ID)+"/documenti", http.StatusSeeOther)
			return
		}
	}
	c.openCall(w, r, t, s, u)
}

// openCall opens the ticket's room and serves the call page or its
// socket (operatorCall).
func (c *calls) openCall(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	k, ref, ok := c.ticketRoom(w, r, t, u, false)
	if !ok {
		return
	}
	now := time.Now()
	room, err := c.rooms.Open(r.Context(), t.ID, ref, now, now.Add(k.Duration+time.Hour))
	if err != nil {
		c.refuse(w, r, false, err, "")
		return
	}
	back := "/gestione/coda?" + url.Values{"ufficio": {k.OfficeID}, "sportello": {k.Desk}}.Encode()
	base := "/gestione/chiamate/" + url.PathEscape(k.ID)
	c.serve(w, r, t, room, func(room media.Room) (mediaweb.Session, error) {
		return mediaweb.Session{
			Tenant: t, RoomID: room.ID, Participant: operatorParticipant(u),
			Title: "Biglietto " + k.Number, Back: back, UploadURL: base + "/documenti",
			CSRF: s.CSRF, InviteURL: base + "/invito", CSRFField: authweb.CSRFField,
		}, nil
	})
}

// operatorUpload answers POST /gestione/chiamate/{ticket}/documenti.
func (c *calls) operatorUpload(w http.ResponseWriter, r *http.Request, t tenant.Tenant, _ auth.Session, u auth.User) {
	k, ref, ok := c.ticketRoom(w, r, t, u, true)
	if !ok {
		return
	}
	room, err := c.roomOf(r.Context(), t.ID, ref)
	if err == nil && room.State != media.StateOpen {
		err = media.ErrEnded
	}
	if err != nil {
		c.refuse(w, r, true, err, "La videochiamata non è aperta.")
		return
	}
	from := ref.Kind + ":" + ref.ID
	if ref.Kind == media.RefTicket {
		from = "ticket:" + k.ID
	}
	c.upload(w, r, t, room, from, operatorParticipant(u))
}

// ---- both ---------------------------------------------------------------

// serve serves the call page here, and the socket on the node that holds
// the room: a socket that reached another node is forwarded there, and
// if that node does not answer the room moves (Rooms.Move) and the call
// resumes on the node it moved to. A request forwarded to this node is
// never forwarded again (503: the placement changed in between, and the
// browser's reconnection will find the new one).
func (c *calls) serve(w http.ResponseWriter, r *http.Request, t tenant.Tenant, room media.Room, session func(media.Room) (mediaweb.Session, error)) {
	if mediaweb.IsSocket(r) {
		var ok bool
		if room, ok = c.place(w, r, t, room, false); !ok {
			return
		}
	}
	s, err := session(room)
	if err != nil {
		c.refuse(w, r, false, err, "")
		return
	}
	// ?relay=1 keeps the browser to TURN relay candidates: the
	// participant's own address never reaches the SFU (a choice for the
	// privacy-minded, and how the tests prove the TURN path).
	s.ForceRelay = r.URL.Query().Get("relay") == "1"
	docs, err := c.store.List(r.Context(), t.ID, room.ID)
	if err != nil {
		c.log.Warn("list the call's documents", "room", room.ID, "err", err)
	}
	for _, d := range docs {
		s.Documents = append(s.Documents, c.notice(t, room, d, s.Participant))
	}
	if mediaweb.IsSocket(r) {
		// TURN credentials only for the socket (the welcome carries
		// them), made for one participant of one room, valid until the
		// room may no longer be rejoined.
		ttl := max(time.Until(room.Closes.Add(media.TokenGrace)), 10*time.Minute)
		s.ICEServers, err = c.rooms.ICEServers(r.Context(), room.ID+"-"+s.Participant.ID, c.iceURLs(r.Context(), room, r.Host), ttl)
		if err != nil {
			c.log.Error("TURN credentials", "room", room.ID, "err", err)
			http.Error(w, msgCallLater, http.StatusServiceUnavailable)
			return
		}
		from, _ := cluster.ForwardedFrom(r.Context())
		c.log.Info("call socket", "tenant", t.ID, "room", room.ID, "epoch", room.Epoch, "participant", s.Participant.ID, "forwarded_from", from)
	}
	c.web.Serve(w, r, s)
}

// roomOf is the room of ref for an operator's request: as this node has
// it, or when it has none, after catching up with the cluster once. The
// operator opened the call a moment ago, maybe through another node,
// and the invite or upload that follows may reach this one first.
func (c *calls) roomOf(ctx context.Context, t tenant.ID, ref media.RoomRef) (media.Room, error) {
	room, err := c.rooms.ByRef(ctx, t, ref)
	if !errors.Is(err, media.ErrNotFound) {
		return room, err
	}
	if ferr := c.node.ReadFresh(ctx); ferr != nil {
		return room, err
	}
	return c.rooms.ByRef(ctx, t, ref)
}

// iceURLs are the TURN URLs a participant of room gets, on the room's
// node: this node's own first (as host names it), then every other live
// node's as they advertised them, so that a browser that cannot reach
// one TURN server tries the next; each relays to this node's SFU, whose
// addresses every node's TURN server learns from the advertisements
// (media/DESIGN.md, "TURN per node").
func (c *calls) iceURLs(ctx context.Context, room media.Room, host string) []string {
	return c.rooms.TURNURLs(ctx, room.Node, c.cfg.turnURLs(host))
}

// place returns the room when this node holds it. Otherwise it forwards
// the request to the node that does and returns false (answered). Its
// own refusals are JSON for an upload (api).
func (c *calls) place(w http.ResponseWriter, r *http.Request, t tenant.Tenant, room media.Room, api bool) (media.Room, bool) {
	unavailable := func() {
		if api {
			jsonError(w, http.StatusServiceUnavailable, msgCallLater)
		} else {
			http.Error(w, msgCallLater, http.StatusServiceUnavailable)
		}
	}
	for range 2 {
		if room.Node == c.nodeID {
			return room, true
		}
		if from, ok := cluster.ForwardedFrom(r.Context()); ok {
			c.log.Warn("call forwarded here but the room is elsewhere", "room", room.ID, "node", room.Node, "from", from)
			unavailable()
			return room, false
		}
		err := c.node.ForwardHTTP(w, r, room.Node)
		if err == nil {
			return room, false
		}
		if !errors.Is(err, cluster.ErrNodeUnreachable) {
			// Something was written already: the browser reconnects.
			c.log.Info("forwarded call request ended", "room", room.ID, "node", room.Node, "err", err)
			return room, false
		}
		c.log.Warn("the node of a call does not answer: moving the room", "room", room.ID, "node", room.Node)
		if room, err = c.rooms.Move(r.Context(), t.ID, room.ID, room.Node); err != nil {
			c.log.Error("move room", "room", room.ID, "err", err)
			unavailable()
			return room, false
		}
	}
	if room.Node == c.nodeID {
		return room, true
	}
	unavailable()
	return room, false
}

// upload stores the request's document in the room and announces it in
// the call, on the node holding the room (the SFU that announces it).
func (c *calls) upload(w http.ResponseWriter, r *http.Request, t tenant.Tenant, room media.Room, ref string, p sfu.Participant) {
	if room.Node != c.nodeID {
		var ok bool
		if room, ok = c.place(w, r, t, room, true); !ok {
			return
		}
	}
	policy, err := c.policy(r.Context(), t.ID)
	if err != nil {
		c.log.Error("document retention", "tenant", t.ID, "err", err)
		jsonError(w, http.StatusServiceUnavailable, msgCallLater)
		return
	}
	d, ok := c.store.Upload(w, r, t.ID, room.ID, ref, p.ID, policy)
	if !ok {
		return
	}
	n := c.notice(t, room, d, p)
	c.sfu.Announce(room.ID, n)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(n)
}

// policy is the documents' policy of the Comune t: the configuration's,
// with the Comune's own retention when it set one. The store fixes the
// expiry at upload, so reading it per upload is enough.
func (c *calls) policy(ctx context.Context, t tenant.ID) (docs.Policy, error) {
	p := c.cfg.Documents.policy()
	days, err := c.retentionDays(ctx, t)
	if err != nil {
		return docs.Policy{}, err
	}
	if days > 0 {
		p.Retention = time.Duration(days) * 24 * time.Hour
	}
	return p, nil
}

// notice is the DocumentNotice of d for the room, made for participant
// p (the uploader, for an announcement; the viewer, for the list of a
// page). Its download link carries a room token (valid until the room
// may no longer be rejoined) that any participant's page can follow.
// The store keeps the uploader's participant ID; only the uploader's own
// notice can name them, the others say "da un partecipante" unless the
// page knows them from the call.
func (c *calls) notice(t tenant.Tenant, room media.Room, d docs.Document, p sfu.Participant) mediaweb.DocumentNotice {
	tok := c.rooms.Token(media.Claims{Tenant: t.ID, Room: room.ID, Role: media.Role(p.Role), Name: p.Name,
		Subject: "doc-" + p.ID, Expires: room.Closes.Add(media.TokenGrace)})
	fromName := ""
	if d.From == p.ID {
		fromName = p.Name
	}
	return mediaweb.Notice(d.ID, d.Name, d.Size, docPathPrefix+url.PathEscape(d.ID)+"?t="+url.QueryEscape(tok), d.From, fromName)
}

// download answers GET /videochiamate/documenti/{id}?t=<room token>: a
// document of the token's room, in the Comune of the host.
func (c *calls) download(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	t, ok := site.TenantFrom(r.Context())
	if !ok {
		c.site.Error(w, r, http.StatusNotFound, "")
		return
	}
	// A revoked guest's document links are not checked against the
	// invite: an announcement's link is the uploader's and reaches
	// everybody, so it would break the others' links to a revoked
	// guest's upload, and the guest saw only what was announced while
	// they were in the call.
	claims, err := c.rooms.Verify(r.URL.Query().Get("t"), time.Now())
	if err != nil || claims.Tenant != t.ID {
		jsonError(w, http.StatusNotFound, "Il documento non esiste o non è più disponibile.")
		return
	}
	c.store.Download(w, r, t.ID, claims.Room, r.PathValue("id"))
}

// ---- guests -------------------------------------------------------------

// invitePage is the data of chiamata_invito.html: the form again with
// its error, or the link made.
type invitePage struct {
	Action, CSRF, CSRFField string
	Name, Error             string
	Link, Until             string
	// The room's invites, each revocable on its own (calls_invites.go);
	// Done says what the last revocation did.
	RevokeAction string
	Invites      []inviteRow
	Done         string
}

// operatorInvite answers POST /gestione/chiamate/{ticket}/invito (nome):
// a link that lets a colleague or an interpreter into the ticket's open
// call as a guest, who waits in the lobby until the operator admits
// them, as the citizen does. The link is a room token with the guest's
// name, valid as long as the citizen's and the operator's own links; it
// is stored nowhere (ending the room is what revokes it).
func (c *calls) operatorInvite(w http.ResponseWriter, r *http.Request, t tenant.Tenant, s auth.Session, u auth.User) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	k, ref, ok := c.ticketRoom(w, r, t, u, false)
	if !ok {
		return
	}
	room, err := c.roomOf(r.Context(), t.ID, ref)
	if err == nil && room.State != media.StateOpen {
		err = errGone
	}
	if err != nil {
		c.refuse(w, r, false, err, "La videochiamata non è aperta: aprila prima di invitare qualcuno.")
		return
	}
	d := c.invitePage(r.Context(), t, k, room, s)
	d.Name = strings.Join(strings.Fields(r.PostFormValue("nome")), " ")
	switch {
	case d.Name == "":
		d.Error = "Scrivi il nome della persona che vuoi invitare."
	case len([]rune(d.Name)) > maxGuestName:
		d.Error = fmt.Sprintf("Il nome è troppo lungo: al massimo %d caratteri.", maxGuestName)
	case strings.ContainsFunc(d.Name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		d.Error = "Il nome contiene caratteri non ammessi."
	}
	if d.Error != "" {
		c.pages.Render(w, r, http.StatusUnprocessableEntity, "chiamata_invito.html", site.Page{Title: "Invita", Data: d})
		return
	}
	subject := guestPrefix + rand.Text()
	expires := room.Closes.Add(media.TokenGrace)
	// Recorded in the replicated state, so that the operator can revoke
	// this one invite on every node (media.Rooms.Admit checks it).
	if _, err := c.rooms.Invite(r.Context(), t.ID, room.ID, subject, d.Name, expires); err != nil {
		if errors.Is(err, media.ErrEnded) {
			err = errGone
		}
		c.refuse(w, r, false, err, "La videochiamata non è aperta: aprila prima di invitare qualcuno.")
		return
	}
	tok := c.rooms.Token(media.Claims{Tenant: t.ID, Room: room.ID, Role: media.RoleGuest, Name: d.Name,
		Subject: subject, Expires: expires})
	d.Link = site.Origin(r, c.trustProxy) + invitePath + "?t=" + url.QueryEscape(tok)
	d.Until = expires.In(t.Location()).Format("15:04")
	c.log.Info("call guest invited", "tenant", t.ID, "room", room.ID, "ticket", k.ID, "user", u.ID, "guest", subject)
	d.Invites = c.inviteRows(r.Context(), t, room)
	c.pages.Render(w, r, http.StatusOK, "chiamata_invito.html", site.Page{Title: "Invita", Data: d})
}

// guestLink resolves the invite token of the request: the open room of
// the Comune of the host that it names, and the guest. It answers the
// request itself when there is none: a wrong or tampered token, one of
// another Comune, or any other room token (a document link's) is 404;
// an expired token or an ended room is 410.
func (c *calls) guestLink(w http.ResponseWriter, r *http.Request, api bool) (tenant.Tenant, media.Room, sfu.Participant, string, bool) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	t, ok := site.TenantFrom(r.Context())
	if !ok {
		c.site.Error(w, r, http.StatusNotFound, "")
		return tenant.Tenant{}, media.Room{}, sfu.Participant{}, "", false
	}
	tok := r.URL.Query().Get("t")
	room, claims, err := c.rooms.Admit(r.Context(), t.ID, tok)
	if err == nil && (claims.Role != media.RoleGuest || !strings.HasPrefix(claims.Subject, guestPrefix)) {
		err = media.ErrTokenInvalid
	}
	if err != nil {
		status, msg := http.StatusNotFound, "Non troviamo una videochiamata con questo link di invito. Controlla di averlo copiato per intero."
		switch {
		case errors.Is(err, media.ErrTokenExpired), errors.Is(err, media.ErrEnded):
			status, msg = http.StatusGone, "La videochiamata è terminata: il link di invito non vale più."
		case errors.Is(err, media.ErrRevoked):
			status, msg = http.StatusGone, "L'operatore ha revocato questo invito: il link non vale più."
		case errors.Is(err, media.ErrTokenInvalid), errors.Is(err, media.ErrWrongTenant), errors.Is(err, media.ErrNotFound),
			errors.Is(err, media.ErrTokenEarly):
		default:
			c.log.Error("guest call request failed", "path", r.URL.Path, "err", err)
			status, msg = http.StatusServiceUnavailable, msgCallLater
		}
		if api {
			jsonError(w, status, msg)
		} else {
			c.site.Error(w, r, status, msg)
		}
		return tenant.Tenant{}, media.Room{}, sfu.Participant{}, "", false
	}
	p := sfu.Participant{ID: claims.Subject, Name: claims.Name, Role: string(media.RoleGuest), Lobby: true}
	return t, room, p, tok, true
}

// guestCall answers GET /videochiamate/invito?t=<invite token>: the call
// page of the invited guest, or its socket, forwarded to the room's node
// like the others'.
func (c *calls) guestCall(w http.ResponseWriter, r *http.Request) {
	t, room, p, tok, ok := c.guestLink(w, r, false)
	if !ok {
		return
	}
	c.serve(w, r, t, room, func(room media.Room) (mediaweb.Session, error) {
		return mediaweb.Session{
			Tenant: t, RoomID: room.ID, Participant: p, Title: "Invito alla videochiamata", Back: "/",
			UploadURL: invitePath + "/documenti?t=" + url.QueryEscape(tok),
		}, nil
	})
}

// guestUpload answers POST /videochiamate/invito/documenti?t=: a document
// from the guest into the room. As for the citizen, the token in the URL
// is the credential, which a cross-site form cannot know.
func (c *calls) guestUpload(w http.ResponseWriter, r *http.Request) {
	t, room, p, _, ok := c.guestLink(w, r, true)
	if !ok {
		return
	}
	c.upload(w, r, t, room, room.Ref.Kind+":"+room.Ref.ID, p)
}
