package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	knowledgeweb "github.com/sportello-virtuale/sportello/assistant/knowledge/web"
	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	bookingweb "github.com/sportello-virtuale/sportello/booking/web"
	"github.com/sportello-virtuale/sportello/certs"
	certsweb "github.com/sportello-virtuale/sportello/certs/web"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/appio"
	mailer "github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/sdnotify"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	privacyweb "github.com/sportello-virtuale/sportello/privacy/web"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	queueweb "github.com/sportello-virtuale/sportello/queue/web"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
	"github.com/sportello-virtuale/sportello/tenant/site"
	tenantweb "github.com/sportello-virtuale/sportello/tenant/web"
)

// startTimeout bounds how long the node may take to elect itself and
// migrate before run gives up.
const startTimeout = 2 * time.Minute

// runNode runs a node until SIGINT or SIGTERM and returns the exit code.
// Logs go to stderr.
func runNode(cfg Config, opts runOptions, stderr io.Writer) int {
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "sportello: %v\n", err)
		return exitUsage
	}
	log := cfg.Log.newLogger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, opts, log); err != nil {
		log.Error("sportello stopped", "component", "main", "err", err)
		fmt.Fprintf(stderr, "sportello: %v\n", err)
		return exitFailure
	}
	log.Info("sportello stopped", "component", "main")
	return exitOK
}

// runOptions is what sets `demo` apart from `serve`.
type runOptions struct {
	// demo seeds the demo Comune and mounts the mailbox page.
	demo bool
	// stdout receives the URLs to open; logs go to the logger.
	stdout io.Writer
	// demoAdminSecret is the TOTP secret of the demo's administrator, set
	// once the demo is seeded; its code is shown at /_demo/accesso.
	demoAdminSecret string
	// calls are the video appointments (calls.go), nil when [media] is
	// off or in a handler built by a test without them.
	calls *calls
	// tls is the node's TLS side (tls.go), nil when [tls] mode is off.
	tls *tlsFront
	// secrets is the node's secrets.key, read once after the node
	// started (a joining node receives it while joining); nil in a
	// handler built by a test, which then reads it itself.
	secrets *auth.Secrets
	// metrics and ready are the node's Prometheus registry and its
	// readiness checks (metrics.go, readyz.go); nil in a handler built by
	// a test without them.
	metrics *Metrics
	ready   *Readiness
}

