package site

import (
	"fmt"
	"html/template"
	"math"
	"regexp"
	"strconv"
)

// colorPattern is the only form of colour a Comune may give; anything else
// is ignored, so no text of the registry ever reaches the page's CSS.
var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// minContrast is WCAG 2.1 AA for normal text: white text on the primary
// colour (headers, buttons) and primary-coloured links on white both need
// it.
const minContrast = 4.5

// rgb is a colour in sRGB.
type rgb struct{ r, g, b float64 }

func parseColor(s string) (rgb, bool) {
	if !colorPattern.MatchString(s) {
		return rgb{}, false
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgb{}, false
	}
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}, true
}

func (c rgb) hex() string {
	return fmt.Sprintf("#%02x%02x%02x", clamp(c.r), clamp(c.g), clamp(c.b))
}

func (c rgb) triple() string {
	return fmt.Sprintf("%d, %d, %d", clamp(c.r), clamp(c.g), clamp(c.b))
}

func clamp(v float64) int {
	return int(math.Max(0, math.Min(255, math.Round(v))))
}

// luminance is the WCAG relative luminance of c.
func (c rgb) luminance() float64 {
	lin := func(v float64) float64 {
		v = float64(clamp(v)) / 255
		if v <= 0.03928 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrastWithWhite is the WCAG contrast ratio of c against white.
func (c rgb) contrastWithWhite() float64 {
	return 1.05 / (c.luminance() + 0.05)
}

func (c rgb) scale(f float64) rgb { return rgb{c.r * f, c.g * f, c.b * f} }

// accessible darkens c until white text on it (and c on white) reaches
// minContrast; a colour that already does is returned unchanged.
func (c rgb) accessible() rgb {
	for i := 0; i < 100 && c.contrastWithWhite() < minContrast; i++ {
		c = c.scale(0.95)
	}
	return c
}

// themeCSS returns the CSS that paints the layout in the Comune's primary
// colour, or "" for an empty or malformed colour (the kit's blue stays).
// bootstrap-italia 2.x writes its colours into most rules rather than
// reading --bs-primary, so the rules of the parts the layout uses are
// repeated here. Every value is formatted from the parsed number, so the
// result is safe to mark as template.CSS.
func themeCSS(color string) template.CSS {
	c, ok := parseColor(color)
	if !ok {
		return ""
	}
	c = c.accessible()
	p, slim, footer, prints := c.hex(), c.scale(0.87).hex(), c.scale(0.75).hex(), c.scale(0.5).hex()
	return template.CSS(fmt.Sprintf(`:root{--bs-primary:%[1]s;--bs-primary-rgb:%[5]s;--bs-link-color:%[1]s;--bs-link-hover-color:%[2]s}`+
		`.it-header-slim-wrapper{background:%[2]s}`+
		`.it-header-center-wrapper{background:%[1]s}`+
		`.it-footer-main{background-color:%[3]s}`+
		`.it-footer-small-prints{background-color:%[4]s}`+
		`.btn-primary{background-color:%[1]s;border-color:%[1]s}`+
		`.btn-primary:hover,.btn-primary:active{background-color:%[2]s;border-color:%[2]s}`+
		`.btn-outline-primary{color:%[1]s;box-shadow:inset 0 0 0 2px %[1]s}`+
		`.skiplinks a{color:%[1]s}`,
		p, slim, footer, prints, c.triple()))
}
