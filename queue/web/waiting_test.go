package web

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// clockEnv is a one-node cluster whose clock the test sets (the leader
// stamps commands with it, so apply judges check-in windows and opening
// hours by it), with Comune "bari" and one office open Monday–Friday
// 09:00–12:00, offering a 30-minute service in person, by video and by
// phone. Bookings are made on the Friday before Monday 9 March 2026.
type clockEnv struct {
	*env
	clock *clustertest.Clock
	book  *booking.Book
}

// monday is hh:mm on Monday 9 March 2026 in Bari.
func monday(hh, mm int) time.Time {
	return time.Date(2026, 3, 9, hh, mm, 0, 0, time.FixedZone("CET", 3600))
}

func newClockEnv(t *testing.T) *clockEnv {
	t.Helper()
	clock := clustertest.NewClock(monday(0, 0).AddDate(0, 0, -3).Add(12 * time.Hour))
	n := clustertest.New(t, cluster.Config{Now: clock.Now}, tenant.Register, booking.Register, queue.Register)
	clustertest.Start(t, n)
	reg := tenant.NewRegistry(n, n.DB(), "example.it")
	book := booking.NewBook(n, n.DB(), clock.Now, rand.Reader)
	q := queue.New(n, n.DB(), book, clock.Now, rand.Reader)
	s, err := site.New(site.Options{Resolver: reg, Logger: clustertest.Logger(t)})
	if err != nil {
		t.Fatalf("site.New: %v", err)
	}
	h, err := New(Config{Queue: q, Site: s, Logger: clustertest.Logger(t), RateLimit: RateLimit{PerMinute: -1}, Changes: n, Now: clock.Now, ChallengeKey: []byte("test key")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	h.Routes(mux)
	e := &clockEnv{env: &env{t: t, srv: s.Tenant(mux), q: q, handler: h, leaderQ: q}, clock: clock, book: book}
	ctx := context.Background()
	ten, err := reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"})
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 9 * 60, End: 12 * 60}}
	}
	o, err := book.SaveOffice(ctx, ten.ID, booking.Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele 1", Hours: week})
	if err != nil {
		t.Fatalf("save office: %v", err)
	}
	svc, err := book.SaveService(ctx, ten.ID, booking.Service{
		OfficeID: o.ID, Name: "Carta d'identità", Description: "CIE.", Category: "Anagrafe",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson, booking.Video, booking.Phone}, Capacity: 3,
		MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
	})
	if err != nil {
		t.Fatalf("save service: %v", err)
	}
	e.bari = seeded{tenant: ten, host: "bari.example.it", office: o, service: svc}
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.MaxPerIP = 0 })
	return e
}

// bookAt books the service at start by channel and returns the booking
// with its join token; the clock must be at least an hour before.
func (e *clockEnv) bookAt(start time.Time, ch booking.Channel, fiscal string) booking.Booking {
	e.t.Helper()
	c, err := e.book.Create(context.Background(), e.bari.tenant, booking.Request{
		ServiceID: e.bari.service.ID, Start: start, Channel: ch, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: fiscal, Email: "maria@example.it", Phone: "+39 333 1234567"},
	}, "https://bari.example.it")
	if err != nil {
		e.t.Fatalf("book %s at %s: %v", ch, start.Format("Mon 15:04"), err)
	}
	return c.Booking
}

var fiscalCodes = []string{"RSSMRA85T10A562S", "MRARSS80A01H501T", "RSSMRA85T10A562S"}