// run wires a node from cfg and serves until ctx ends, then shuts down in
// order: stop accepting HTTP (letting requests in flight finish), close the
// admin socket, close the node (outbox worker, raft, SQLite). It returns
// once everything it started has stopped.
func run(ctx context.Context, cfg Config, opts runOptions, log *slog.Logger) (err error) {
	// stopRun ends the run as a signal does (after `cluster leave`).
	ctx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	// closers run in reverse order when run returns, on success or failure.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The admin socket comes first: it tells whether another node already
	// runs on this data dir, before anything opens the node's files.
	adminLn, err := listenAdmin(cfg.DataDir)
	if err != nil {
		return err
	}
	closers = append(closers, func() { adminLn.Close() })
	// The HTTP address is taken early too, so a port in use stops the
	// start before the node opens its files; connections wait in the
	// listener's backlog until the server runs.
	httpLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	closers = append(closers, func() { httpLn.Close() })
	// So are HTTPS and the port-80 redirect when the node terminates TLS.
	if opts.tls, err = listenTLS(cfg.TLS); err != nil {
		return err
	}
	closers = append(closers, opts.tls.close)

	var (
		sender mailer.Sender
		box    *mailer.Mailbox
	)
	switch cfg.Mail.Delivery {
	case deliverySMTP:
		s, err := cfg.SMTP.newSender()
		if err != nil {
			return err
		}
		sender = s
		// Closed after the node (closers run in reverse): the outbox
		// worker is done by then, and idle connections end with QUIT.
		closers = append(closers, func() { s.Close() })
		log.Info("email goes out through SMTP", "component", "mail", "server", s.Addr(), "security", cfg.SMTP.Security)
	default:
		box, err = mailer.NewMailbox(filepath.Join(cfg.DataDir, "mailbox"))
		if err != nil {
			return err
		}
		sender = box
		log.Info("email is kept in the local mailbox, not sent", "component", "mail", "dir", box.Dir())
	}

	// The registry holds every command the node can apply; it is frozen by
	// cluster.New.
	reg := cluster.NewRegistry()
	registerAll(reg)

	setup, err := prepareCluster(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cluster setup: %w", err)
	}
	node, err := cluster.New(cluster.Config{
		Dir:               filepath.Join(cfg.DataDir, "cluster"),
		NodeID:            cfg.NodeID,
		RaftAddr:          cfg.RaftAddr,
		AdvertiseAddr:     cfg.Cluster.AdvertiseAddr,
		Identity:          setup.identity,
		Join:              setup.join != nil,
		FaultInjection:    cfg.FaultInjection,
		Registry:          reg,
		Logger:            log,
		OutboxBackoff:     cfg.Outbox.Backoff,
		OutboxMaxBackoff:  cfg.Outbox.MaxBackoff,
		OutboxMaxAttempts: cfg.Outbox.MaxAttempts,
		OutboxTimeout:     cfg.Outbox.Timeout,
		SnapshotThreshold: cfg.Cluster.SnapshotThreshold,
		SnapshotInterval:  cfg.Cluster.SnapshotInterval,
		TrailingLogs:      cfg.Cluster.TrailingLogs,
		PromoteAfter:      cfg.Cluster.PromoteAfter,   // cluster_cmd.go
		SaveIdentity:      identitySaver(cfg.DataDir), // cluster_cmd.go
		JoinSecret:        joinSecret(cfg.DataDir),    // cluster_cmd.go
		BinaryVersion:     versionString(),
		OutboxParallel:    cfg.Outbox.Parallel,
	})
	if err != nil {
		return fmt.Errorf("open node: %w", err)
	}
	closers = append(closers, func() {
		if err := node.Close(); err != nil {
			log.Error("close node", "component", "main", "err", err)
		}
	})
	// One registry for the node: the deliverer reads the Comuni's Reply-To
	// through it, the web handlers resolve hosts through it.
	tenants := tenant.NewRegistry(node, node.DB(), cfg.BaseDomain)
	node.HandleOutbox(booking.OutboxKind, comuneEmailDeliverer(sender, cfg.Mail.DefaultFrom,
		tenants.ReplyTo, time.Now, log.With("component", "mail")))
	// The queue's "manca poco" and "è il tuo turno" emails (issue 5).
	node.HandleOutbox(queue.OutboxKind, queue.EmailDeliverer(sender, cfg.Mail.DefaultFrom, time.Now, log.With("component", "mail")))
	// The citizens' data requests: one-time links, receipts, decisions.
	handlePrivacyRequestsOutbox(node, sender, cfg.Mail.DefaultFrom, log) // privacy_requests.go
	// The waiting list's emails and the services' App IO messages.
	fair := &fairWiring{} // fairness.go
	fair.handleOutbox(node, sender, cfg, log)
	fair.handleQueueAppIO(node, cfg, log) // queue_appio.go
	// Their Web Push twins, signed with the cluster's VAPID key.
	pw := &pushWiring{}
	pushDeliver, err := pw.deliverer(cfg, log.With("component", "push"))
	if err != nil {
		return err
	}
	node.HandleOutbox(queue.PushOutboxKind, pushDeliver)
	// Appointment reminders' notifications (issue 10), reminders.go.
	rem := &reminderWiring{}
	if err := rem.handleOutbox(node, cfg, pw, log.With("component", "push")); err != nil {
		return err
	}

	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	err = setup.start(sctx, node, log)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting: not an error
		}
		return fmt.Errorf("start node: %w", err)
	}

	book := booking.NewBook(node, node.DB(), time.Now, rand.Reader)
	rem.start(ctx, node, tenants, book, log.With("component", "reminders"))
	// Retention per Comune and data class (the leader erases what is
	// due), and every node's compaction of its files after an erasure.
	retention := privacy.NewService(node, node.DB(), privacy.Options{Logger: log.With("component", "privacy")})
	go retention.RunRetention(ctx, cfg.Privacy.RetentionEvery)
	go retention.RunCompactor(ctx, node, cfg.Privacy.CompactPoll, cfg.Privacy.CompactEvery)
	if opts.demo {
		lines := queue.New(node, node.DB(), book, time.Now, rand.Reader)
		bari, err := seedDemo(ctx, tenants, book, lines, log.With("component", "demo"))
		if err != nil {
			return err
		}
		// The catalogue of a mid-size Comune, with FAQ and synonyms, for
		// the assistant to work on (issue 9).
		know := knowledge.NewStore(node, node.DB(), book)
		if err := seedDemoCatalogue(ctx, bari, book, lines, know, log.With("component", "demo")); err != nil {
			return err
		}
		secret, err := seedDemoAdmin(ctx, auth.NewStore(auth.Config{Proposer: node, DB: node.DB()}), time.Now)
		if err != nil {
			return err
		}
		opts.demoAdminSecret = secret
	}

	if opts.secrets, err = nodeSecrets(cfg); err != nil { // admin_oidc.go
		return err
	}
	// The internal CA exists from the cluster's first start (issue 7).
	startInternalCA(ctx, node, opts.secrets, log) // tls_ca.go
	// Citizens' free texts are sealed under the Comune's key (issue 11).
	sealBookingFields(book, node, opts.secrets) // booking_seal.go
	// Confirm-to-keep releases and the waiting list's offers (issue 11).
	fair.start(ctx, node, opts.secrets, tenants, book, log)
	// The calls (issue 6): rooms, SFU, TURN and documents; closed before
	// the node (closers run in reverse).
	if opts.calls, err = startCalls(ctx, cfg, node, opts.secrets, log); err != nil {
		return err
	}
	closers = append(closers, opts.calls.close)

	// Metrics and readiness (issue 8): /readyz on the public listener and,
	// with /metrics, on the [metrics] admin listener.
	sfuStats, turnStats := callsMetrics(opts.calls) // metrics.go
	opts.metrics = NewMetrics(MetricsSources{Node: node, SFU: sfuStats, TURN: turnStats, Logger: log})
	opts.ready = NewReadiness(node, cfg.DataDir, log) // readyz.go
	metricsSrv, err := startMetricsServer(cfg.Metrics, opts.metrics, opts.ready, log)
	if err != nil {
		return err
	}
	closers = append(closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		if err := metricsSrv.Close(ctx); err != nil {
			log.Warn("metrics listener closed with an error", "component", "metrics", "err", err)
		}
	})
	// Scheduled backups into a local folder, on every node ([backup]).
	backups, err := startBackupSchedule(ctx, cfg.Backup, cfg.NodeID, node, opts.metrics.Registry(), log) // backup_schedule.go
	if err != nil {
		return err
	}
	closers = append(closers, backups.Close)

	// The certificate manager works on the replicated state and seals
	// the keys it stores with secrets.key.
	if opts.tls != nil {
		if err := opts.tls.newManager(cfg, node, tenants, opts.secrets, log); err != nil {
			return err
		}
	}

	handler, err := newHandler(cfg, opts, node, tenants, book, box, pw, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpLn) }()
	if opts.tls != nil {
		opts.tls.serve(ctx, cfg, handler, healthz(node, cfg.NodeID))
	}

	httpAddr := httpLn.Addr().String()
	status := func() nodeStatus {
		return nodeStatus{
			NodeID: cfg.NodeID, Version: versionString(), Leader: node.IsLeader(),
			AppliedIndex: node.AppliedIndex(), RaftAddr: node.RaftAddr(), HTTPAddr: httpAddr,
			BaseDomain: tenants.BaseDomain(), DataDir: cfg.DataDir, Demo: opts.demo, Mailbox: box != nil,
		}
	}
	admin := newAdminServer(node, tenants, book, status, log)
	admin.shutdown = stopRun
	admin.Start(adminLn)

	log.Info("sportello started", "component", "main", "node", cfg.NodeID, "http", httpAddr,
		"raft", node.RaftAddr(), "data", cfg.DataDir, "version", versionString())
	printURLs(ctx, opts, tenants, httpAddr, cfg.DataDir)

	// Under systemd (Type=notify): ready now that the node has a leader
	// and every listener serves; the watchdog is fed while the node makes
	// progress (a leader known, or the applied index moving).
	if err := sdnotify.Ready(); err != nil {
		log.Warn("could not tell systemd the node is ready", "component", "main", "err", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	wdDone := make(chan struct{})
	go func() {
		defer close(wdDone)
		leader := func() string { id, _ := node.Leader(); return id }
		sdnotify.RunWatchdog(wctx, sdnotify.Progress(leader, node.AppliedIndex))
	}()
	closers = append(closers, func() { wcancel(); <-wdDone })

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		admin.Close(context.Background())
		return fmt.Errorf("http server: %w", err)
	case err := <-opts.tls.errc():
		admin.Close(context.Background())
		return fmt.Errorf("https server: %w", err)
	}

	log.Info("shutting down", "component", "main")
	_ = sdnotify.Stopping()
	shctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shctx); err != nil {
		log.Warn("http requests still running at shutdown timeout; closing them", "component", "main", "err", err)
		srv.Close()
	}
	<-serveErr
	opts.tls.shutdown(shctx)
	if err := admin.Close(shctx); err != nil {
		log.Warn("admin requests still running at shutdown timeout", "component", "main", "err", err)
	}
	// The deferred closers now close the node: outbox worker, raft, SQLite.
	return nil
}

