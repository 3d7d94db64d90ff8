package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/queue"
)

// browseWith is browse with the browser's device cookie ("" for none).
func (e *env) browseWith(dev, method, host, target string, form url.Values) codaPage {
	e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://"+host+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, "http://"+host+target, nil)
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if dev != "" {
		req.AddCookie(&http.Cookie{Name: deviceCookie, Value: dev})
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return codaPage{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func TestDeviceCookieLimitsTheFormPerDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	office := "/coda/" + e.bari.office.ID
	form := e.browseWith("", "GET", e.bari.host, office, nil)
	cookies := (&http.Response{Header: form.Header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("form page set %d cookies, want the device cookie", len(cookies))
	}
	c := cookies[0]
	if c.Name != "__Host-sportello_dev" || len(c.Value) != deviceIDLen || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "" || c.MaxAge != 365*24*3600 {
		t.Errorf("device cookie %+v: want __Host-sportello_dev, random, Secure, HttpOnly, SameSite=Lax, Path=/, a year", c)
	}
	if again := e.browseWith(c.Value, "GET", e.bari.host, office, nil); again.Header.Get("Set-Cookie") != "" {
		t.Errorf("form page with the cookie set it again: %q", again.Header.Get("Set-Cookie"))
	}
	if odd := e.browseWith("not-ours", "GET", e.bari.host, office, nil); !strings.Contains(odd.Header.Get("Set-Cookie"), deviceCookie+"=") {
		t.Errorf("a cookie of another form is not replaced")
	}

	e.configure(e.bari, func(c *queue.OfficeConfig) { c.MaxPerDevice = 1 })
	take := url.Values{"canale": {"in_person"}}
	if first := e.browseWith(c.Value, "POST", e.bari.host, office, take); first.Status != http.StatusSeeOther {
		t.Fatalf("first number of the device: got %d:\n%s", first.Status, pageText(first.Body))
	}
	second := e.browseWith(c.Value, "POST", e.bari.host, office, take)
	if second.Status != http.StatusConflict || !strings.Contains(pageText(second.Body), "Hai già il numero massimo di biglietti attivi") ||
		!strings.Contains(second.Body, `role="alert"`) || !strings.Contains(second.Body, `method="post"`) {
		t.Errorf("second number of the device: got %d, want 409 with the form and the reason:\n%s", second.Status, pageText(second.Body))
	}
	accessible(t, "form refused by the device cap", second.Body)
	other := strings.Repeat("B", deviceIDLen)
	if res := e.browseWith(other, "POST", e.bari.host, office, take); res.Status != http.StatusSeeOther {
		t.Errorf("another device: got %d, want 303", res.Status)
	}
	// An app cannot pass for the browser: its device_id is its own.
	if res := e.take(e.bari, `{"channel":"in_person","device_id":"`+c.Value+`"}`); res.Status != http.StatusCreated {
		t.Errorf("API with the browser's cookie value as device_id: got %d %+v, want 201", res.Status, res.Err)
	}
}

func TestEmailOnTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	office := "/coda/" + e.bari.office.ID
	form := e.browse("GET", e.bari.host, office, nil)
	if !strings.Contains(form.Body, `<label for="email"`) || !strings.Contains(pageText(form.Body), "Avvisami per email quando manca poco e quando è il mio turno") ||
		!strings.Contains(form.Body, `name="lingua" value="it"`) || !strings.Contains(form.Body, `href="/privacy"`) {
		t.Errorf("form: want the optional email with its consent wording and the page's language:\n%s", form.Body)
	}
	bad := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}, "email": {"non-una-email"}})
	if bad.Status != http.StatusUnprocessableEntity || !strings.Contains(bad.Body, `id="email-errore"`) || !strings.Contains(bad.Body, `value="non-una-email"`) {
		t.Errorf("bad email: got %d, want 422 with the field's error and the value kept:\n%s", bad.Status, bad.Body)
	}
	accessible(t, "form with a bad email", bad.Body)
	if ok := e.browse("POST", e.bari.host, office, url.Values{"canale": {"in_person"}, "email": {" maria@example.it "}, "lingua": {"it"}}); ok.Status != http.StatusSeeOther {
		t.Errorf("good email: got %d:\n%s", ok.Status, pageText(ok.Body))
	}
}

func TestAPIDeviceAndEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, RateLimit{PerMinute: -1})
	e.configure(e.bari, func(c *queue.OfficeConfig) { c.MaxPerDevice = 1 })
	if res := e.take(e.bari, `{"channel":"in_person","device_id":"app-1","email":"maria@example.it","lang":"de"}`); res.Status != http.StatusCreated {
		t.Fatalf("first ticket of app-1: got %d %+v", res.Status, res.Err)
	}
	if res := e.take(e.bari, `{"channel":"in_person","device_id":"app-1"}`); res.Status != http.StatusConflict || res.Err.Code != "client_cap" {
		t.Errorf("second ticket of app-1: got %d %+v, want 409 client_cap", res.Status, res.Err)
	}
	req := httptest.NewRequest("POST", "http://"+e.bari.host+"/api/v1/offices/"+e.bari.office.ID+"/tickets", strings.NewReader(`{"channel":"in_person"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Device-Id", "app-1")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusConflict {
		t.Errorf("app-1 in the Device-Id header: got %d, want 409", rec.Code)
	}
	if res := e.take(e.bari, `{"channel":"in_person","device_id":"app-2"}`); res.Status != http.StatusCreated {
		t.Errorf("first ticket of app-2: got %d %+v", res.Status, res.Err)
	}
	for _, body := range []string{
		`{"channel":"in_person","device_id":"` + strings.Repeat("x", 65) + `"}`,
		`{"channel":"in_person","device_id":"con spazio"}`,
	} {
		if res := e.take(e.bari, body); res.Status != http.StatusUnprocessableEntity || res.Err.Fields["device_id"] == "" {
			t.Errorf("%s: got %d %+v, want 422 on device_id", body, res.Status, res.Err)
		}
	}
	if res := e.take(e.bari, `{"channel":"in_person","email":"non-una-email"}`); res.Status != http.StatusUnprocessableEntity || res.Err.Fields["email"] == "" {
		t.Errorf("bad email: got %d %+v, want 422 on email", res.Status, res.Err)
	}
}
