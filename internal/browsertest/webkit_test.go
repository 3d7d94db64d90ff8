package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWebKitWebDriver starts WebKitGTK's MiniBrowser with the call
// arguments and checks the client: navigation, evaluation of values and
// promises, exceptions, and WebKit's mock camera and microphone without
// a prompt.
func TestWebKitWebDriver(t *testing.T) {
	driver, browser := WebKitBins(t)
	b := StartWebKit(t, driver, browser, "webkit", WebKitMediaArgs(), 60*time.Second)
	t.Logf("WebKitGTK %s", b.Version)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// getUserMedia needs a secure context: 127.0.0.1 is one.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<!doctype html><title>prova</title><p>ciao</p>"))
	}))
	defer srv.Close()
	if err := b.Navigate(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	got, err := b.EvalJSON(ctx, `document.title`)
	if err != nil || got != `"prova"` {
		t.Fatalf("title: %s, %v", got, err)
	}
	if got, err := b.EvalJSON(ctx, `undefined`); err != nil || got != "null" {
		t.Fatalf("undefined: %s, %v", got, err)
	}
	if _, err := b.EvalJSON(ctx, `(() => { throw new Error("no") })()`); err == nil {
		t.Fatal("an exception is not an error")
	}
	if _, err := b.EvalJSON(ctx, `Promise.reject(new Error("no"))`); err == nil {
		t.Fatal("a rejection is not an error")
	}
	got, err = b.EvalJSON(ctx, `navigator.mediaDevices.getUserMedia({audio: true, video: true}).then(s => s.getTracks().map(t => t.kind).sort().join(","))`)
	if err != nil || got != `"audio,video"` {
		t.Fatalf("mock media: %s, %v", got, err)
	}
}