// newHandler builds the HTTP handler of the node: /healthz and, in the
// demo, the mailbox page on every host; everything else behind the tenant
// middleware, which answers unknown hosts with the neutral 404.
func newHandler(cfg Config, opts runOptions, node *cluster.Node, tenants *tenant.Registry, book *booking.Book, box *mailer.Mailbox, pw *pushWiring, log *slog.Logger) (http.Handler, error) {
	// Logos at https addresses become the Comuni's app icons; the
	// fetcher refuses private addresses after DNS.
	s, err := site.New(site.Options{Resolver: tenants, Logger: log, FetchLogo: site.PublicLogoFetcher(),
		Assistant: cfg.Assistant.Enabled, LegalPagesElsewhere: true})
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	secrets := opts.secrets
	if secrets == nil {
		if secrets, err = nodeSecrets(cfg); err != nil { // admin_oidc.go
			return nil, err
		}
	}
	authStore := auth.NewStore(auth.Config{Proposer: node, DB: node.DB(), Secrets: secrets})
	logins, err := authweb.New(authweb.Config{Store: authStore, Site: s, Logger: log, TrustProxyHeaders: cfg.HTTP.TrustProxyHeaders,
		Offices: officeRefs(book), Audit: node})
	if err != nil {
		return nil, err
	}
	rl := bookingweb.RateLimit{PerMinute: cfg.RateLimit.BookingsPerMinute, Burst: cfg.RateLimit.Burst, MaxClients: cfg.RateLimit.MaxClients}
	web, err := bookingweb.New(bookingweb.Config{
		Book: book, Site: s, Logger: log, Now: time.Now, RateLimit: rl,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, TrustProxyHeaders: cfg.HTTP.TrustProxyHeaders,
		Freshness: node,
		// Proof-of-work challenges verify and App IO keys open on every
		// node: both keys come from secrets.key.
		ChallengeKey: secrets.Derive(bookingChallengePurpose),
		AppIOSealer:  appio.Sealer{Key: secrets.Derive(appIOPurpose)},
		// The back office (/gestione) sits behind the operators' login.
		Guard: logins, SessionFrom: authweb.SessionFrom,
		Tenants: tenants,
		// The agenda lists the documents of video calls (calls.go).
		Documents: opts.calls.documents(),
	})
	if err != nil {
		return nil, err
	}
	lineQueue := queue.New(node, node.DB(), book, time.Now, rand.Reader)
	lineQueue.PushPolicy = cfg.Push.policy()
	keys := push.NewKeys(node, secrets, cfg.pushSubject())
	pw.keys.Store(keys)
	pw.queue.Store(lineQueue)
	var pushKey func(context.Context) (string, error)
	if cfg.Push.Enabled {
		pushKey = keys.PublicKey
	}
	tenantMux := http.NewServeMux()
	web.Routes(tenantMux)
	mountBookingPush(web, tenantMux, cfg)
	// The virtual queue's public API (issue 5's first slice): its routes
	// are more specific than booking/web's /api/v1/ fallback.
	lines, err := queueweb.New(queueweb.Config{
		Queue: lineQueue, Site: s, Logger: log, PushKey: pushKey,
		TrustProxyHeaders: cfg.HTTP.TrustProxyHeaders, Changes: node, Calls: opts.calls != nil,
		RateLimit: queueweb.RateLimit{PerMinute: cfg.RateLimit.TicketsPerMinute, Burst: cfg.RateLimit.TicketsBurst,
			MaxClients: cfg.RateLimit.MaxClients},
		// The operator's desk page (/gestione/coda) sits behind the login.
		Guard: logins, SessionFrom: authweb.SessionFrom, Book: book,
		// Proof-of-work challenges must verify on every node: the key
		// comes from secrets.key, which every node of the cluster holds.
		ChallengeKey: secrets.Derive("queue.challenge"),
		// App IO keys are sealed with the same key as booking's, which
		// the queue's deliverer (queue_appio.go) opens them with.
		AppIOSealer: appio.Sealer{Key: secrets.Derive(appIOPurpose)},
	})
	if err != nil {
		return nil, err
	}
	lines.Routes(tenantMux)
	// The virtual assistant (issue 9): the API, its page and the widget
	// on every citizen page; it knows the Comune's offices, services,
	// FAQ and synonyms (assistant/knowledge).
	know := knowledge.NewStore(node, node.DB(), book)
	if _, err := mountAssistant(cfg.Assistant, assistantDeps{Catalogues: know,
		Book: book, Queue: lineQueue, Site: s, Secrets: secrets, HTTP: cfg.HTTP, Log: log}, tenantMux); err != nil {
		return nil, err
	}
	if err := opts.calls.mount(tenantMux, lineQueue, s, logins); err != nil { // calls.go
		return nil, err
	}
	// The Comune's own domains and their certificates (issue 7).
	domains, err := certsweb.New(certsweb.Config{Site: s, Tenants: tenants, Applied: node, Guard: logins,
		SessionFrom: authweb.SessionFrom, Status: opts.tls.status(), Logger: log})
	if err != nil {
		return nil, err
	}
	domains.Routes(tenantMux)
	// Retention and legal holds (/gestione/comune/privacy-dati), and the
	// citizens' access and erasure requests (/gestione/privacy,
	// /privacy/richiesta), issue 11.
	priv := privacy.NewService(node, node.DB(), privacy.Options{Logger: log.With("component", "privacy")})
	privPages, err := privacyweb.New(privacyweb.Config{Site: s, Privacy: priv, Applied: node, Guard: logins,
		Logger: log})
	if err != nil {
		return nil, err
	}
	privPages.Routes(tenantMux)
	if err := mountPrivacyRequests(privacyRequestsDeps{Node: node, Site: s, Book: book, Queue: lineQueue,
		Docs: callDocuments(opts.calls), Eraser: priv, Guard: logins, HTTP: cfg.HTTP, Log: log}, tenantMux); err != nil {
		return nil, err
	}
	// The assistant's FAQ and synonyms, for the Comune administrator.
	kadmin, err := knowledgeweb.New(knowledgeweb.Config{Site: s, Store: know, Book: book, Applied: node, Guard: logins,
		Logger: log})
	if err != nil {
		return nil, err
	}
	kadmin.Routes(tenantMux)
	if opts.tls != nil {
		opts.tls.site = s // the port-80 redirect resolves hosts through it
	}
	// Each Comune's privacy notice and accessibility statement, edited
	// by its administrator (tenant/legal).
	legalPages, err := tenantweb.New(tenantweb.Config{Documents: legal.NewStore(node, node.DB()), Tenants: tenants, Applied: node,
		Site: s, Guard: logins, SessionFrom: authweb.SessionFrom,
		DefaultRetentionDays: int(cfg.Media.Documents.Retention / (24 * time.Hour)), Logger: log})
	if err != nil {
		return nil, err
	}
	legalPages.Routes(tenantMux)
	logins.Routes(tenantMux)
	s.Routes(tenantMux)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", healthz(node, cfg.NodeID))
	ready := opts.ready
	if ready == nil {
		ready = NewReadiness(node, cfg.DataDir, log)
	}
	root.Handle("GET /readyz", ready)
	if opts.demo && box != nil {
		page, err := newMailboxPage(box, log)
		if err != nil {
			return nil, err
		}
		page.Routes(root)
	}
	if opts.demo && opts.demoAdminSecret != "" {
		page, err := newDemoAdminPage(opts.demoAdminSecret, tenants.PrimaryHost(demoTenant()), time.Now, log)
		if err != nil {
			return nil, err
		}
		page.Routes(root)
	}
	// Route sits right around the tenant mux, whose request carries the
	// matched pattern; Middleware wraps everything (metrics.go).
	root.Handle("/", s.Tenant(logins.Sessions(opts.metrics.Route(tenantMux))))
	opts.calls.serveForwarded(root)
	return opts.metrics.Middleware(root), nil
}

