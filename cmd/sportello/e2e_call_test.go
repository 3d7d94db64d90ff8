package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/sportello-virtuale/sportello/auth"
	authweb "github.com/sportello-virtuale/sportello/auth/web"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/browsertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/queue"
)

// The calls of issue 6 through the real binary: the citizen's routes
// over HTTP (TestCallCitizenRoutes), and a whole call between two
// Chromium instances (TestCallBrowser).

// callBinEnv hands the test process re-executed inside a private network
// namespace the binary the outer process built, so that it does not build
// its own.
const callBinEnv = "SPORTELLO_CALL_BIN"

// callNode is a running node with a Comune, a video appointment whose
// citizen has checked in, and a logged-in operator.
type callNode struct {
	p *proc
	// procs are the cluster's nodes (p is the first).
	procs            []*proc
	host             string
	code, token      string
	ticket           string
	cookie           string
	citizen          string
	dataDir          string
	turnUDP          string
	officeID, svcID  string
	waitingRoomPage  string
	waitingRoomPath  string
	citizenVideoPath string
}

// callCheckInRE finds the ticket's ID in the waiting room (the push
// button's data, rendered once checked in).
var callCheckInRE = regexp.MustCompile(`data-push-ticket="([^"]+)"`)

// startCallNode starts `sportello serve` with calls on (and TURN on
// loopback when turn is set), creates bari with an office open all day
// and a video service of five-minute appointments, books the next slot
// through the API, checks the citizen in through the waiting room, and
// logs an appliance administrator in (operators are allowed everything).
func startCallNode(t *testing.T, turnOn bool) *callNode {
	t.Helper()
	return startCallCluster(t, turnOn, 1)
}

