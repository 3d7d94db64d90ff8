package webpush_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/leaktest"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := webpush.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sender returns a Sender that pushes to r, signed with key.
func sender(r *pushtest.Receiver, key *ecdsa.PrivateKey) *webpush.Sender {
	return &webpush.Sender{
		Client: r.Client(),
		Policy: r.Policy(),
		VAPID: func(context.Context) (webpush.VAPID, error) {
			return webpush.VAPID{Key: key, Subject: "mailto:ufficio@comune.example.it"}, nil
		},
	}
}

// receive waits for one message.
func receive(t *testing.T, r *pushtest.Receiver) pushtest.Received {
	t.Helper()
	select {
	case m := <-r.Messages():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message received in 10s")
		return pushtest.Received{}
	}
}

func TestSendRoundTrip(t *testing.T) {
	leaktest.Check(t)
	r := pushtest.New(t)
	key := newKey(t)
	r.ExpectKey(webpush.PublicKey(key))
	s := sender(r, key)
	sub := r.Subscribe()
	if err := sub.Validate(s.Policy); err != nil {
		t.Fatalf("validate the receiver's subscription: %v", err)
	}
	ctx := context.Background()
	payloads := [][]byte{
		[]byte(`{"title":"Tocca a te","body":"Sportello 3","tag":"ticket-A012"}`),
		{},
		bytes.Repeat([]byte("è"), webpush.MaxPayload/2),
	}
	for i, p := range payloads {
		m := webpush.Message{Payload: p, TTL: 90 * time.Second, Urgency: "high", Topic: "ticket-A012"}
		if err := s.Send(ctx, sub, m); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		got := receive(t, r)
		if !bytes.Equal(got.Payload, p) {
			t.Errorf("payload %d: got %d bytes %.40q, want %d bytes %.40q", i, len(got.Payload), got.Payload, len(p), p)
		}
		if got.TTL != 90 || got.Urgency != "high" || got.Topic != "ticket-A012" {
			t.Errorf("headers: got TTL %d urgency %q topic %q, want 90 high ticket-A012", got.TTL, got.Urgency, got.Topic)
		}
		if got.Audience != r.URL() || got.Subject != "mailto:ufficio@comune.example.it" || got.Endpoint != sub.Endpoint {
			t.Errorf("got aud %q sub %q endpoint %q, want %q, the mailto, %q", got.Audience, got.Subject, got.Endpoint, r.URL(), sub.Endpoint)
		}
	}
	// Two subscriptions on one service get their own keys: a message
	// for one is not readable with the other's.
	other := r.Subscribe()
	if err := s.Send(ctx, other, webpush.Message{Payload: []byte("due"), TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, r); string(got.Payload) != "due" || got.Endpoint != other.Endpoint || got.Urgency != "" || got.Topic != "" {
		t.Errorf("second subscription: got %+v", got)
	}
}

// tamper flips one byte of every request body on its way out.
type tamper struct {
	next http.RoundTripper
	at   int
}

func (tr tamper) RoundTrip(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	b[tr.at] ^= 0x40
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
	return tr.next.RoundTrip(req)
}

func TestTamperedBodyIsRefused(t *testing.T) {
	r := pushtest.New(t)
	sub := r.Subscribe()
	for _, at := range []int{3, 40, 100} {
		s := sender(r, newKey(t))
		c := r.Client()
		c.Transport = tamper{next: c.Transport, at: at}
		s.Client = c
		err := s.Send(context.Background(), sub, webpush.Message{Payload: []byte("Il suo turno è vicino"), TTL: time.Minute})
		var se *webpush.SendError
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Retry {
			t.Errorf("byte %d flipped: got %v, want a 400 SendError without retry", at, err)
		}
	}
	select {
	case m := <-r.Messages():
		t.Errorf("a tampered message was delivered: %+v", m)
	default:
	}
}

func TestWrongOrStaleVAPIDIsRefused(t *testing.T) {
	r := pushtest.New(t)
	sub := r.Subscribe()
	r.ExpectKey(webpush.PublicKey(newKey(t)))
	m := webpush.Message{Payload: []byte("x"), TTL: time.Minute}
	err := sender(r, newKey(t)).Send(context.Background(), sub, m)
	var se *webpush.SendError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Retry {
		t.Errorf("other key: got %v, want 401 without retry", err)
	}

	// A token signed with a clock 13 hours late has expired.
	r2 := pushtest.New(t)
	s := sender(r2, newKey(t))
	s.Now = func() time.Time { return time.Now().Add(-13 * time.Hour) }
	if err := s.Send(context.Background(), r2.Subscribe(), m); !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		t.Errorf("expired token: got %v, want 401", err)
	}
}

