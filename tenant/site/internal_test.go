package site

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestLayoutKeysTranslated checks that every string key the layout and the
// site's own templates use exists in Italian, English and German.
func TestLayoutKeysTranslated(t *testing.T) {
	t.Parallel()
	keyRef := regexp.MustCompile(`\.T "([a-z0-9._]+)"`)
	keys := map[string]bool{}
	err := fs.WalkDir(layoutFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(layoutFS, p)
		if err != nil {
			return err
		}
		for _, m := range keyRef.FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 10 {
		t.Fatalf("found %d keys in the templates, want more", len(keys))
	}
	for _, lang := range []string{"it", "en", "de"} {
		for k := range keys {
			if !hasKey(lang, k) {
				t.Errorf("key %q missing in %s", k, lang)
			}
		}
	}
	for lang, dict := range dictionaries {
		for k := range dict {
			if !hasKey("it", k) {
				t.Errorf("key %q of %s has no Italian text", k, lang)
			}
		}
	}
}

// TestThemeContrast checks that whatever valid colour a Comune picks, white
// text on it and it on white reach WCAG AA.
func TestThemeContrast(t *testing.T) {
	t.Parallel()
	primary := regexp.MustCompile(`--bs-primary:(#[0-9a-f]{6})`)
	for _, c := range []string{"#0066cc", "#ffffff", "#ffd700", "#00ff00", "#777777", "#000000", "#e30613", "#ABCDEF"} {
		css := string(themeCSS(c))
		m := primary.FindStringSubmatch(css)
		if m == nil {
			t.Errorf("themeCSS(%q) = %q, want a primary colour", c, css)
			continue
		}
		p, _ := parseColor(m[1])
		if got := p.contrastWithWhite(); got < minContrast {
			t.Errorf("themeCSS(%q) uses %s with contrast %.2f, want ≥ %.1f", c, m[1], got, minContrast)
		}
		if orig, _ := parseColor(c); orig.contrastWithWhite() >= minContrast && !strings.EqualFold(m[1], c) {
			t.Errorf("themeCSS(%q) changed an accessible colour to %s", c, m[1])
		}
	}
	for _, bad := range []string{"", "#06c", "blue", "#0066cc;", "#0066cc}body{display:none", "#0066ccff", " #0066cc"} {
		if css := themeCSS(bad); css != "" {
			t.Errorf("themeCSS(%q) = %q, want empty", bad, css)
		}
	}
}

// TestLayoutCatalogComplete checks, with the same Missing every package's
// test uses, that the layout's catalog has every Italian key in English
// and German and no key that Italian lacks.
func TestLayoutCatalogComplete(t *testing.T) {
	t.Parallel()
	if missing := dictionaries.Missing(Languages()...); len(missing) > 0 {
		t.Errorf("layout catalog incomplete: %v", missing)
	}
}