// startCallCluster is startCallNode with a cluster of nodes (node1
// first, the others joined with a token); the Comune, the booking and
// the login go through node1.
func startCallCluster(t *testing.T, turnOn bool, nodes int) *callNode {
	t.Helper()
	dir := shortTempDir(t)
	media := "\n[media]\nloopback = true\n"
	n := &callNode{host: "bari.localhost", dataDir: dir}
	if turnOn {
		n.turnUDP = freeAddr(t) // a TCP port free now; its UDP twin almost surely is too
		media += fmt.Sprintf("[media.turn]\nudp = %q\nrelay_ip = \"127.0.0.1\"\n", n.turnUDP)
	}
	raft := "127.0.0.1:0"
	first := media
	if nodes > 1 {
		raft = freeAddr(t)
		first += "\n[cluster]\ninit = true\nname = \"chiamate\"\n"
	}
	n.p = startProc(t, dir, "serve", "--config", clusterNodeConfig(t, dir, "node1", raft, first))
	n.procs = []*proc{n.p}
	for i := 2; i <= nodes; i++ {
		out, errOut, code := runCLI(t, "cluster", "token", "--data", dir, "--ttl", "10m")
		tok := strings.TrimSpace(out)
		if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
			t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		d, id := shortTempDir(t), fmt.Sprintf("node%d", i)
		n.procs = append(n.procs, startProc(t, d, "serve", "--config", clusterNodeConfig(t, d, id, freeAddr(t),
			media+fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raft))))
	}
	p := n.p
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", dir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var office booking.Office
	p.adminDo(t, "POST", "/v1/tenants/bari/offices", booking.Office{
		Name: "Anagrafe", Address: "Largo Chiurlia, 27 – 70122 Bari", Phone: "080 577 2250", Hours: everyDay(),
	}, &office)
	var svc booking.Service
	p.adminDo(t, "POST", "/v1/tenants/bari/services", booking.Service{
		OfficeID: office.ID, Name: "Carta d'identità", Description: "Appuntamento in videochiamata.",
		Duration: 5 * time.Minute, Channels: []booking.Channel{booking.Video}, Capacity: 10,
		HorizonDays: 1, MaxActivePerCitizen: 1,
	}, &svc)
	n.officeID, n.svcID = office.ID, svc.ID
	openAllDayOnHolidays(t, p, dir, n.host, office.ID)

	// The next free slot starts within five minutes: inside the
	// check-in window (15 minutes before).
	start := callNextSlot(t, p, n.host, svc.ID)
	req := bookingRequest(svc.ID, start.Format(time.RFC3339), 7)
	req["channel"] = "video"
	r := p.postJSON(t, p.url(n.host, "/api/v1/bookings"), req)
	wantStatus(t, "video booking", r, http.StatusCreated)
	var b struct {
		Code    string  `json:"code"`
		JoinURL *string `json:"join_url"`
	}
	if err := json.Unmarshal([]byte(r.Body), &b); err != nil || b.Code == "" || b.JoinURL == nil {
		t.Fatalf("booking answer %q: %v", r.Body, err)
	}
	u, err := url.Parse(*b.JoinURL)
	if err != nil {
		t.Fatal(err)
	}
	n.code, n.token, n.citizen = b.Code, u.Query().Get("t"), "Cittadino Numero 7"
	n.waitingRoomPath = "/chiamata/" + url.PathEscape(n.code) + "?t=" + url.QueryEscape(n.token)
	n.citizenVideoPath = "/chiamata/" + url.PathEscape(n.code) + "/video?t=" + url.QueryEscape(n.token)

	// Before the check-in, the call's URL sends the citizen to the
	// waiting room, which checks them in.
	r = p.get(t, p.url(n.host, n.citizenVideoPath))
	wantStatus(t, "video page before the check-in", r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != n.waitingRoomPath {
		t.Errorf("video page before the check-in sends to %q, want the waiting room %q", loc, n.waitingRoomPath)
	}
	r = p.get(t, p.url(n.host, n.waitingRoomPath))
	wantStatus(t, "waiting room", r, http.StatusOK)
	m := callCheckInRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("the waiting room did not check the citizen in:\n%s", pageText(r.Body))
	}
	n.ticket, n.waitingRoomPage = m[1], r.Body

	// The operator: a break-glass administrator made with the CLI.
	const user, password = "operatrice", "Videochiamata-Sicura-2026"
	var secret string
	if err := queueE2EAdmin(dir, user, password, &secret); err != nil {
		t.Fatal(err)
	}
	next, _ := auth.TOTPCode(secret, time.Now().Add(auth.TOTPPeriod))
	r, n.cookie = breakGlassLogin(t, p, n.host, user, password, next)
	if r.Status != http.StatusSeeOther || n.cookie == "" {
		t.Fatalf("operator login: %d, cookie %q:\n%s", r.Status, n.cookie, tail(r.Body, 20))
	}
	if nodes > 1 {
		waitIdentical(t, 30*time.Second, n.procs...)
	}
	return n
}

// callNextSlot returns the first free slot of svc starting in more than
// two seconds, on an office open all day (every day, holidays included:
// openAllDayOnHolidays) and a service of five-minute appointments: one
// inside the check-in window, which opens on the appointment's day only.
// In the last minutes of the day in the Comune's zone, it waits for the
// next day first.
func callNextSlot(t *testing.T, p *proc, host, svc string) time.Time {
	t.Helper()
	waitForNewDayWithin(t, 6*time.Minute)
	today := civil.DateOf(time.Now())
	slots := slotsBetween(t, p, host, svc, today, today.AddDays(1))
	for _, s := range slots {
		at, err := time.Parse(time.RFC3339, s.Start)
		if err == nil && s.Remaining > 0 && at.After(time.Now().Add(2*time.Second)) {
			if wait := time.Until(at); wait > queue.DefaultEarlyCheckIn-time.Minute {
				t.Fatalf("the first free slot of the video service, %s, is %v away: past the check-in window of %v, which the caller wants open",
					s.Start, wait.Round(time.Second), queue.DefaultEarlyCheckIn)
			}
			return at
		}
	}
	t.Fatalf("no free slot of the video service among %d listed", len(slots))
	return time.Time{}
}

// operatorGet gets path on the node with the operator's session.
func (n *callNode) operatorGet(t *testing.T, path string) response {
	t.Helper()
	return n.p.do(t, "GET", n.p.url(n.host, path), nil, map[string]string{"Cookie": authweb.SessionCookie + "=" + n.cookie})
}

