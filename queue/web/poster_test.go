package web

import (
	"image"
	"image/color"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/sportello-virtuale/sportello/auth"
)

// svgViewBox and svgRun read the drawing qrSVG makes: a square viewBox
// and a path of unit-high runs. rasterQR refuses any other path command,
// so a change of drawing fails here rather than decoding a blank image.
var (
	svgViewBox = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`)
	svgPath    = regexp.MustCompile(`<path [^>]*\bd="([^"]*)"`)
	svgRun     = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
)

// rasterQR draws the SVG's modules into a grey image, scale pixels per
// module, as a printer or screen would.
func rasterQR(t *testing.T, svg string, scale int) image.Image {
	t.Helper()
	vb := svgViewBox.FindStringSubmatch(svg)
	pm := svgPath.FindStringSubmatch(svg)
	if vb == nil || pm == nil || vb[1] != vb[2] {
		t.Fatalf("not a square QR drawing: %.300s", svg)
	}
	n, _ := strconv.Atoi(vb[1])
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if rest := strings.TrimSpace(svgRun.ReplaceAllString(pm[1], "")); rest != "" {
		t.Fatalf("the path has commands the rasteriser does not know: %.100q", rest)
	}
	runs := svgRun.FindAllStringSubmatch(pm[1], -1)
	if len(runs) == 0 {
		t.Fatal("the QR drawing has no dark module")
	}
	for _, m := range runs {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		if back, _ := strconv.Atoi(m[4]); back != w || x+w > n || y >= n {
			t.Fatalf("run %q is not a closed box inside the drawing", m[0])
		}
		for py := y * scale; py < (y+1)*scale; py++ {
			for px := x * scale; px < (x+w)*scale; px++ {
				img.SetGray(px, py, color.Gray{})
			}
		}
	}
	return img
}

// decodeQR reads a QR code from img with an independent decoder (gozxing,
// a port of ZXing).
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	return res.GetText()
}

// TestPosterQRCode prints the door's poster as an operator of Anagrafe:
// the page names the office, says "Prendi il numero dal telefono", shows
// the address of the office's ticket page in letters, and its inline QR
// code, drawn at 4 pixels a module and read back by ZXing, is that
// address; the SVG download is the same code. The operator cannot print
// Tributi's poster, nor can anyone logged out; the desk page links the
// poster.
func TestPosterQRCode(t *testing.T) {
	t.Parallel()
	e := newDeskEnv(t)
	op := e.login("op", auth.Grant{Role: auth.RoleOperator, Offices: []string{e.anagrafe.ID}})
	want := "http://" + deskHost + "/coda/" + url.PathEscape(e.anagrafe.ID)

	p := op.get("/gestione/coda/cartello?ufficio=" + url.QueryEscape(e.anagrafe.ID))
	if p.Status != http.StatusOK {
		t.Fatalf("poster: got %d\n%s", p.Status, p.Body)
	}
	for _, s := range []string{"Anagrafe", "Prendi il numero dal telefono", ">" + want + "<", "@page", "size: A4", "<svg "} {
		if !strings.Contains(p.Body, s) {
			t.Errorf("the poster lacks %q", s)
		}
	}
	start, end := strings.Index(p.Body, "<svg "), strings.Index(p.Body, "</svg>")
	if start < 0 || end < start {
		t.Fatal("no inline SVG in the poster")
	}
	if got := decodeQR(t, rasterQR(t, p.Body[start:end+len("</svg>")], 4)); got != want {
		t.Errorf("the poster's QR code reads %q, want %q", got, want)
	}

	svg := op.get("/gestione/coda/cartello.svg?ufficio=" + url.QueryEscape(e.anagrafe.ID))
	if svg.Status != http.StatusOK || svg.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("SVG: got %d %q", svg.Status, svg.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(svg.Body, "<?xml") || !strings.Contains(svg.Body, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the download is not a standalone SVG: %.120s", svg.Body)
	}
	if got := decodeQR(t, rasterQR(t, svg.Body, 3)); got != want {
		t.Errorf("the SVG's QR code reads %q, want %q", got, want)
	}

	if r := op.get("/gestione/coda/cartello?ufficio=" + url.QueryEscape(e.tributi.ID)); r.Status != http.StatusForbidden {
		t.Errorf("another office's poster: got %d, want 403", r.Status)
	}
	if r := op.get("/gestione/coda/cartello.svg?ufficio=" + url.QueryEscape(e.tributi.ID)); r.Status != http.StatusForbidden {
		t.Errorf("another office's SVG: got %d, want 403", r.Status)
	}
	if r := e.send("GET", "/gestione/coda/cartello?ufficio="+url.QueryEscape(e.anagrafe.ID), nil, ""); r.Status != http.StatusSeeOther {
		t.Errorf("logged out: got %d, want 303 to the login", r.Status)
	}
	// Without an office, the user's first one.
	if r := op.get("/gestione/coda/cartello"); r.Status != http.StatusOK || !strings.Contains(r.Body, ">"+want+"<") {
		t.Errorf("poster without an office: got %d, want Anagrafe's", r.Status)
	}
	desk := op.get("/gestione/coda?ufficio=" + url.QueryEscape(e.anagrafe.ID))
	if !strings.Contains(desk.Body, `href="/gestione/coda/cartello?ufficio=`+e.anagrafe.ID+`"`) {
		t.Error("the desk page does not link the poster")
	}
}

// TestPosterPrefersTheComuneDomain checks the poster's address: on the
// Comune's own domain (https) when the page was opened through the
// implied subdomain, on the host of the request otherwise.
func TestPosterPrefersTheComuneDomain(t *testing.T) {
	t.Parallel()
	h := &Handler{}
	r, _ := http.NewRequest("GET", "http://bari.example.it/gestione/coda/cartello", nil)
	r.Host = "bari.example.it"
	if got := h.ticketPageURL(r, nil, "urp"); got != "http://bari.example.it/coda/urp" {
		t.Errorf("no domain: %q", got)
	}
	if got := h.ticketPageURL(r, []string{"servizi.comune.bari.it"}, "urp"); got != "https://servizi.comune.bari.it/coda/urp" {
		t.Errorf("with a domain: %q", got)
	}
	r.Host = "servizi.comune.bari.it"
	if got := h.ticketPageURL(r, []string{"servizi.comune.bari.it"}, "ufficio 1"); got != "http://servizi.comune.bari.it/coda/ufficio%201" {
		t.Errorf("on the domain: %q", got)
	}
}