func TestWaitingRoomChecksInOnceAndShowsTheTicket(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	video := e.bookAt(monday(10, 30), booking.Video, fiscalCodes[0])
	inPerson := e.bookAt(monday(10, 0), booking.InPerson, fiscalCodes[1])
	if video.JoinToken == "" {
		t.Fatal("video booking without a join token")
	}
	room := booking.JoinPath(video.Code, video.JoinToken)

	// Wrong or missing token, unknown code, an in-person booking: the
	// same 404 page, and nobody is checked in.
	e.clock.Set(monday(10, 20))
	for _, target := range []string{
		"/chiamata/" + video.Code + "?t=sbagliato", "/chiamata/" + video.Code, "/chiamata/BA-ZZZZZZ?t=" + video.JoinToken,
		"/chiamata/" + inPerson.Code + "?t=" + video.JoinToken,
	} {
		res := e.browse("GET", e.bari.host, target, nil)
		if res.Status != http.StatusNotFound || !strings.Contains(res.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(pageText(res.Body), "Non troviamo un appuntamento in video o al telefono con questo link") {
			t.Errorf("GET %s: got %d, want the waiting room's 404 page:\n%s", target, res.Status, pageText(res.Body))
		}
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 0 {
		t.Fatalf("after refused links: %d tickets, want none", len(line))
	}

	// The Friday before: the room opens on Monday.
	e.clock.Set(monday(12, 0).AddDate(0, 0, -3))
	early := e.browse("GET", e.bari.host, room, nil)
	if early.Status != http.StatusOK || !strings.Contains(pageText(early.Body), "La sala d'attesa non è ancora aperta Apre lunedì 9 marzo 2026 ore 10:15") ||
		strings.Contains(early.Body, `http-equiv="refresh"`) {
		t.Errorf("room on another day: got %d, want it to say when it opens, without reloading:\n%s", early.Status, pageText(early.Body))
	}
	accessible(t, "closed room", early.Body)
	if got := early.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("room Referrer-Policy %q, want no-referrer", got)
	}
	// Monday 10:05, before the window (10:15): it reloads at most every
	// minute; 30 s before, in 30 s.
	e.clock.Set(monday(10, 5))
	early = e.browse("GET", e.bari.host, room, nil)
	if !strings.Contains(pageText(early.Body), "Apre oggi alle 10:15") || !strings.Contains(early.Body, `<meta http-equiv="refresh" content="60">`) {
		t.Errorf("room 10 minutes before: want today's opening and a reload within a minute:\n%s", early.Body)
	}
	e.clock.Set(monday(10, 14).Add(30 * time.Second))
	if early = e.browse("GET", e.bari.host, room, nil); !strings.Contains(early.Body, `<meta http-equiv="refresh" content="30">`) {
		t.Errorf("room 30 s before: want a reload in 30 s:\n%s", early.Body)
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 0 {
		t.Fatalf("before the window: %d tickets, want none", len(line))
	}

	// In the window: checked in, in the video line.
	e.clock.Set(monday(10, 20))
	in := e.browse("GET", e.bari.host, room, nil)
	text := pageText(in.Body)
	if in.Status != http.StatusOK || !strings.Contains(in.Body, `id="numero">A001<`) ||
		!strings.Contains(text, "Sei in sala d'attesa: l'operatore ti farà entrare a breve") {
		t.Fatalf("room in the window: got %d, want ticket A001 waiting:\n%s", in.Status, text)
	}
	accessible(t, "waiting room", in.Body)
	events := regexp.MustCompile(`data-coda-ticket="([^"]+)" data-coda-room="1"`).FindStringSubmatch(in.Body)
	if events == nil || !strings.HasPrefix(html.UnescapeString(events[1]), "/chiamata/"+video.Code+"/eventi?t=") || strings.Contains(in.Body, "secret") {
		t.Errorf("room page: want the room's stream (by join token, no ticket secret):\n%s", in.Body)
	}
	line, err := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID)
	if err != nil || len(line) != 1 || line[0].BookingCode != video.Code || line[0].Channel != queue.Video || !line[0].Booked {
		t.Fatalf("line after the check-in: %+v (%v), want one booked video ticket of %s", line, err, video.Code)
	}
	// A reload (or a second tab) finds the same ticket.
	again := e.browse("GET", e.bari.host, room, nil)
	if !strings.Contains(again.Body, `id="numero">A001<`) {
		t.Errorf("reload: want the same ticket A001:\n%s", pageText(again.Body))
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 1 {
		t.Errorf("after a reload: %d tickets, want still one", len(line))
	}

	// The room's stream follows the operator's call, by the join token.
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bad, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/chiamata/"+video.Code+"/eventi?t=sbagliato", nil)
	bad.Host = e.bari.host
	if resp, err := srv.Client().Do(bad); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("room stream with a wrong token: got %v (%v), want 404", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+html.UnescapeString(events[1]), nil)
	req.Host = e.bari.host
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("room stream: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() map[string]any {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var v map[string]any
				if err := json.Unmarshal([]byte(data), &v); err != nil {
					t.Fatalf("event %q: %v", data, err)
				}
				return v
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return nil
	}
	if v := next(); v["number"] != "A001" || v["state"] != "waiting" || v["id"] != nil || v["status_url"] != nil {
		t.Errorf("first room event: got %v, want A001 waiting without id or link", v)
	}
	if _, err := e.q.CallNext(ctx, e.bari.tenant, e.bari.office.ID, "2", nil); err != nil {
		t.Fatal(err)
	}
	if v := next(); v["state"] != "called" || v["desk"] != "2" {
		t.Errorf("room event after the call: got %v, want called at desk 2", v)
	}
	called := e.browse("GET", e.bari.host, room, nil)
	if !strings.Contains(pageText(called.Body), "È il tuo turno: l'operatore ti sta facendo entrare") {
		t.Errorf("room after the call:\n%s", pageText(called.Body))
	}
}

func TestWaitingRoomOfAPastDayIsClosed(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	phone := e.bookAt(monday(11, 0), booking.Phone, fiscalCodes[2])
	e.clock.Set(monday(9, 0).AddDate(0, 0, 1))
	res := e.browse("GET", e.bari.host, booking.JoinPath(phone.Code, phone.JoinToken), nil)
	if res.Status != http.StatusOK || !strings.Contains(pageText(res.Body), "La sala d'attesa è chiusa") ||
		!strings.Contains(pageText(res.Body), "al telefono") {
		t.Errorf("room the day after: got %d, want it closed:\n%s", res.Status, pageText(res.Body))
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 0 {
		t.Errorf("room the day after: %d tickets, want none", len(line))
	}
}

func TestKioskChecksInByBookingCode(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	ten := e.bookAt(monday(10, 0), booking.InPerson, fiscalCodes[0])
	tuesday := e.bookAt(monday(10, 0).AddDate(0, 0, 1), booking.InPerson, fiscalCodes[1])
	kiosk := "/coda/" + e.bari.office.ID + "/chiosco"
	e.clock.Set(monday(9, 40))

	home := e.browse("GET", e.bari.host, kiosk, nil)
	if !strings.Contains(home.Body, `href="`+kiosk+`?prenotazione=1"`) || !strings.Contains(pageText(home.Body), "Ho una prenotazione") {
		t.Fatalf("kiosk: want the booking button:\n%s", home.Body)
	}
	form := e.browse("GET", e.bari.host, kiosk+"?prenotazione=1", nil)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, `name="codice"`) || !strings.Contains(form.Body, `name="azione" value="arrivo"`) ||
		!strings.Contains(form.Body, `<meta http-equiv="refresh" content="90;url=`+kiosk+`">`) {
		t.Fatalf("code screen: got %d:\n%s", form.Status, form.Body)
	}
	accessible(t, "code screen", form.Body)

	checkIn := func(code string) codaPage {
		t.Helper()
		return e.browse("POST", e.bari.host, kiosk, url.Values{"azione": {"arrivo"}, "codice": {code}})
	}
	for _, tt := range []struct {
		name, code string
		status     int
		want       string
	}{
		{"empty", " ", 422, "Scrivi il codice della prenotazione"},
		{"unknown", "BA-ZZZZZZ", 422, "Non troviamo una prenotazione attiva con il codice BA-ZZZZZZ"},
		{"another day", tuesday.Code, 422, "non è per oggi"},
		{"too early", ten.Code, 409, "È presto per registrare l'arrivo: torna alle 09:45."},
	} {
		res := checkIn(tt.code)
		if res.Status != tt.status || !strings.Contains(pageText(res.Body), tt.want) || !strings.Contains(res.Body, `role="alert"`) {
			t.Errorf("%s: got %d, want %d with %q:\n%s", tt.name, res.Status, tt.status, tt.want, pageText(res.Body))
		}
		accessible(t, tt.name, res.Body)
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 0 {
		t.Fatalf("after refused check-ins: %d tickets, want none", len(line))
	}

	// Typed in lower case with a space, in the window: checked in.
	e.clock.Set(monday(9, 50))
	typed := strings.ToLower(ten.Code[:3]) + " " + strings.ToLower(ten.Code[3:])
	ok := checkIn(typed)
	if ok.Status != http.StatusOK || !strings.Contains(ok.Body, `id="numero">A001<`) || !strings.Contains(pageText(ok.Body), "Arrivo registrato") ||
		!strings.Contains(ok.Body, `<meta http-equiv="refresh" content="10;url=`+kiosk+`">`) {
		t.Fatalf("check-in %q: got %d, want A001 shown:\n%s", typed, ok.Status, pageText(ok.Body))
	}
	line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID)
	if len(line) != 1 || line[0].BookingCode != ten.Code || !line[0].Booked || line[0].Channel != queue.InPerson {
		t.Fatalf("line after the check-in: %+v, want the booked ticket", line)
	}
	again := checkIn(ten.Code)
	if again.Status != http.StatusConflict || !strings.Contains(pageText(again.Body), "Hai già registrato l'arrivo per questa prenotazione: il tuo numero è A001.") {
		t.Errorf("second check-in: got %d:\n%s", again.Status, pageText(again.Body))
	}
}

func TestClosedQueue(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	e.clock.Set(monday(8, 0))
	office := "/coda/" + e.bari.office.ID
	form := e.browse("GET", e.bari.host, office, nil)
	if form.Status != http.StatusOK || !strings.Contains(pageText(form.Body), "In questo momento la coda è chiusa Potrai prendere il numero da lunedì 9 marzo 2026 ore 09:00.") ||
		strings.Contains(form.Body, `method="post"`) {
		t.Errorf("form before the opening: want the opening time and no form:\n%s", pageText(form.Body))
	}
	accessible(t, "closed form", form.Body)
	res := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}})
	if res.Status != http.StatusConflict || !strings.Contains(pageText(res.Body), "la coda è chiusa") {
		t.Errorf("post before the opening: got %d:\n%s", res.Status, pageText(res.Body))
	}
	if api := e.take(e.bari, `{"channel":"in_person"}`); api.Status != http.StatusConflict || api.Err.Code != "queue_closed" {
		t.Errorf("API before the opening: got %d %+v, want 409 queue_closed", api.Status, api.Err)
	}
	kiosk := e.browse("GET", e.bari.host, office+"/chiosco", nil)
	if !strings.Contains(pageText(kiosk.Body), "in questo momento la coda è chiusa") || strings.Contains(kiosk.Body, `name="servizio"`) ||
		!strings.Contains(kiosk.Body, "Ho una prenotazione") {
		t.Errorf("kiosk before the opening: want no service buttons but the booking one:\n%s", pageText(kiosk.Body))
	}
	// At 09:00 the numbers start; with a cap of one a day, the second is
	// refused.
	e.clock.Set(monday(9, 0))
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.DailyCap = 1 })
	if first := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}}); first.Status != http.StatusSeeOther {
		t.Fatalf("first post at 09:00: got %d:\n%s", first.Status, pageText(first.Body))
	}
	second := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}})
	if second.Status != http.StatusConflict || !strings.Contains(pageText(second.Body), "I numeri di oggi per questo ufficio sono finiti") {
		t.Errorf("second post with a cap of one: got %d:\n%s", second.Status, pageText(second.Body))
	}
	accessible(t, "form with an alert", second.Body)

	// Closed for the next weeks: the page says so, without a date.
	if _, err := e.book.AddClosure(context.Background(), e.bari.tenant.ID, booking.Closure{
		OfficeID: e.bari.office.ID, From: civil.DateOf(monday(0, 0)), To: civil.DateOf(monday(0, 0)).AddDays(30), Reason: "Lavori",
	}); err != nil {
		t.Fatal(err)
	}
	closed := e.browse("GET", e.bari.host, office, nil)
	if !strings.Contains(pageText(closed.Body), "In questo momento la coda è chiusa L'ufficio non dà numeri nei prossimi giorni.") {
		t.Errorf("form of an office closed for weeks:\n%s", pageText(closed.Body))
	}
}

func TestWaitingRoomOfACancelledBookingIsNotFound(t *testing.T) {
	t.Parallel()
	e := newClockEnv(t)
	c, err := e.book.Create(context.Background(), e.bari.tenant, booking.Request{
		ServiceID: e.bari.service.ID, Start: monday(10, 30), Channel: booking.Video, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: fiscalCodes[0], Email: "maria@example.it"},
	}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.book.Cancel(context.Background(), e.bari.tenant, c.Booking.Code, c.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(monday(10, 20))
	if res := e.browse("GET", e.bari.host, booking.JoinPath(c.Booking.Code, c.Booking.JoinToken), nil); res.Status != http.StatusNotFound {
		t.Errorf("room of a cancelled booking: got %d, want 404", res.Status)
	}
	if line, _ := e.q.Line(context.Background(), e.bari.tenant, e.bari.office.ID); len(line) != 0 {
		t.Errorf("room of a cancelled booking: %d tickets, want none", len(line))
	}
}