// upload posts body as a multipart file to path, with extra headers.
func (n *callNode) upload(t *testing.T, path, name string, body []byte, header map[string]string) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(body)
	mw.Close()
	h := map[string]string{"Content-Type": mw.FormDataContentType()}
	for k, v := range header {
		h[k] = v
	}
	return n.p.do(t, "POST", n.p.url(n.host, path), &buf, h)
}

var callCSRFRE = regexp.MustCompile(`data-csrf="([^"]*)"`)

// callRemoteDesk creates a remote desk (video and phone) of office
// through the back office's form and returns its ID.
func callRemoteDesk(t *testing.T, admin *qeClient, officeID string) string {
	t.Helper()
	r, err := admin.get("/gestione/sportelli/nuovo?ufficio=" + url.QueryEscape(officeID))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("new desk form: %v %d", err, r.Status)
	}
	f := findForm(t, r.Body, "/gestione/sportelli/nuovo", `name="nome"`)
	f.Values.Set("nome", "Sportello video")
	f.Values.Set("tipo", string(booking.DeskRemote))
	r, err = admin.postForm(f.Action, f.Values)
	if err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("create the remote desk: %v %d\n%s", err, r.Status, pageText(r.Body))
	}
	r, err = admin.get("/gestione/sportelli")
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("desk list: %v %d", err, r.Status)
	}
	for _, m := range deskListRE.FindAllStringSubmatch(r.Body, -1) {
		if m[1] != "nuovo" {
			return m[1]
		}
	}
	t.Fatalf("no desk on the list:\n%s", pageText(r.Body))
	return ""
}

// callPDF is a small well-formed PDF, padded to a few dozen KB.
func callPDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n" +
		strings.Repeat("% riempitivo\n", 3000))
}

