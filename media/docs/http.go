package docs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// formOverhead is what Upload allows a multipart request beyond the file:
// boundaries, part headers and a few small fields.
const formOverhead = 64 << 10

// Upload stores the file of an upload request: a multipart form with the
// file in the field "file" (the browser's FormData), or a raw body named
// by the query parameter "name" or a Content-Disposition header. The
// whole request is cut at p.MaxBytes plus 64 KiB (http.MaxBytesReader),
// so an oversize upload costs at most that much reading. On success it
// returns the document and true, and the caller answers (typically 201
// with the document, and announces it in the call). On failure it has
// answered already, with a JSON error in Italian
// ({"error":{"code","message"}}), and returns false.
func (s *Store) Upload(w http.ResponseWriter, r *http.Request, t tenant.ID, room, ref, from string, p Policy) (Document, bool) {
	p = p.withDefaults()
	r.Body = http.MaxBytesReader(w, r.Body, p.MaxBytes+formOverhead)
	body, name, err := uploadBody(r)
	if err != nil {
		s.uploadError(w, r, t, p, err)
		return Document{}, false
	}
	d, err := s.Put(r.Context(), t, room, ref, from, name, body, p)
	if err != nil {
		s.uploadError(w, r, t, p, err)
		return Document{}, false
	}
	return d, true
}

// errNoFile: the request carries no file.
var errNoFile = errors.New("docs: no file in the request")

// uploadBody finds the file in r: the first part named "file" of a
// multipart form (parts before it are skipped, their size counted by the
// request limit), or else the body itself.
func uploadBody(r *http.Request) (io.Reader, string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		name := r.URL.Query().Get("name")
		if name == "" {
			if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
				name = params["filename"]
			}
		}
		return r.Body, name, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", errNoFile, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, "", errNoFile
		}
		if err != nil {
			if isTooLarge(err) {
				return nil, "", ErrTooLarge
			}
			return nil, "", fmt.Errorf("%w: %w", errNoFile, err)
		}
		if part.FormName() == "file" {
			return part, part.FileName(), nil
		}
		if _, err := io.Copy(io.Discard, part); err != nil {
			if isTooLarge(err) {
				return nil, "", ErrTooLarge
			}
			return nil, "", fmt.Errorf("%w: %w", errNoFile, err)
		}
	}
}

// typeNames are the accepted types as the messages name them.
var typeNames = map[string]string{TypePDF: "PDF", TypeJPEG: "JPEG", TypePNG: "PNG"}

// uploadError answers err. This is the one place where the package's
// errors become status codes.
func (s *Store) uploadError(w http.ResponseWriter, r *http.Request, t tenant.ID, p Policy, err error) {
	var (
		status        int
		code, message string
	)
	switch {
	case errors.Is(err, ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
		message = fmt.Sprintf("Il file supera il limite di %s.", sizeText(p.MaxBytes))
	case errors.Is(err, ErrEmpty):
		status, code, message = http.StatusUnprocessableEntity, "empty", "Il file è vuoto."
	case errors.Is(err, ErrType):
		status, code = http.StatusUnsupportedMediaType, "unsupported_type"
		message = "Sono accettati solo " + typeList(p.Types) + "."
	case errors.Is(err, ErrInfected):
		status, code, message = http.StatusUnprocessableEntity, "infected", "Il file non ha superato il controllo antivirus."
		s.logger().Warn("upload refused by the virus scanner", "tenant", string(t), "err", err)
	case errors.Is(err, ErrScan):
		status, code, message = http.StatusServiceUnavailable, "scanner_unavailable", "Il controllo antivirus non è disponibile: riprova tra poco."
		w.Header().Set("Retry-After", "30")
		s.logger().Error("virus scanner unavailable, upload refused", "tenant", string(t), "err", err)
	case errors.Is(err, errNoFile):
		status, code, message = http.StatusBadRequest, "no_file", "Scegli un file da inviare."
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrClosed), errors.Is(err, cluster.ErrNotStarted):
		status, code, message = http.StatusServiceUnavailable, "unavailable", "Il servizio non è disponibile in questo momento: riprova tra poco."
		w.Header().Set("Retry-After", "5")
		s.logger().Warn("upload failed", "tenant", string(t), "err", err)
	default:
		status, code, message = http.StatusInternalServerError, "internal", "Non è stato possibile salvare il documento: riprova."
		s.logger().Error("upload failed", "tenant", string(t), "err", err)
	}
	writeError(w, status, code, message)
}