// officeRefs adapts booking's offices to the grant forms of auth/web,
// which cannot import booking.
func officeRefs(book *booking.Book) func(context.Context, tenant.ID) ([]authweb.OfficeRef, error) {
	return func(ctx context.Context, t tenant.ID) ([]authweb.OfficeRef, error) {
		offices, err := book.Offices(ctx, t)
		if err != nil {
			return nil, err
		}
		refs := make([]authweb.OfficeRef, 0, len(offices))
		for _, o := range offices {
			refs = append(refs, authweb.OfficeRef{ID: o.ID, Name: o.Name})
		}
		return refs, nil
	}
}

// healthz answers 200 while the process serves HTTP (liveness), with the
// node's view of the cluster: "leader" is the ID of the leader it knows
// ("" while none), "is_leader" whether that is itself, and "stale" whether
// it has lost contact with the leader for longer than StaleAfter (its
// slot listings then answer 503; see cluster.Node.Stale). A stale node
// still answers 200: readiness for a load balancer is a separate check.
func healthz(node *cluster.Node, nodeID string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		stale, _ := node.Stale()
		leader, _ := node.Leader()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status": "ok", "node": nodeID, "leader": leader, "is_leader": node.IsLeader(),
			"stale": stale, "applied_index": node.AppliedIndex(),
		})
	}
}