// TestCallCitizenRoutes drives the citizen's and the operator's call
// routes over HTTP through the real binary: a wrong join token is 404;
// the waiting room links to the call once checked in; before the
// operator opens the room the citizen gets a page that reloads itself;
// the code of one Comune is unknown on another's host; the operator's
// page opens the room and carries the CSRF token the uploads need; a
// document uploaded by the operator is announced with a link the
// citizen downloads intact, and one without the CSRF token is refused.
func TestCallCitizenRoutes(t *testing.T) {
	needBinary(t)
	t.Parallel()
	n := startCallNode(t, false)
	p := n.p

	if !strings.Contains(n.waitingRoomPage, "Entra nella videochiamata") ||
		!strings.Contains(n.waitingRoomPage, html.EscapeString(n.citizenVideoPath)) {
		t.Errorf("the waiting room does not link to the call %s:\n%s", n.citizenVideoPath, pageText(n.waitingRoomPage))
	}

	r := p.get(t, p.url(n.host, "/chiamata/"+url.PathEscape(n.code)+"/video?t=sbagliato"))
	wantStatus(t, "video page with a wrong token", r, http.StatusNotFound)
	wantText(t, "video page with a wrong token", r.Body, "Non troviamo una videochiamata con questo link")
	r = p.get(t, p.url(n.host, "/chiamata/"+url.PathEscape(n.code)+"/video"))
	wantStatus(t, "video page without a token", r, http.StatusNotFound)

	r = p.get(t, p.url(n.host, n.citizenVideoPath))
	wantStatus(t, "video page before the operator opens it", r, http.StatusOK)
	wantText(t, "video page before the operator opens it", r.Body, "La chiamata non è ancora aperta: l'operatore ti farà entrare a breve")
	if !strings.Contains(r.Body, `http-equiv="refresh" content="5"`) {
		t.Errorf("the page of a call not open yet does not reload itself:\n%s", tail(r.Body, 40))
	}
	if r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy %q on a page whose URL holds the join token", r.Header.Get("Referrer-Policy"))
	}

	// Another Comune on the same node: bari's code and token open
	// nothing on its host.
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", n.dataDir, "--id", "altamura", "--name", "Comune di Altamura",
		"--istat", "072004", "--sender", "Comune di Altamura <noreply@altamura.localhost>"); code != exitOK {
		t.Fatalf("tenant create altamura: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	r = p.get(t, p.url("altamura.localhost", n.citizenVideoPath))
	wantStatus(t, "bari's video link on altamura's host", r, http.StatusNotFound)

	// The operator's desk (a remote one, for video and phone) calls the
	// citizen, and the desk page links the ticket to its call.
	opc := operatorClient(p, n.host, n.cookie)
	desk := callRemoteDesk(t, opc, n.officeID)
	form := queueE2EDeskForm(t, opc, n.officeID, desk)
	r, err := opc.postForm("/gestione/coda/chiama", form)
	if err != nil || r.Status != http.StatusSeeOther {
		t.Fatalf("call the next citizen: %v %d %s", err, r.Status, pageText(r.Body))
	}
	r, err = opc.get(deskURLFor(n.officeID, desk))
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("desk page: %v %d", err, r.Status)
	}
	if !strings.Contains(r.Body, `href="/gestione/chiamate/`+n.ticket+`"`) || !strings.Contains(r.Body, "Apri la videochiamata") {
		t.Errorf("the desk page does not link ticket %s to its call:\n%s", n.ticket, pageText(r.Body))
	}

	// The operator opens the call: the room exists from now on.
	r = n.operatorGet(t, "/gestione/chiamate/"+url.PathEscape(n.ticket))
	wantStatus(t, "operator's call page", r, http.StatusOK)
	if !strings.Contains(r.Body, `id="chiamata"`) || !strings.Contains(r.Body, `data-role="operator"`) {
		t.Fatalf("operator's call page is not the call page:\n%s", tail(r.Body, 60))
	}
	m := callCSRFRE.FindStringSubmatch(r.Body)
	if m == nil || m[1] == "" {
		t.Fatalf("operator's call page carries no CSRF token for the uploads")
	}
	csrf := html.UnescapeString(m[1])
	if anon := p.get(t, p.url(n.host, "/gestione/chiamate/"+url.PathEscape(n.ticket))); anon.Status != http.StatusSeeOther {
		t.Errorf("anonymous operator's call page: %d, want 303 to the login", anon.Status)
	}

	r = p.get(t, p.url(n.host, n.citizenVideoPath))
	wantStatus(t, "citizen's call page once open", r, http.StatusOK)
	if !strings.Contains(r.Body, `data-role="citizen"`) || strings.Contains(r.Body, "non è ancora aperta") {
		t.Fatalf("citizen's call page once open:\n%s", tail(r.Body, 60))
	}
	if !strings.Contains(pageText(r.Body), "Videochiamata: Anagrafe, ") {
		t.Errorf("the citizen's call page does not name the appointment:\n%s", pageText(r.Body))
	}
	if m := callCSRFRE.FindStringSubmatch(r.Body); m != nil && m[1] != "" {
		t.Errorf("the citizen's page carries a CSRF token %q", m[1])
	}

	// Documents: the operator's upload needs the session's CSRF token.
	pdf := callPDF()
	docPath := "/gestione/chiamate/" + url.PathEscape(n.ticket) + "/documenti"
	cookie := map[string]string{"Cookie": authweb.SessionCookie + "=" + n.cookie}
	r = n.upload(t, docPath, "modulo.pdf", pdf, cookie)
	if r.Status != http.StatusForbidden {
		t.Errorf("operator's upload without the CSRF token: %d, want 403: %s", r.Status, r.Body)
	}
	cookie[authweb.CSRFHeader] = csrf
	r = n.upload(t, docPath, "modulo.pdf", pdf, cookie)
	wantStatus(t, "operator's upload", r, http.StatusCreated)
	var notice struct {
		ID, Name, URL, From string
	}
	if err := json.Unmarshal([]byte(r.Body), &notice); err != nil || notice.URL == "" {
		t.Fatalf("upload answer %q: %v", r.Body, err)
	}
	got := p.get(t, p.url(n.host, notice.URL))
	wantStatus(t, "download of the announced document", got, http.StatusOK)
	if got.Body != string(pdf) || !strings.HasPrefix(got.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("downloaded %d bytes (%q), want the %d uploaded as an attachment", len(got.Body), got.Header.Get("Content-Disposition"), len(pdf))
	}
	// The link's room token is bari's: nothing on altamura's host.
	if r := p.get(t, p.url("altamura.localhost", notice.URL)); r.Status != http.StatusNotFound {
		t.Errorf("bari's document link on altamura's host: %d, want 404", r.Status)
	}
	if r := p.get(t, p.url(n.host, strings.Replace(notice.URL, "?t=", "?t=x", 1))); r.Status != http.StatusNotFound {
		t.Errorf("document link with a tampered token: %d, want 404", r.Status)
	}

	// The citizen's upload: the join token is the credential.
	r = n.upload(t, "/chiamata/"+url.PathEscape(n.code)+"/video/documenti?t="+url.QueryEscape(n.token), "ricevuta.pdf", pdf, nil)
	wantStatus(t, "citizen's upload", r, http.StatusCreated)
	r = n.upload(t, "/chiamata/"+url.PathEscape(n.code)+"/video/documenti?t=sbagliato", "ricevuta.pdf", pdf, nil)
	wantStatus(t, "citizen's upload with a wrong token", r, http.StatusNotFound)
	// Both documents are listed when the page loads again.
	r = p.get(t, p.url(n.host, n.citizenVideoPath))
	if c := strings.Count(r.Body, docPathPrefix); c != 2 {
		t.Errorf("citizen's page lists %d documents, want 2", c)
	}
}

