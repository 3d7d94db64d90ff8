package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // logos may be JPEG
	"image/png"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Limits on a Comune's logo: a bigger file or picture is not used (the
// drawn tile is), so a careless upload cannot make every node decode a
// huge image.
const (
	maxLogoBytes  = 4 << 20
	maxLogoPixels = 4096
	// logoTimeout bounds the fetch of a remote logo.
	logoTimeout = 5 * time.Second
	// logoRetry is how long icons drawn because the logo could not be read
	// are kept before the site tries the logo again.
	logoRetry = 10 * time.Minute
)

// iconStyle is how an icon is laid out.
type iconStyle int

const (
	// styleAny is a rounded tile on transparent, for launchers that show
	// the icon as it is.
	styleAny iconStyle = iota
	// styleFull fills the square; the picture stays in the central circle
	// of 80% that launchers keep when they mask the icon (maskable icons,
	// Apple's touch icon, which must be opaque).
	styleFull
	// styleBadge is the white mark on transparent: Android shows only its
	// alpha in the status bar.
	styleBadge
)

// iconSpec is one of the icons the site serves under /icons/.
type iconSpec struct {
	size  int
	style iconStyle
}

var iconSpecs = map[string]iconSpec{
	"icon-192.png":         {192, styleAny},
	"icon-512.png":         {512, styleAny},
	"maskable-512.png":     {512, styleFull},
	"apple-touch-icon.png": {180, styleFull},
	"badge-96.png":         {96, styleBadge},
}

// iconCache holds each Comune's icons for one version of its settings.
type iconCache struct {
	mu       sync.Mutex
	byTenant map[tenant.ID]*tenantIcons
}

// tenantIcons are the icons of one Comune, drawn on first request. mu is
// held while one is drawn, so that concurrent first requests draw it once.
type tenantIcons struct {
	mu    sync.Mutex
	stamp string
	// expires is zero for icons that stay until the settings change, and
	// set when the logo could not be read.
	expires time.Time
	// logo is the decoded logo for stamp, nil for the drawn tile.
	logo  image.Image
	files map[string]iconFile
}

type iconFile struct {
	png  []byte
	etag string
}

// appIcon answers GET /icons/{name}.
func (s *Site) appIcon(w http.ResponseWriter, r *http.Request, t tenant.Tenant) {
	name := r.PathValue("name")
	if _, ok := iconSpecs[name]; !ok {
		s.notFound(w, r)
		return
	}
	f, err := s.appIconFor(r.Context(), t, name)
	if err != nil {
		s.log.ErrorContext(r.Context(), "draw icon", "tenant", t.ID, "icon", name, "err", err)
		s.Error(w, r, http.StatusInternalServerError, "")
		return
	}
	h := w.Header()
	setStaticHeaders(h)
	h.Set("Content-Type", "image/png")
	h.Set("Cache-Control", cacheIcons)
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.png))
}