// printURLs tells the person who started the node what to open.
func printURLs(ctx context.Context, opts runOptions, tenants *tenant.Registry, httpAddr, dataDir string) {
	if opts.stdout == nil {
		return
	}
	// One write, so that whoever reads the output never sees half a banner.
	w := &strings.Builder{}
	if opts.demo {
		host := tenants.PrimaryHost(demoTenant())
		fmt.Fprintf(w, "\nSportello demo is running. Open in a browser:\n\n")
		fmt.Fprintf(w, "  Comune di Bari        %s\n", siteURL(host, httpAddr, "/"))
		fmt.Fprintf(w, "  Book an appointment   %s\n", siteURL(host, httpAddr, "/prenota"))
		fmt.Fprintf(w, "  Email sent (demo)     %s\n", siteURL(host, httpAddr, "/_demo/posta"))
		fmt.Fprintf(w, "  Back office           %s (user %s, password %s, code at %s)\n", siteURL(host, httpAddr, "/gestione"),
			demoAdminUser, demoAdminPassword, siteURL(host, httpAddr, "/_demo/accesso"))
		fmt.Fprintf(w, "  API description       %s\n", siteURL(host, httpAddr, "/api/v1/openapi.json"))
		fmt.Fprintf(w, "\n*.localhost names reach this machine in browsers and curl; elsewhere use\n")
		fmt.Fprintf(w, "  curl -H 'Host: %s' %s\n", host, siteURL(httpAddrHost(httpAddr), httpAddr, "/"))
	} else {
		fmt.Fprintf(w, "\nSportello is serving on %s\n", siteURL(httpAddrHost(httpAddr), httpAddr, "/"))
		if ts, err := tenants.List(ctx); err == nil {
			for _, t := range ts {
				fmt.Fprintf(w, "  %-24s %s\n", t.Name, siteURL(tenants.PrimaryHost(t), httpAddr, "/"))
			}
		}
	}
	fmt.Fprintf(w, "\nData in %s; admin socket %s. Stop with Ctrl+C.\n\n", dataDir, adminSocketPath(dataDir))
	_, _ = io.WriteString(opts.stdout, w.String())
}

// httpAddrHost is the host to reach httpAddr on: loopback for a wildcard
// listen address.
func httpAddrHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return host
}

// registerAll adds every package's schema and commands to reg.
func registerAll(reg *cluster.Registry) {
	tenant.Register(reg)
	legal.Register(reg)
	booking.Register(reg)
	queue.Register(reg)
	queue.RegisterAppIO(reg)
	auth.Register(reg)
	push.Register(reg)
	certs.Register(reg)
	media.Register(reg)
	docs.Register(reg)
	knowledge.Register(reg)
	privacy.Register(reg)
	requests.Register(reg)
	probeRegister(reg) // only in the sportello_upgrade_probe test build
}