// TestCallBrowser is issue 6's end-to-end test through the real binary:
// `sportello serve` with calls and TURN on loopback, a video appointment
// booked through the API and checked in, an operator logged in; two
// headless Chromium instances with fake camera and microphone open the
// operator's call page and the citizen's, the operator admits the
// citizen from the lobby, both decode video and receive audio, chat
// arrives both ways, and a document chosen in the operator's page (an
// upload that needs the session's CSRF token) is downloaded intact by
// the citizen. All inside a private network namespace.
func TestCallBrowser(t *testing.T) {
	bin := browsertest.Chromium(t)
	if !browsertest.InNetns(t) {
		needBinary(t)
		// The inner process runs with -test.short, so it does not build
		// the binary again, and is told where the outer one's is.
		browsertest.RunInNetns(t, "TestCallBrowser", []string{"-test.short", "-test.timeout=5m"}, callBinEnv+"="+sportelloBin)
		return
	}
	callInside(t)
	began := time.Now()
	n := startCallNode(t, true)
	t.Logf("node, Comune, booking, check-in and login in %v", time.Since(began).Round(time.Millisecond))

	op := callBrowserStart(t, bin, "operator")
	cit := callBrowserStart(t, bin, "citizen")
	_, port, _ := net.SplitHostPort(n.p.HTTPAddr)
	origin := "http://" + net.JoinHostPort(n.host, port)
	// The operator's session cookie, as the login would have set it.
	yes := true
	if _, err := chromedp.Call(op.ctx, network.SetCookie, network.SetCookieParams{
		Name: authweb.SessionCookie, Value: n.cookie, URL: origin + "/", Path: "/",
		Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	}); err != nil {
		t.Fatalf("set the operator's cookie: %v", err)
	}

	opURL := origin + "/gestione/chiamate/" + url.PathEscape(n.ticket)
	citURL := origin + n.citizenVideoPath
	callJoin(t, op, cit, opURL, citURL, n.citizen, true)
	callChat(t, op, cit, "Buongiorno, mi sente?")
	callChat(t, cit, op, "Sì, la sento bene.")
	if t.Failed() {
		return
	}

	// One document, through the operator's documents form.
	callDocument(t, op, cit)
	if t.Failed() {
		return
	}

	// The same call again, both browsers kept to TURN relay candidates
	// (?relay=1): the node's TURN server, with credentials from the
	// replicated secret, relays to its own SFU on loopback.
	// The citizen was admitted to this room already: rejoining as the
	// same participant keeps the admission (media/sfu), so the lobby may
	// be skipped.
	callJoin(t, op, cit, opURL+"?relay=1", citURL+"&relay=1", n.citizen, false)
	for _, b := range []*callBrowser{op, cit} {
		pairs := callEval[string](t, b, `sportelloCall.stats().then(s => (s.pub && s.pub.pair ? s.pub.pair.local : "none") + "/" + (s.sub.pair ? s.sub.pair.local : "none"))`)
		if pairs != "relay/relay" {
			t.Errorf("%s: local candidates of the selected pairs (pub/sub) %q, want relay/relay", b.name, pairs)
		}
	}
	t.Logf("two calls through the binary, direct and relayed, and a document, in %v", time.Since(began).Round(100*time.Millisecond))
}