func (s *Store) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// sizeText writes a limit as the messages say it: "20 MB" for 20 MiB.
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	}
	return strconv.FormatInt((n+1023)>>10, 10) + " KB"
}

// typeList names types for a sentence: "PDF, JPEG e PNG".
func typeList(types []string) string {
	var names []string
	for _, t := range types {
		if n, ok := typeNames[t]; ok {
			names = append(names, n)
		}
	}
	switch len(names) {
	case 0:
		return "PDF, JPEG e PNG"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " e " + names[len(names)-1]
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error errorDetail `json:"error"`
	}{errorDetail{code, message}})
}

// ServeDownload sends a document as an attachment that no browser renders
// in the site's origin: Content-Disposition attachment with an ASCII
// filename and the exact one in filename* (RFC 5987 / RFC 6266), the
// sniffed Content-Type with X-Content-Type-Options nosniff, a
// Content-Security-Policy that forbids everything and sandboxes the
// document should a browser show it anyway (an old viewer opening a PDF
// inline), and Cache-Control private, no-store so that no proxy or shared
// disk cache keeps a citizen's papers. Content-Length is the document's
// size: if body fails midway the client sees a short, broken download
// rather than a complete-looking one. A HEAD request gets the headers.
func ServeDownload(w http.ResponseWriter, r *http.Request, d Document, body io.Reader) {
	name := withExtension(SanitizeName(d.Name), d.Type)
	h := w.Header()
	h.Set("Content-Type", d.Type)
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
	if d.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(d.Size, 10))
	}
	if d.SHA256 != "" {
		h.Set("ETag", `"`+d.SHA256+`"`)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	io.Copy(w, body)
}

// contentDisposition builds the header for a sanitised name: filename
// holds only printable ASCII (other characters become "_"), filename*
// the UTF-8 name percent-encoded.
func contentDisposition(name string) string {
	var ascii strings.Builder
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			ascii.WriteByte('_')
			continue
		}
		ascii.WriteRune(r)
	}
	// filename* always comes too: browsers prefer it (RFC 6266), so the
	// exact name wins wherever it is understood.
	return `attachment; filename="` + ascii.String() + `"; filename*=UTF-8''` + rfc5987(name)
}

// rfc5987 percent-encodes s as an RFC 5987 ext-value's value: attr-chars
// stay, every other byte is %XX.
func rfc5987(s string) string {
	const attr = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(attr, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Download answers GET (or HEAD) of document id of the Comune t: the file
// (ServeDownload), or a JSON 404 when there is no such document. When
// room is not "", a document of another room is not found either: a
// participant's token names one room, and a guessed ID of another room's
// document must not open it. The operator's view of a booking passes ""
// after checking the document's Ref itself.
func (s *Store) Download(w http.ResponseWriter, r *http.Request, t tenant.ID, room, id string) {
	d, err := s.Get(r.Context(), t, id)
	if err == nil && room != "" && d.Room != room {
		err = fmt.Errorf("document %s of another room: %w", id, ErrNotFound)
	}
	if err == nil {
		var rc io.ReadCloser
		if rc, err = s.Open(r.Context(), t, id); err == nil {
			defer rc.Close()
			ServeDownload(w, r, d, rc)
			return
		}
	}
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "Il documento non esiste o non è più disponibile.")
		return
	}
	s.logger().Error("download failed", "tenant", string(t), "document", id, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "Non è stato possibile leggere il documento: riprova.")
}
