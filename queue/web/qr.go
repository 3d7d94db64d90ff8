package web

import (
	"fmt"
	"html"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG draws text as a QR code in SVG, for the poster at the office door
// (poster.go). The symbol is drawn with one path of unit squares on a
// white background, its quiet zone of four modules included, so that the
// drawing scales to any size without blurring: printed on A4 or shown in
// a browser, each module stays a crisp square. The error correction is
// go-qrcode's High, the standard's level Q (a quarter of the symbol may
// be lost) because a poster on a door gets scratched,
// faded and photographed at an angle; an URL of a few dozen characters
// still fits a small symbol.
//
// title names the drawing for screen readers (the SVG's <title> and
// aria-label); it is escaped here.
func qrSVG(text, title string) (string, error) {
	q, err := qrcode.New(text, qrcode.High)
	if err != nil {
		return "", fmt.Errorf("QR code of %q: %w", text, err)
	}
	bits := q.Bitmap()
	n := len(bits)
	var b strings.Builder
	t := html.EscapeString(title)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" shape-rendering="crispEdges" role="img" aria-label="%s">`, n, n, t)
	fmt.Fprintf(&b, `<title>%s</title><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, t, n, n)
	// One subpath per horizontal run of dark modules keeps the path
	// short: a symbol of version 4 (33 modules) takes a few kilobytes.
	for y, row := range bits {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}