// TestCallBrowserCluster: a call on a three-node cluster. Both browsers
// use node2's address; the room is placed on node1, so node2 forwards
// both signalling sockets to node1 (cluster.Node.ForwardHTTP) and the
// media flow through node1's SFU. Then node1 dies: the pages reconnect
// to node2, which cannot reach node1, moves the room (media.Rooms.Move)
// and serves it from its own SFU or forwards it to node3; the operator
// admits the citizen again and the call resumes.
func TestCallBrowserCluster(t *testing.T) {
	bin := browsertest.Chromium(t)
	if !browsertest.InNetns(t) {
		needBinary(t)
		// The inner process runs with -test.short, so it does not build
		// the binary again, and is told where the outer one's is.
		browsertest.RunInNetns(t, "TestCallBrowserCluster", []string{"-test.short", "-test.timeout=5m"}, callBinEnv+"="+sportelloBin)
		return
	}
	callInside(t)
	began := time.Now()
	n := startCallCluster(t, false, 3)
	t.Logf("three nodes, Comune, booking, check-in and login in %v", time.Since(began).Round(time.Millisecond))

	op := callBrowserStart(t, bin, "operator")
	cit := callBrowserStart(t, bin, "citizen")
	via := n.procs[1]
	_, port, _ := net.SplitHostPort(via.HTTPAddr)
	origin := "http://" + net.JoinHostPort(n.host, port)
	yes := true
	if _, err := chromedp.Call(op.ctx, network.SetCookie, network.SetCookieParams{
		Name: authweb.SessionCookie, Value: n.cookie, URL: origin + "/", Path: "/",
		Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	}); err != nil {
		t.Fatalf("set the operator's cookie: %v", err)
	}
	callJoin(t, op, cit, origin+"/gestione/chiamate/"+url.PathEscape(n.ticket), origin+n.citizenVideoPath, n.citizen, true)
	callChat(t, op, cit, "Mi sente attraverso il nodo 2?")
	// A document uploaded through node2 is stored in the replicated state
	// there and announced by node1's SFU (the upload is forwarded).
	callDocument(t, op, cit)
	if t.Failed() {
		return
	}
	// The room is on node1 (the fewest rooms, ties by node ID): its SFU
	// carries the call, node2 only relays the signalling.
	if got := callSFUSessions(n.procs[0]); got == 0 {
		t.Errorf("node1's log shows no call session: the sockets were not forwarded to the room's node")
	}
	if got := callSFUSessions(via); got != 0 {
		t.Errorf("node2's SFU served %d sessions of a room placed on node1", got)
	}

	// node1 dies.
	opUfrag := callEval[string](t, op, `sportelloCall.stats().then(s => s.pub ? s.pub.remoteUfrag : "")`)
	n.procs[0].cmd.Process.Kill()
	<-n.procs[0].exited
	killed := time.Now()
	// The citizen reconnects into the lobby of the new placement's SFU
	// (admissions do not survive the SFU that made them); the operator
	// back into the call, with a new pub connection.
	callWait(t, cit, "reconnect after node1's death, into the lobby", `sportelloCall.state === "lobby"`, 60*time.Second)
	callWait(t, op, "reconnect after node1's death", fmt.Sprintf(
		`sportelloCall.stats().then(s => s.phase === "call" && !!s.pub && s.pub.remoteUfrag !== "" && s.pub.remoteUfrag !== %q)`, opUfrag), 60*time.Second)
	callWait(t, op, "see the citizen knocking again", `!!document.querySelector("#sala-lista button[data-knock=admit]")`, 30*time.Second)
	callClick(t, op, "#sala-lista button[data-knock=admit]")
	callWait(t, cit, "be admitted again", `sportelloCall.state === "call"`, 15*time.Second)
	for _, b := range []*callBrowser{op, cit} {
		callMediaFlows(t, b)
	}
	callChat(t, cit, op, "Ora la sento di nuovo.")
	moved := strings.Contains(via.stderr.String(), "moving the room")
	if !moved {
		t.Errorf("node2 did not log moving the room off node1")
	}
	t.Logf("the call resumed %v after node1 died; whole test %v", time.Since(killed).Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
}

// callDocument uploads a PDF through from's documents form (for an
// operator, an upload that needs the session's CSRF token) and checks
// that to's page lists it and downloads it intact.
func callDocument(t *testing.T, from, to *callBrowser) {
	t.Helper()
	pdf := callPDF()
	path := filepath.Join(t.TempDir(), "modulo firmato.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	before := callEval[int](t, to, `document.querySelectorAll("#doc-lista a").length`)
	if open := callEval[bool](t, from, `!document.getElementById("pannello-documenti").hidden`); !open {
		callClick(t, from, "#btn-documenti")
	}
	if err := chromedp.Do(from.ctx, chromedp.SetUploadFiles(chromedp.CSS("#doc-file"), []string{path}, chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s: choose the file: %v", from.name, err)
	}
	callClick(t, from, "#doc-form button[type=submit]")
	callWait(t, from, "upload the document", `document.getElementById("doc-stato").textContent.startsWith("Documento inviato")`, 20*time.Second)
	callWait(t, to, "see the document", fmt.Sprintf(`document.querySelectorAll("#doc-lista a").length > %d`, before), 15*time.Second)
	got := callEval[string](t, to, `fetch([...document.querySelectorAll("#doc-lista a")].pop().href).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest("SHA-256", b)).then(d => [...new Uint8Array(d)].map(x => x.toString(16).padStart(2, "0")).join(""))`)
	if got != hex.EncodeToString(sum[:]) {
		t.Errorf("%s downloaded a document with SHA-256 %s, want %s", to.name, got, hex.EncodeToString(sum[:]))
	}
}

// callSFUSessions counts the call sockets a node served itself (calls.go
// logs each one).
func callSFUSessions(p *proc) int {
	return strings.Count(p.stderr.String(), `"msg":"call socket"`)
}

// callJoin opens the operator's and the citizen's call pages, lets the
// operator enter and admit the citizen from the lobby, and checks that
// both receive each other's media. With lobby false a citizen admitted
// before may enter at once.
func callJoin(t *testing.T, op, cit *callBrowser, opURL, citURL, citizen string, lobby bool) {
	t.Helper()
	for _, s := range []struct {
		b   *callBrowser
		url string
	}{{op, opURL}, {cit, citURL}} {
		if err := chromedp.Do(s.b.ctx, chromedp.Navigate(s.url)); err != nil {
			t.Fatalf("%s: open %s: %v", s.b.name, s.url, err)
		}
		callWait(t, s.b, "camera preview", `(() => { const v = document.getElementById("anteprima"); return !!v && !!v.srcObject && v.srcObject.getVideoTracks().length === 1 })()`, 15*time.Second)
	}
	callClick(t, op, "#entra")
	callWait(t, op, "enter the call", `sportelloCall.state === "call"`, 15*time.Second)
	callClick(t, cit, "#entra")
	if !lobby {
		callWait(t, cit, "enter or wait in the lobby", `sportelloCall.state === "lobby" || sportelloCall.state === "call"`, 15*time.Second)
		if callEval[string](t, cit, `sportelloCall.state`) == "call" {
			for _, b := range []*callBrowser{op, cit} {
				callMediaFlows(t, b)
			}
			return
		}
	}
	callWait(t, cit, "wait in the lobby", `sportelloCall.state === "lobby"`, 15*time.Second)
	callWait(t, op, "see the citizen knocking", `!!document.querySelector("#sala-lista button[data-knock=admit]")`, 15*time.Second)
	if name := callEval[string](t, op, `document.querySelector("#sala-lista li span").textContent`); name != citizen {
		t.Errorf("the lobby shows %q, want %q", name, citizen)
	}
	callClick(t, op, "#sala-lista button[data-knock=admit]")
	callWait(t, cit, "be admitted", `sportelloCall.state === "call"`, 15*time.Second)
	for _, b := range []*callBrowser{op, cit} {
		callMediaFlows(t, b)
	}
}

// callInside prepares the process re-executed in the namespace: the
// outer process's binary.
func callInside(t *testing.T) {
	t.Helper()
	sportelloBin = os.Getenv(callBinEnv) // built by the outer process
}

// callBrowser is one headless Chromium with a fake camera and microphone.
type callBrowser struct {
	name string
	ctx  context.Context
}

// callBrowserStart starts Chromium with a fake camera and microphone
// (browsertest.MediaBrowser).
func callBrowserStart(t *testing.T, bin, name string) *callBrowser {
	t.Helper()
	return &callBrowser{name: name, ctx: browsertest.MediaBrowser(t, bin, 2*time.Minute)}
}

func callEval[T any](t *testing.T, b *callBrowser, expression string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %s: %v", b.name, expression, err)
	}
	return v
}

// callWait polls expression until it is true.
func callWait(t *testing.T, b *callBrowser, what, expression string, timeout time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("%s: %s: %v (%s)", b.name, what, err, callPageState(b))
	}
}

// callClick activates sel from the keyboard: focus, then Enter.
func callClick(t *testing.T, b *callBrowser, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(sel), kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s: click %s: %v (%s)", b.name, sel, err, callPageState(b))
	}
}

