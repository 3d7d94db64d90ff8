package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// widgetFiles are the chat widget's script and stylesheet, built once.
// The layout loads the script at a fixed URL (/assistente/widget.js) on
// every citizen page, so it is revalidated with its ETag (a 304 costs no
// body); the stylesheet, which the script links with its version in the
// URL, is cached for a year.
type widgetFiles struct {
	js, css            []byte
	jsETag, cssVersion string
}

// buildWidget prepends to the script its strings in every language (from
// the package's catalog, so that the widget and the page say the same)
// and the stylesheet's versioned URL.
func buildWidget() (widgetFiles, error) {
	js, err := staticFS.ReadFile("static/widget.js")
	if err != nil {
		return widgetFiles{}, err
	}
	css, err := staticFS.ReadFile("static/widget.css")
	if err != nil {
		return widgetFiles{}, err
	}
	strs := map[string]map[string]string{}
	for lang, dict := range messages {
		strs[lang] = map[string]string{}
		for k, v := range dict {
			if name, ok := strings.CutPrefix(k, "widget."); ok {
				strs[lang][name] = v
			}
		}
	}
	sum := sha256.Sum256(css)
	w := widgetFiles{css: css, cssVersion: hex.EncodeToString(sum[:6])}
	cfg, err := json.Marshal(map[string]any{"strings": strs, "style": w.styleURL(), "api": APIPath, "page": PagePath})
	if err != nil {
		return widgetFiles{}, err
	}
	w.js = []byte(fmt.Sprintf("/* Sportello: assistente virtuale. */\nvar SPORTELLO_ASSISTANT = %s;\n%s", cfg, js))
	jsSum := sha256.Sum256(w.js)
	w.jsETag = `"` + hex.EncodeToString(jsSum[:8]) + `"`
	return w, nil
}

func (w widgetFiles) styleURL() string { return StylePath + "?v=" + w.cssVersion }

func (w widgetFiles) serveScript(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", w.jsETag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(rw, r, "widget.js", time.Time{}, strings.NewReader(string(w.js)))
}

func (w widgetFiles) serveStyle(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+w.cssVersion+`"`)
	if r.URL.Query().Get("v") == w.cssVersion {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(rw, r, "widget.css", time.Time{}, strings.NewReader(string(w.css)))
}
