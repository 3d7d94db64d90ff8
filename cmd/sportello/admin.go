package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The admin socket is how local commands (`sportello tenant ...`, the load
// generator) talk to a running node: HTTP+JSON over the unix socket
// <data_dir>/admin.sock, mode 0600, so only the node's user can use it. It
// needs no authentication beyond the file's permissions and is never
// exposed on the network. Every write goes through the same registries,
// and so through raft, as the web handlers.

// adminSocketName is the socket's file name in the data dir.
const adminSocketName = "admin.sock"

// maxSocketPath is the longest unix socket path every platform accepts
// (104 bytes on BSDs and macOS, 108 on Linux, both with the final NUL).
const maxSocketPath = 103

// errDataDirInUse means another node already serves the data dir.
var errDataDirInUse = errors.New("data dir in use")

// adminSocketPath returns the socket's path in dataDir.
func adminSocketPath(dataDir string) string {
	return filepath.Join(dataDir, adminSocketName)
}

// listenAdmin listens on the admin socket of dataDir. A socket file left
// by a node that died is removed; one that answers belongs to a running
// node, and then the data dir is in use.
func listenAdmin(dataDir string) (net.Listener, error) {
	path := adminSocketPath(dataDir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket path %s is longer than %d bytes: use a shorter data dir", path, maxSocketPath)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: another sportello node is running on %s", errDataDirInUse, dataDir)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale admin socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// The data dir is 0700 already; this keeps the socket private even
	// if an operator loosened the folder.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

// nodeStatus is the answer of GET /v1/status.
type nodeStatus struct {
	NodeID       string `json:"node_id"`
	Version      string `json:"version"`
	Leader       bool   `json:"leader"`
	AppliedIndex uint64 `json:"applied_index"`
	RaftAddr     string `json:"raft_addr"`
	// HTTPAddr is the address the HTTP server listens on (with the real
	// port when the configuration asked for port 0).
	HTTPAddr   string `json:"http_addr"`
	BaseDomain string `json:"base_domain"`
	DataDir    string `json:"data_dir"`
	Demo       bool   `json:"demo"`
	Mailbox    bool   `json:"mailbox"`
}

// tenantView is a Comune as the admin API shows it.
type tenantView struct {
	Tenant tenant.Tenant `json:"tenant"`
	// Hosts are the host names the Comune answers on, primary first.
	Hosts []string `json:"hosts"`
	// URL is the Comune's home page on this node.
	URL string `json:"url"`
}

// adminError is the body of every error answer, as in /api/v1.
type adminError struct {
	Error adminErrorBody `json:"error"`
}

type adminErrorBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// adminServer serves the admin API. It is created by run and closed by
// it, before the node.
type adminServer struct {
	node    *cluster.Node
	tenants *tenant.Registry
	book    *booking.Book
	status  func() nodeStatus
	log     *slog.Logger
	srv     *http.Server
	done    chan struct{} // closed when Serve returns
	// shutdown, when set, makes the process stop as on SIGTERM; `cluster
	// leave` calls it once the node is out of the configuration.
	shutdown func()
}

func newAdminServer(node *cluster.Node, tenants *tenant.Registry, book *booking.Book, status func() nodeStatus, log *slog.Logger) *adminServer {
	a := &adminServer{node: node, tenants: tenants, book: book, status: status, log: log.With("component", "admin")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", a.getStatus)
	mux.HandleFunc("GET /v1/tls/root", a.getTLSRoot) // tls_cmd.go
	mux.HandleFunc("GET /v1/tenants", a.listTenants)
	mux.HandleFunc("POST /v1/tenants", a.createTenant)
	mux.HandleFunc("GET /v1/tenants/{id}", a.getTenant)
	mux.HandleFunc("GET /v1/tenants/{id}/offices", a.listOffices)
	mux.HandleFunc("POST /v1/tenants/{id}/offices", a.saveOffice)
	mux.HandleFunc("POST /v1/tenants/{id}/services", a.saveService)
	mux.HandleFunc("GET /v1/outbox", a.listOutbox)
	mux.HandleFunc("GET /v1/backup", a.getBackup)
	mux.HandleFunc("GET /v1/digest", a.getDigest)
	mux.HandleFunc("POST /v1/debug/store-load", a.storeLoad)
	debugRoutes(mux)
	a.adminUserRoutes(mux)
	a.oidcRoutes(mux)
	a.tenantLifecycleRoutes(mux) // tenant_disable.go
	a.clusterRoutes(mux)
	a.faultRoutes(mux)
	a.probeRoutes(mux) // only in the sportello_upgrade_probe test build
	a.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	return a
}

// Start serves ln in a goroutine that ends when Close is called.
func (a *adminServer) Start(ln net.Listener) {
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin socket stopped", "err", err)
		}
	}()
}

// Close stops the server (letting requests in flight finish until ctx
// ends) and waits for its goroutine. It is safe to call twice.
func (a *adminServer) Close(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		a.srv.Close()
	}
	if a.done != nil {
		<-a.done
	}
	return err
}