// appIconFor returns the named icon of t, drawing it on the first request
// after a change of the Comune's settings.
func (s *Site) appIconFor(ctx context.Context, t tenant.Tenant, name string) (iconFile, error) {
	s.icons.mu.Lock()
	if s.icons.byTenant == nil {
		s.icons.byTenant = map[tenant.ID]*tenantIcons{}
	}
	e, ok := s.icons.byTenant[t.ID]
	if !ok {
		e = &tenantIcons{}
		s.icons.byTenant[t.ID] = e
	}
	s.icons.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	stamp := settingsStamp(t)
	now := time.Now()
	if e.files == nil || e.stamp != stamp || (!e.expires.IsZero() && now.After(e.expires)) {
		logo, err := s.logo(ctx, t)
		e.expires = time.Time{}
		if err != nil {
			s.log.WarnContext(ctx, "logo not usable for the app icons; drawing the tile", "tenant", t.ID, "logo", t.Branding.LogoURL, "err", err)
			logo = nil
			e.expires = now.Add(logoRetry)
		}
		e.stamp, e.logo, e.files = stamp, logo, map[string]iconFile{}
	}
	if f, ok := e.files[name]; ok {
		return f, nil
	}
	spec := iconSpecs[name]
	var b bytes.Buffer
	if err := png.Encode(&b, drawIcon(spec.size, spec.style, iconColor(t), e.logo)); err != nil {
		return iconFile{}, err
	}
	sum := sha256.Sum256(b.Bytes())
	f := iconFile{png: b.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	e.files[name] = f
	return f, nil
}

// iconColor is the tile's colour: the header's.
func iconColor(t tenant.Tenant) rgb {
	c, ok := parseColor(themeColor(t))
	if !ok {
		c, _ = parseColor(defaultThemeColor)
	}
	return c
}

// errNoLogo means the Comune has no logo the site can read; the icons are
// drawn, which is not an error.
var errNoLogo = errors.New("no logo")

// logo returns the Comune's logo when it is a PNG or JPEG the site can
// read: an embedded asset (a /static/ path) or, with Options.FetchLogo,
// an https URL. It returns nil, nil when there is none to read.
func (s *Site) logo(ctx context.Context, t tenant.Tenant) (image.Image, error) {
	b, err := s.logoBytes(ctx, t.Branding.LogoURL)
	if errors.Is(err, errNoLogo) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) > maxLogoBytes {
		return nil, fmt.Errorf("logo of %d bytes, more than %d", len(b), maxLogoBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		// An SVG or another format: the drawn tile, for good.
		return nil, nil
	}
	if format != "png" && format != "jpeg" {
		return nil, nil
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxLogoPixels || cfg.Height > maxLogoPixels {
		return nil, fmt.Errorf("logo of %dx%d pixels, more than %d", cfg.Width, cfg.Height, maxLogoPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("decode logo: %w", err)
	}
	return img, nil
}

func (s *Site) logoBytes(ctx context.Context, logoURL string) ([]byte, error) {
	switch {
	case logoURL == "":
		return nil, errNoLogo
	case strings.HasPrefix(logoURL, "/static/"):
		rest := strings.TrimPrefix(logoURL, "/static/")
		if ver, p, ok := strings.Cut(rest, "/"); ok && isVersion(ver) {
			rest = p
		}
		if f, ok := s.assets.files[rest]; ok {
			return f.data, nil
		}
		return nil, errNoLogo
	case strings.HasPrefix(logoURL, "https://") && s.fetchLogo != nil:
		ctx, cancel := context.WithTimeout(ctx, logoTimeout)
		defer cancel()
		return s.fetchLogo(ctx, logoURL)
	}
	return nil, errNoLogo
}

// drawIcon draws one icon of size pixels: the logo centred on white when
// there is one, else a tile in bg with a white mark (a person at a
// counter). Edges are anti-aliased from signed distances, so no font or
// vector library is needed.
func drawIcon(size int, style iconStyle, bg rgb, logo image.Image) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	if style == styleBadge {
		logo = nil
	}
	var placed *image.RGBA
	var box image.Rectangle
	if logo != nil {
		fit := 0.8
		if style == styleFull {
			fit = 0.56
		}
		placed, box = fitLogo(logo, size, fit)
	}
	white := rgb{255, 255, 255}
	fs := float64(size)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			u, v := (float64(x)+0.5)/fs, (float64(y)+0.5)/fs
			var tileA float64 = 1
			if style == styleAny {
				tileA = coverage(sdRoundRect(u, v, 0, 0, 1, 1, 0.18), fs)
			}
			var c rgb
			var a float64
			switch {
			case style == styleBadge:
				mu, mv := 0.5+(u-0.5)/1.35, 0.5+(v-0.5)/1.35
				c, a = white, coverage(markDistance(mu, mv), fs/1.35)
			case placed != nil:
				c, a = white, tileA
				if image.Pt(x, y).In(box) {
					p := placed.RGBAAt(x-box.Min.X, y-box.Min.Y)
					la := float64(p.A) / 255
					// p is premultiplied: over white.
					c = rgb{float64(p.R) + 255*(1-la), float64(p.G) + 255*(1-la), float64(p.B) + 255*(1-la)}
				}
			default:
				m := coverage(markDistance(u, v), fs)
				c, a = mix(bg, white, m), tileA
			}
			if a <= 0 {
				continue
			}
			o := img.PixOffset(x, y)
			px := img.Pix[o : o+4 : o+4]
			px[0], px[1], px[2], px[3] = uint8(clamp(c.r)), uint8(clamp(c.g)), uint8(clamp(c.b)), uint8(clamp(a*255))
		}
	}
	return img
}

func mix(a, b rgb, t float64) rgb {
	return rgb{a.r + (b.r-a.r)*t, a.g + (b.g-a.g)*t, a.b + (b.b-a.b)*t}
}

