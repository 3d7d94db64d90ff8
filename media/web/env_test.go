package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// oneComune resolves every host to the test's Comune: the pages are
// served from 127.0.0.1, the only host a browser treats as a secure
// context without TLS.
type oneComune struct{ t tenant.Tenant }

func (o oneComune) Resolve(context.Context, string) (tenant.Tenant, error) { return o.t, nil }

var bari = tenant.Tenant{ID: "bari", Name: "Comune di Bari", Region: "Regione Puglia", ISTAT: "072006", TimeZone: "Europe/Rome", Languages: []string{"it", "en", "de"}}

// env is a call server for tests: the site, the SFU and the Handler on
// an httptest server, with a route /call/{who} that plays the caller's
// part (turning a request into a Session): "operatore" is an operator,
// "cittadino" a citizen who waits in the lobby. ?room= picks the room
// (default "room-1"), ?relay=1 forces TURN.
type env struct {
	sfu     *sfu.SFU
	handler *Handler
	srv     *httptest.Server
	// ice are the ICE servers every session gets; upload, when set,
	// gives sessions a documents URL.
	ice    []media.ICEServer
	upload func(who, room string) string
	mux    *http.ServeMux
}

func quietLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func newEnv(t *testing.T, cfg sfu.Config) *env {
	t.Helper()
	log := quietLogger(t)
	st, err := site.New(site.Options{Resolver: oneComune{bari}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = log
	s, err := sfu.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sfu: s, handler: &Handler{SFU: s, Site: st, Logger: log}, mux: http.NewServeMux()}
	st.Routes(e.mux)
	e.handler.Routes(e.mux)
	e.mux.HandleFunc("GET /call/{who}", func(w http.ResponseWriter, r *http.Request) {
		e.handler.Serve(w, r, e.session(r))
	})
	e.srv = httptest.NewServer(st.Tenant(e.mux))
	// The SFU closes the sockets its sessions hold (hijacked, so the
	// server's Close would not), then the server closes.
	t.Cleanup(func() {
		s.Close()
		e.srv.Close()
	})
	return e
}

func (e *env) session(r *http.Request) Session {
	who := r.PathValue("who")
	room := r.URL.Query().Get("room")
	if room == "" {
		room = "room-1"
	}
	s := Session{
		Tenant: bari, RoomID: room, ICEServers: e.ice, Title: "Anagrafe, prova",
		Back: "/", ForceRelay: r.URL.Query().Get("relay") == "1",
	}
	switch who {
	case "operatore":
		s.Participant = sfu.Participant{ID: "op-1", Name: "Maria Rossi", Role: string(media.RoleOperator)}
	default:
		s.Participant = sfu.Participant{ID: "cit-1", Name: "Giovanni Bianchi", Role: string(media.RoleCitizen), Lobby: true}
	}
	if e.upload != nil {
		s.UploadURL = e.upload(who, room)
	}
	return s
}

// deadline is a context for a short exchange.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
