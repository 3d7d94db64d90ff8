package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// server serves uploads (POST /up) and downloads (GET /doc/{id}) of
// Bari's room1 through s.
func server(t *testing.T, s *Store, p Policy) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		d, ok := s.Upload(w, r, bari, "room1", "booking:b1", "citizen", p)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(d)
	})
	mux.HandleFunc("GET /doc/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.Download(w, r, bari, "room1", r.PathValue("id"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// form builds a multipart body with a field before the file, as a
// browser's FormData may.
func form(t *testing.T, name, contentType string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "allegato")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
	h.Set("Content-Type", contentType)
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(file)
	mw.Close()
	return mw.FormDataContentType(), &b
}

type apiError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestUploadAndDownload(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	srv := server(t, s, Policy{})
	file := pdf(t, 600<<10)
	ct, body := form(t, "Ricevuta di pagamento è.pdf", "text/plain", file)
	res, err := http.Post(srv.URL+"/up", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	var d Document
	json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || d.ID == "" || d.Type != TypePDF {
		t.Fatalf("upload: %s, %+v", res.Status, d)
	}

	res, err = http.Get(srv.URL + "/doc/" + d.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(got, file) {
		t.Errorf("download: %d bytes, not the file", len(got))
	}
	want := map[string]string{
		"Content-Type":            "application/pdf",
		"Content-Disposition":     `attachment; filename="Ricevuta di pagamento _.pdf"; filename*=UTF-8''Ricevuta%20di%20pagamento%20%C3%A8.pdf`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Cache-Control":           "private, no-store",
	}
	for k, v := range want {
		if g := res.Header.Get(k); g != v {
			t.Errorf("%s: got %q, want %q", k, g, v)
		}
	}

	// A document of another room is not served under this one.
	other, err := s.Put(context.Background(), bari, "room2", "", "citizen", "b.pdf", bytes.NewReader(pdf(t, 1000)), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(srv.URL + "/doc/" + other.ID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("download of another room's document: %s, want 404", res.Status)
	}

	res, err = http.Get(srv.URL + "/doc/0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("download of an unknown document: %s, want 404", res.Status)
	}
}

func TestUploadErrors(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	srv := server(t, s, Policy{})
	small := server(t, s, Policy{MaxBytes: 10 << 10, Types: []string{TypePDF}})
	unavailable := server(t, NewStore(node, Clamd{Network: "unix", Addr: "/nonexistent/clamd.sock"}, nil), Policy{})
	multi := func(name string, file []byte) (string, io.Reader) {
		ct, b := form(t, name, "application/pdf", file)
		return ct, b
	}
	tests := []struct {
		name    string
		url     string
		body    func() (string, io.Reader)
		status  int
		message string
	}{
		{"oversize form", srv.URL, func() (string, io.Reader) { return multi("a.pdf", pdf(t, DefaultMaxBytes+1)) },
			413, "Il file supera il limite di 20 MB."},
		{"oversize raw body", srv.URL, func() (string, io.Reader) {
			return "application/pdf", bytes.NewReader(pdf(t, DefaultMaxBytes+200<<10))
		}, 413, "Il file supera il limite di 20 MB."},
		{"text renamed .pdf", srv.URL, func() (string, io.Reader) { return multi("a.pdf", []byte("solo testo")) },
			415, "Sono accettati solo PDF, JPEG e PNG."},
		{"PNG where only PDF is accepted", small.URL, func() (string, io.Reader) { return multi("a.png", png(100)) },
			415, "Sono accettati solo PDF."},
		{"over a 10 KB limit", small.URL, func() (string, io.Reader) { return multi("a.pdf", pdf(t, 11<<10)) },
			413, "Il file supera il limite di 10 KB."},
		{"no file field", srv.URL, func() (string, io.Reader) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			mw.WriteField("note", "x")
			mw.Close()
			return mw.FormDataContentType(), &b
		}, 400, "Scegli un file da inviare."},
		{"empty", srv.URL, func() (string, io.Reader) { return multi("a.pdf", nil) }, 422, "Il file è vuoto."},
		{"scanner unavailable", unavailable.URL, func() (string, io.Reader) { return multi("a.pdf", pdf(t, 1000)) },
			503, "Il controllo antivirus non è disponibile: riprova tra poco."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := tc.body()
			res, err := http.Post(tc.url+"/up", ct, body)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var e apiError
			if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
				t.Fatalf("%s: body is not a JSON error: %v", res.Status, err)
			}
			if res.StatusCode != tc.status || e.Error.Message != tc.message {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, e.Error.Message, tc.status, tc.message)
			}
		})
	}
	if c, d := count(t, node, "media_doc_chunks"), count(t, node, "media_docs"); c != 0 || d != 0 {
		t.Errorf("after refused uploads: %d chunks, %d documents", c, d)
	}
}

func TestRawUploadTakesItsName(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	srv := server(t, NewStore(node, nil, nil), Policy{})
	res, err := http.Post(srv.URL+"/up?name="+strings.ReplaceAll("../foto del documento.pdf", " ", "%20"), "application/pdf", bytes.NewReader(png(300)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d Document
	json.NewDecoder(res.Body).Decode(&d)
	if res.StatusCode != http.StatusCreated || d.Name != "foto del documento.png" || d.Type != TypePNG {
		t.Errorf("raw upload: %s, name %q, type %q", res.Status, d.Name, d.Type)
	}
}