// coverage turns a signed distance in icon units (negative inside) into
// the share of a pixel covered, for an icon of size pixels.
func coverage(d, size float64) float64 {
	return math.Max(0, math.Min(1, 0.5-d*size))
}

// markDistance is the signed distance from (u, v), in a unit square, to
// the mark: a head, shoulders and the counter in front of them. It stays
// inside the central circle of radius 0.4 that maskable icons keep.
func markDistance(u, v float64) float64 {
	head := math.Hypot(u-0.5, v-0.36) - 0.095
	body := sdRoundRect(u, v, 0.34, 0.49, 0.66, 0.69, 0.08)
	counter := sdRoundRect(u, v, 0.21, 0.65, 0.79, 0.74, 0.025)
	return math.Min(head, math.Min(body, counter))
}

// sdRoundRect is the signed distance from (px, py) to the rectangle
// [x0,x1]×[y0,y1] with corners rounded by r.
func sdRoundRect(px, py, x0, y0, x1, y1, r float64) float64 {
	cx, cy := (x0+x1)/2, (y0+y1)/2
	hx, hy := (x1-x0)/2-r, (y1-y0)/2-r
	qx, qy := math.Abs(px-cx)-hx, math.Abs(py-cy)-hy
	outside := math.Hypot(math.Max(qx, 0), math.Max(qy, 0))
	inside := math.Min(math.Max(qx, qy), 0)
	return outside + inside - r
}

// fitLogo scales logo to fit a centred square of fit×size pixels, keeping
// its proportions. It returns the scaled picture (premultiplied) and
// where it goes in the icon. Each pixel averages a grid of bilinear
// samples, which is enough for shrinking a coat of arms and for
// enlarging a small one.
func fitLogo(logo image.Image, size int, fit float64) (*image.RGBA, image.Rectangle) {
	src := image.NewRGBA(image.Rect(0, 0, logo.Bounds().Dx(), logo.Bounds().Dy()))
	draw.Draw(src, src.Bounds(), logo, logo.Bounds().Min, draw.Src)
	sw, sh := float64(src.Bounds().Dx()), float64(src.Bounds().Dy())
	side := fit * float64(size)
	scale := math.Min(side/sw, side/sh)
	dw, dh := max(1, int(math.Round(sw*scale))), max(1, int(math.Round(sh*scale)))
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	n := int(math.Ceil(1 / scale))
	n = max(2, min(n, 4))
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var acc [4]float64
			for j := 0; j < n; j++ {
				for i := 0; i < n; i++ {
					fx := (float64(x) + (float64(i)+0.5)/float64(n)) / scale
					fy := (float64(y) + (float64(j)+0.5)/float64(n)) / scale
					p := bilinear(src, fx-0.5, fy-0.5)
					for k := range acc {
						acc[k] += p[k]
					}
				}
			}
			nn := float64(n * n)
			dst.SetRGBA(x, y, color.RGBA{uint8(clamp(acc[0] / nn)), uint8(clamp(acc[1] / nn)), uint8(clamp(acc[2] / nn)), uint8(clamp(acc[3] / nn))})
		}
	}
	off := image.Pt((size-dw)/2, (size-dh)/2)
	return dst, image.Rectangle{Min: off, Max: off.Add(image.Pt(dw, dh))}
}

// bilinear samples src (premultiplied) at (x, y), clamping at the edges.
func bilinear(src *image.RGBA, x, y float64) [4]float64 {
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	x0, y0 := math.Floor(x), math.Floor(y)
	tx, ty := x-x0, y-y0
	at := func(xi, yi int) [4]float64 {
		xi, yi = max(0, min(xi, w-1)), max(0, min(yi, h-1))
		o := src.PixOffset(xi, yi)
		p := src.Pix[o : o+4 : o+4]
		return [4]float64{float64(p[0]), float64(p[1]), float64(p[2]), float64(p[3])}
	}
	a, b := at(int(x0), int(y0)), at(int(x0)+1, int(y0))
	c, d := at(int(x0), int(y0)+1), at(int(x0)+1, int(y0)+1)
	var out [4]float64
	for k := range out {
		top := a[k] + (b[k]-a[k])*tx
		bot := c[k] + (d[k]-c[k])*tx
		out[k] = top + (bot-top)*ty
	}
	return out
}