func TestGoneSubscription(t *testing.T) {
	leaktest.Check(t)
	r := pushtest.New(t)
	s := sender(r, newKey(t))
	sub := r.Subscribe()
	m := webpush.Message{Payload: []byte("x"), TTL: time.Minute}
	if err := s.Send(context.Background(), sub, m); err != nil {
		t.Fatal(err)
	}
	receive(t, r)
	r.Gone(sub)
	if err := s.Send(context.Background(), sub, m); !errors.Is(err, webpush.ErrGone) {
		t.Errorf("after Gone: got %v, want ErrGone", err)
	}
	unknown := sub
	unknown.Endpoint = r.URL() + "/push/00"
	if err := s.Send(context.Background(), unknown, m); !errors.Is(err, webpush.ErrGone) {
		t.Errorf("unknown endpoint (404): got %v, want ErrGone", err)
	}
}

func TestMessagesThePushServicesWouldRefuse(t *testing.T) {
	r := pushtest.New(t)
	s := sender(r, newKey(t))
	sub := r.Subscribe()
	for name, c := range map[string]struct {
		m    webpush.Message
		want error
	}{
		"too large":     {webpush.Message{Payload: make([]byte, webpush.MaxPayload+1)}, webpush.ErrTooLarge},
		"urgency":       {webpush.Message{Urgency: "urgent"}, webpush.ErrMessage},
		"long topic":    {webpush.Message{Topic: strings.Repeat("a", 33)}, webpush.ErrMessage},
		"topic charset": {webpush.Message{Topic: "ticket A/1"}, webpush.ErrMessage},
		"negative TTL":  {webpush.Message{TTL: -time.Second}, webpush.ErrMessage},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.Send(context.Background(), sub, c.m); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if err := s.Send(context.Background(), sub, webpush.Message{Payload: make([]byte, webpush.MaxPayload), Topic: strings.Repeat("a", 32), Urgency: "very-low"}); err != nil {
		t.Errorf("largest payload and topic: %v", err)
	}
	if got := receive(t, r); len(got.Payload) != webpush.MaxPayload {
		t.Errorf("largest payload: got %d bytes, want %d", len(got.Payload), webpush.MaxPayload)
	}
	s.VAPID = func(context.Context) (webpush.VAPID, error) {
		return webpush.VAPID{Key: newKey(t), Subject: "ufficio@comune.example.it"}, nil
	}
	if err := s.Send(context.Background(), sub, webpush.Message{}); err == nil {
		t.Error("subject without mailto: accepted")
	}
}

func TestStatusMapping(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(int(status.Load()))
		// A long answer: the sender reads at most 4 KiB of it.
		w.Write(bytes.Repeat([]byte("errore "), 10000))
	}))
	t.Cleanup(srv.Close)
	r := pushtest.New(t)
	sub := r.Subscribe()
	sub.Endpoint = srv.URL + "/push/1"
	s := &webpush.Sender{
		Client: srv.Client(),
		Policy: webpush.EndpointPolicy{Hosts: []string{"127.0.0.1"}, AllowPrivate: true},
		VAPID: func(context.Context) (webpush.VAPID, error) {
			return webpush.VAPID{Key: newKey(t), Subject: "https://comune.example.it"}, nil
		},
	}
	for _, c := range []struct {
		status int
		gone   bool
		retry  bool
		ok     bool
	}{
		{status: 201, ok: true},
		{status: 202, ok: true},
		{status: 404, gone: true},
		{status: 410, gone: true},
		{status: 429, retry: true},
		{status: 500, retry: true},
		{status: 503, retry: true},
		{status: 400},
		{status: 401},
		{status: 403},
		{status: 413},
	} {
		status.Store(int32(c.status))
		err := s.Send(context.Background(), sub, webpush.Message{Payload: []byte("x")})
		var se *webpush.SendError
		switch {
		case c.ok:
			if err != nil {
				t.Errorf("%d: got %v, want nil", c.status, err)
			}
		case c.gone:
			if !errors.Is(err, webpush.ErrGone) {
				t.Errorf("%d: got %v, want ErrGone", c.status, err)
			}
		case !errors.As(err, &se) || se.Status != c.status || se.Retry != c.retry:
			t.Errorf("%d: got %v, want SendError retry=%v", c.status, err, c.retry)
		case c.retry && se.RetryAfter != 2*time.Minute:
			t.Errorf("%d: RetryAfter %v, want 2m", c.status, se.RetryAfter)
		case len(se.Body) > 200:
			t.Errorf("%d: body of %d bytes kept", c.status, len(se.Body))
		}
	}
}