func callPageState(b *callBrowser) string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		url: location.pathname,
		phase: window.sportelloCall ? sportelloCall.state : "no script",
		status: (document.getElementById("call-status") || {}).textContent,
		docs: (document.getElementById("doc-stato") || {}).textContent,
		main: (document.querySelector("main") || document.body).innerText.slice(0, 300),
	})`))
	if err != nil {
		return "page state unknown: " + err.Error()
	}
	return s
}

// callMediaFlows checks that b decodes video and receives audio, and
// that both counters grow between two polls.
func callMediaFlows(t *testing.T, b *callBrowser) {
	t.Helper()
	callWait(t, b, "decode video frames and receive audio",
		`sportelloCall.stats().then(s => s.video.framesDecoded > 0 && s.audio.bytesReceived > 0)`, 30*time.Second)
	type stats struct {
		Video struct {
			FramesDecoded float64 `json:"framesDecoded"`
		} `json:"video"`
		Audio struct {
			BytesReceived float64 `json:"bytesReceived"`
		} `json:"audio"`
	}
	first := callEval[stats](t, b, `sportelloCall.stats()`)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		last := callEval[stats](t, b, `sportelloCall.stats()`)
		if last.Video.FramesDecoded > first.Video.FramesDecoded && last.Audio.BytesReceived > first.Audio.BytesReceived {
			t.Logf("%s: %v video frames decoded, %v audio bytes received", b.name, last.Video.FramesDecoded, last.Audio.BytesReceived)
			return
		}
	}
	t.Errorf("%s: video frames and audio bytes stopped growing", b.name)
}

// callChat sends text through from's chat form and waits for it at to.
func callChat(t *testing.T, from, to *callBrowser, text string) {
	t.Helper()
	if open := callEval[bool](t, from, `!document.getElementById("pannello-chat").hidden`); !open {
		callClick(t, from, "#btn-chat")
	}
	ctx, cancel := context.WithTimeout(from.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#chat-testo"), text, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#chat-form button[type=submit]"), kb.Enter, chromedp.NodeVisible)); err != nil {
		t.Fatalf("%s: send the chat message: %v (%s)", from.name, err, callPageState(from))
	}
	callWait(t, to, "receive the chat message "+text,
		fmt.Sprintf(`[...document.querySelectorAll("#chat-messaggi .sv-text")].some(e => e.textContent === %q)`, text), 10*time.Second)
}
