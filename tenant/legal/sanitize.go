package legal

import (
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// allowed are the elements a document may hold, with whether they are
// void. h1 is not among them: the page has its own heading, and an h1 in
// the text becomes an h2.
var allowed = map[atom.Atom]bool{
	atom.P: false, atom.H2: false, atom.H3: false, atom.H4: false,
	atom.Ul: false, atom.Ol: false, atom.Li: false, atom.A: false,
	atom.Strong: false, atom.Em: false, atom.Br: true,
}

// dropped are the elements removed with everything inside them: their
// content is code or data, never text for citizens.
var dropped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Iframe: true, atom.Object: true,
	atom.Embed: true, atom.Template: true, atom.Noscript: true, atom.Textarea: true,
	atom.Title: true, atom.Svg: true, atom.Math: true, atom.Select: true, atom.Head: true,
	atom.Noembed: true, atom.Noframes: true, atom.Xmp: true, atom.Plaintext: true,
}

// maxDepth bounds nesting (lists in lists): deeper tags are dropped and
// their text kept.
const maxDepth = 16

// Sanitize returns the part of s a document may hold: the allowed
// elements, with no attribute but a link's href (http, https, mailto,
// tel, or a path on the Comune's own site), every element closed, and the
// text escaped. Everything else is dropped: tags outside the set lose
// their tags and keep their text, scripts and styles lose their content
// too, comments disappear. It is a pure function of s, so apply runs it
// again and every node stores the same bytes.
func Sanitize(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	var open []atom.Atom
	skip := 0 // depth inside a dropped element
	var skipAtom atom.Atom
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				break
			}
			break
		}
		tok := z.Token()
		a := tok.DataAtom
		if a == atom.H1 {
			a = atom.H2
		}
		if skip > 0 {
			switch {
			case tt == html.StartTagToken && tok.DataAtom == skipAtom:
				skip++
			case tt == html.EndTagToken && tok.DataAtom == skipAtom:
				skip--
			}
			continue
		}
		switch tt {
		case html.TextToken:
			b.WriteString(html.EscapeString(tok.Data))
		case html.StartTagToken, html.SelfClosingTagToken:
			if dropped[tok.DataAtom] {
				if tt == html.StartTagToken {
					skip, skipAtom = 1, tok.DataAtom
				}
				continue
			}
			void, ok := allowed[a]
			if !ok || (!void && len(open) >= maxDepth) {
				continue
			}
			b.WriteByte('<')
			b.WriteString(a.String())
			if a == atom.A {
				for _, at := range tok.Attr {
					if at.Namespace == "" && strings.EqualFold(at.Key, "href") {
						if href, ok := safeHref(at.Val); ok {
							b.WriteString(` href="`)
							b.WriteString(html.EscapeString(href))
							b.WriteByte('"')
						}
						break
					}
				}
			}
			b.WriteByte('>')
			if !void {
				if tt == html.SelfClosingTagToken {
					b.WriteString("</" + a.String() + ">")
				} else {
					open = append(open, a)
				}
			}
		case html.EndTagToken:
			if void, ok := allowed[a]; !ok || void {
				continue
			}
			// Close up to the matching open element; an end tag that
			// matches nothing open is dropped.
			i := len(open) - 1
			for i >= 0 && open[i] != a {
				i--
			}
			if i < 0 {
				continue
			}
			for j := len(open) - 1; j >= i; j-- {
				b.WriteString("</" + open[j].String() + ">")
			}
			open = open[:i]
		}
	}
	for j := len(open) - 1; j >= 0; j-- {
		b.WriteString("</" + open[j].String() + ">")
	}
	return strings.TrimSpace(b.String())
}

// safeHref returns the link target when it is one a citizen may follow
// safely: http, https, mailto or tel, or a path or fragment on the same
// site. javascript:, data: and the like are refused, however they are
// spelled (the tokenizer has already decoded entities).
func safeHref(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false
	}
	// Control characters and spaces inside a scheme are how "java\tscript:"
	// slips past naive checks: refuse any.
	if strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", false
	}
	if strings.HasPrefix(v, "#") || (strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && !strings.HasPrefix(v, `/\`)) {
		return v, true
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return "", false
		}
		return u.String(), true
	case "mailto", "tel":
		return v, true
	}
	return "", false
}