func TestPolicyRefusesInternalEndpoints(t *testing.T) {
	def := webpush.EndpointPolicy{}
	for _, ep := range []string{
		"http://127.0.0.1/push/1",
		"https://127.0.0.1/push/1",
		"https://10.1.2.3/push/1",
		"https://[::1]/push/1",
		"https://[::ffff:127.0.0.1]/push/1",
		"https://169.254.169.254/latest/meta-data",
		"https://localhost/push/1",
		"http://fcm.googleapis.com/fcm/send/x",
		"https://fcm.googleapis.com:8443/fcm/send/x",
		"https://user@fcm.googleapis.com/fcm/send/x",
		"https://fcm.googleapis.com.evil.example/x",
		"https://evilfcm.googleapis.com/x",
		"https://notify.windows.com/x",
		"ftp://fcm.googleapis.com/x",
		"/fcm/send/x",
		"https://fcm.googleapis.com/" + strings.Repeat("a", 1024),
	} {
		if err := def.Check(ep); !errors.Is(err, webpush.ErrEndpoint) {
			t.Errorf("default policy, %.60s: got %v, want ErrEndpoint", ep, err)
		}
	}
	// Naming an IP in Hosts does not let it through without AllowPrivate.
	ips := webpush.EndpointPolicy{Hosts: []string{"127.0.0.1", "10.1.2.3", "::1", "::ffff:127.0.0.1"}}
	for _, ep := range []string{"https://127.0.0.1/p", "https://10.1.2.3/p", "https://[::1]/p", "https://[::ffff:127.0.0.1]/p"} {
		if err := ips.Check(ep); !errors.Is(err, webpush.ErrEndpoint) {
			t.Errorf("IP literal %s: got %v, want ErrEndpoint", ep, err)
		}
	}
	for _, ep := range []string{
		"https://fcm.googleapis.com/fcm/send/abc",
		"https://fcm.googleapis.com:443/wp/abc",
		"https://updates.push.services.mozilla.com/wpush/v2/abc",
		"https://web.push.apple.com/QGuQ",
		"https://WEB.PUSH.APPLE.COM./QGuQ",
		"https://wns2-par02p.notify.windows.com/w/?token=abc",
	} {
		if err := def.Check(ep); err != nil {
			t.Errorf("default policy, %s: %v", ep, err)
		}
	}
}

func TestAddressAllowed(t *testing.T) {
	p := webpush.EndpointPolicy{}
	for _, a := range []string{
		"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
		"100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
		"ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1",
	} {
		if p.AddressAllowed(netip.MustParseAddr(a)) {
			t.Errorf("%s allowed", a)
		}
		if !(webpush.EndpointPolicy{AllowPrivate: true}).AddressAllowed(netip.MustParseAddr(a)) {
			t.Errorf("%s refused with AllowPrivate", a)
		}
	}
	for _, a := range []string{"142.250.180.10", "2a00:1450:4002:402::200a", "::ffff:142.250.180.10"} {
		if !p.AddressAllowed(netip.MustParseAddr(a)) {
			t.Errorf("%s refused", a)
		}
	}
}

// TestDialerRefusesNamesResolvingInside checks the last line of
// defence: a host name the policy allows, that resolves to a loopback
// address (as a rebinding DNS answer would), is refused by the dialer.
func TestDialerRefusesNamesResolvingInside(t *testing.T) {
	r := pushtest.New(t)
	sub := r.Subscribe()
	p := webpush.EndpointPolicy{Hosts: []string{"localhost"}}
	// The sender's own client (Client nil): Check passes, the dialer
	// refuses.
	s := &webpush.Sender{Policy: p, VAPID: func(context.Context) (webpush.VAPID, error) {
		return webpush.VAPID{Key: newKey(t), Subject: "mailto:a@example.it"}, nil
	}}
	sub.Endpoint = "https://localhost/push/1"
	if err := s.Send(context.Background(), sub, webpush.Message{Payload: []byte("x")}); !errors.Is(err, webpush.ErrForbiddenAddress) {
		t.Errorf("Send to localhost: got %v, want ErrForbiddenAddress", err)
	}
	// The same client on the receiver's real port: refused before any
	// byte is sent, although something listens there.
	u := strings.Replace(r.URL(), "127.0.0.1", "localhost", 1) + "/push/1"
	resp, err := p.Client().Post(u, "application/octet-stream", strings.NewReader("x"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("post to %s: got %s, want a refused dial", u, resp.Status)
	}
	if !errors.Is(err, webpush.ErrForbiddenAddress) {
		t.Errorf("post to %s: got %v, want ErrForbiddenAddress", u, err)
	}
	select {
	case m := <-r.Messages():
		t.Errorf("delivered: %+v", m)
	default:
	}
}
