package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// staticFS holds the assets: our CSS and scripts and the vendored subset of
// bootstrap-italia (see static/vendor/update.sh; the script and the
// checksums are not embedded).
//
//go:embed static/css static/js static/vendor/bootstrap-italia
var staticFS embed.FS

// contentTypes are the types of the assets by extension. They are fixed
// here rather than taken from the machine's MIME tables, which differ
// between systems (and often lack woff2).
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".svg":   "image/svg+xml",
	".woff2": "font/woff2",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
	"":       "text/plain; charset=utf-8", // LICENSE, VERSION
}

// versionLen is the length of the version segment in asset URLs: 12 hex
// digits of the SHA-256 of every asset.
const versionLen = 12

// Cache-Control values: versioned URLs never change content, anything else
// is revalidated with its ETag.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// assets is the immutable index of the embedded static files.
type assets struct {
	version string
	files   map[string]*asset
}

// asset is one static file. Its gzip form is computed on first request,
// since a node serves only some of the files and tests start many sites.
type asset struct {
	name        string
	data        []byte
	contentType string
	etag        string
	compress    bool

	gzipOnce sync.Once
	gzipped  []byte
}

func newAssets() (*assets, error) {
	root, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("site: static files: %w", err)
	}
	a := &assets{files: map[string]*asset{}}
	var names []string
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		ext := path.Ext(p)
		ct, ok := contentTypes[ext]
		if !ok {
			return fmt.Errorf("no content type for %s", p)
		}
		sum := sha256.Sum256(data)
		a.files[p] = &asset{
			name:        p,
			data:        data,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
			compress:    ext != ".woff2" && ext != ".png" && len(data) > 1024,
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("site: static files: %w", err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%s\x00", n, a.files[n].etag)
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:versionLen]
	return a, nil
}

// path returns the versioned URL path of an asset, "/static/<version>/p".
func (a *assets) path(p string) string {
	return "/static/" + a.version + "/" + strings.TrimPrefix(p, "/")
}

func (f *asset) gzip() []byte {
	f.gzipOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(f.data)
		zw.Close()
		f.gzipped = b.Bytes()
	})
	return f.gzipped
}

// Static serves the embedded assets. Mount it as
// mux.Handle("GET /static/", s.Static()). Pages link to versioned paths
// ("/static/<version>/css/site.css", from the template func static) that
// are cached for a year; the version is a hash of every asset, so a new
// binary with new assets gets new URLs. The unversioned path and the paths
// of older versions serve the current file with revalidation only.
func (s *Site) Static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/static/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		cache := cacheRevalidate
		if ver, p, ok := strings.Cut(rest, "/"); ok && isVersion(ver) {
			rest = p
			if ver == s.assets.version && !s.dev {
				cache = cacheImmutable
			}
		}
		f, ok := s.assets.files[rest]
		if !ok {
			setStaticHeaders(w.Header())
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		setStaticHeaders(h)
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", cache)
		h.Set("ETag", f.etag)
		data := f.data
		if f.compress {
			h.Add("Vary", "Accept-Encoding")
			if acceptsGzip(r) {
				data = f.gzip()
				h.Set("Content-Encoding", "gzip")
				// The compressed form is another representation.
				h.Set("ETag", strings.TrimSuffix(f.etag, `"`)+`-gz"`)
			}
		}
		http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(data))
	})
}

func isVersion(s string) bool {
	if len(s) != versionLen {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// acceptsGzip reports whether the client takes gzip; a q=0 refusal
// counts as no.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// setStaticHeaders sets the security headers of asset responses: assets
// are never framed, never sniffed, and an SVG opened on its own may run
// nothing.
func setStaticHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; frame-ancestors 'none'")
}