func (a *adminServer) getStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.status())
}

// getDigest answers the SHA-256 of this node's replicated state and the
// applied index it describes; nodes at the same index must agree.
func (a *adminServer) getDigest(w http.ResponseWriter, r *http.Request) {
	idx, sum, err := a.node.Digest(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": a.node.Config().NodeID, "applied_index": idx, "sha256": sum})
}

func (a *adminServer) view(t tenant.Tenant) tenantView {
	st := a.status()
	return tenantView{Tenant: t, Hosts: a.tenants.Hosts(t), URL: siteURL(a.tenants.PrimaryHost(t), st.HTTPAddr, "/")}
}

func (a *adminServer) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := a.tenants.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		Tenants []tenantView `json:"tenants"`
	}{Tenants: []tenantView{}}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, a.view(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *adminServer) createTenant(w http.ResponseWriter, r *http.Request) {
	var t tenant.Tenant
	if !a.decode(w, r, &t) {
		return
	}
	t, err := a.tenants.Create(r.Context(), t)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("tenant created", "tenant", t.ID)
	writeJSON(w, http.StatusCreated, a.view(t))
}

func (a *adminServer) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.tenants.Get(r.Context(), tenant.ID(r.PathValue("id")))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(t))
}

// tenantOf answers 404 and returns false when the path's Comune does not
// exist, so office and service writes never create orphan rows.
func (a *adminServer) tenantOf(w http.ResponseWriter, r *http.Request) (tenant.ID, bool) {
	t, err := a.tenants.Get(r.Context(), tenant.ID(r.PathValue("id")))
	if err != nil {
		a.fail(w, r, err)
		return "", false
	}
	return t.ID, true
}

func (a *adminServer) listOffices(w http.ResponseWriter, r *http.Request) {
	id, ok := a.tenantOf(w, r)
	if !ok {
		return
	}
	offices, err := a.book.Offices(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if offices == nil {
		offices = []booking.Office{}
	}
	writeJSON(w, http.StatusOK, struct {
		Offices []booking.Office `json:"offices"`
	}{offices})
}

func (a *adminServer) saveOffice(w http.ResponseWriter, r *http.Request) {
	id, ok := a.tenantOf(w, r)
	if !ok {
		return
	}
	var o booking.Office
	if !a.decode(w, r, &o) {
		return
	}
	o, err := a.book.SaveOffice(r.Context(), id, o)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func (a *adminServer) saveService(w http.ResponseWriter, r *http.Request) {
	id, ok := a.tenantOf(w, r)
	if !ok {
		return
	}
	var s booking.Service
	if !a.decode(w, r, &s) {
		return
	}
	s, err := a.book.SaveService(r.Context(), id, s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (a *adminServer) listOutbox(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", cluster.OutboxPending, cluster.OutboxSent, cluster.OutboxFailed:
	default:
		writeJSON(w, http.StatusBadRequest, adminError{adminErrorBody{Code: "bad_request", Message: "status must be pending, sent or failed"}})
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	items, err := a.node.Outbox(r.Context(), status, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if items == nil {
		items = []cluster.OutboxMessage{}
	}
	writeJSON(w, http.StatusOK, struct {
		Items []cluster.OutboxMessage `json:"items"`
	}{items})
}

// decode reads a strict JSON body into v, answering 400 when it cannot.
func (a *adminServer) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{adminErrorBody{Code: "bad_request", Message: "invalid JSON body: " + err.Error()}})
		return false
	}
	return true
}

// fail maps err to a status and an error body, in this one place.
func (a *adminServer) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tv *tenant.ValidationError
		bv *booking.ValidationError
	)
	body := adminErrorBody{Message: err.Error()}
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &tv):
		status, body.Code, body.Fields = http.StatusUnprocessableEntity, "invalid", tv.Fields
	case errors.As(err, &bv):
		status, body.Code, body.Fields = http.StatusUnprocessableEntity, "invalid", bv.Fields
	case errors.Is(err, tenant.ErrNotFound), errors.Is(err, booking.ErrNotFound):
		status, body.Code = http.StatusNotFound, "not_found"
	case errors.Is(err, tenant.ErrExists), errors.Is(err, tenant.ErrDomainTaken):
		status, body.Code = http.StatusConflict, "conflict"
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrClosed):
		status, body.Code = http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, cluster.ErrNotSupportedByCluster):
		// A rolling upgrade is under way: some member is still older.
		status, body.Code = http.StatusConflict, "not_supported"
	default:
		body.Code, body.Message = "internal", "internal error: "+err.Error()
		a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, adminError{body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// siteURL is the http URL of path on host, served by the node listening
// on listenAddr (whose port is added unless it is 80).
func siteURL(host, listenAddr, path string) string {
	_, port, err := net.SplitHostPort(listenAddr)
	if err == nil && port != "80" {
		host = net.JoinHostPort(host, port)
	}
	return "http://" + host + path
}
