package docs

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fallbackName is the name of a file whose own name leaves nothing.
const fallbackName = "documento.pdf"

// maxName bounds a sanitised name, in characters, extension included.
const maxName = 100

// nameExtras are the punctuation characters kept in a name besides
// letters, digits and spaces: none of them means anything to a shell, a
// path or a Content-Disposition header once quoted, and none is forbidden
// in a Windows file name.
const nameExtras = "-_.,()[]+'&@!~"

// SanitizeName returns a name that is safe to show, to put in a
// Content-Disposition header and to save on any operating system: the
// last element of the path (either separator), NFC-normalised, with
// control, format (bidirectional overrides, zero-width characters) and
// NUL characters removed, anything but letters, digits, spaces and a few
// punctuation marks replaced by "_", no leading or trailing dots or
// spaces (no hidden files, no "..", nothing Windows strips), Windows'
// reserved device names defused, and at most 100 characters keeping the
// extension. A name that leaves nothing becomes "documento.pdf". Put
// then forces the extension to match the sniffed type.
func SanitizeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "_")
	}
	name = norm.NFC.String(name)
	var b strings.Builder
	space := false
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			// Tabs and newlines too: one space, so that no header or
			// log line can be split by a name.
			space = true
			continue
		case r == 0 || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Co, r) || r == utf8.RuneError:
			// Invisible or meaningless: dropped, so that an RTL override
			// cannot make "fdp.exe" look like "exe.pdf".
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || strings.ContainsRune(nameExtras, r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name = strings.Trim(b.String(), " .")
	stem, ext := splitExt(name)
	stem = strings.Trim(stem, " .")
	if stem == "" || strings.Trim(stem, "_") == "" {
		return fallbackName
	}
	if reservedDevice(stem) {
		stem = "_" + stem
	}
	return truncateName(stem, ext)
}

// splitExt splits name at its last dot when what follows looks like an
// extension (1 to 10 letters or digits); ext keeps the dot.
func splitExt(name string) (stem, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i-1 > 10 || i == len(name)-1 {
		return name, ""
	}
	for _, r := range name[i+1:] {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return name, ""
		}
	}
	return name[:i], name[i:]
}

// truncateName joins stem and ext, cutting the stem so that the whole is
// at most maxName characters.
func truncateName(stem, ext string) string {
	room := maxName - utf8.RuneCountInString(ext)
	if utf8.RuneCountInString(stem) > room {
		r := []rune(stem)[:room]
		stem = strings.TrimRight(string(r), " .")
	}
	return stem + ext
}

// reservedDevice reports Windows' device names (CON, NUL, COM1…), which a
// Windows desktop cannot save a file as, whatever the extension.
func reservedDevice(stem string) bool {
	s := strings.ToUpper(stem)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(s) == 4 && (strings.HasPrefix(s, "COM") || strings.HasPrefix(s, "LPT")) && s[3] >= '1' && s[3] <= '9' {
		return true
	}
	return false
}

// extensions are the extensions a type may keep; the first is the one
// given when the name has another.
var extensions = map[string][]string{
	TypePDF:  {".pdf"},
	TypeJPEG: {".jpg", ".jpeg"},
	TypePNG:  {".png"},
}

// withExtension makes the extension of a sanitised name match typ: a
// PNG called "scansione.pdf" becomes "scansione.png". An extension made
// only of digits ("relazione.2026") is taken as part of the name.
func withExtension(name, typ string) string {
	exts := extensions[typ]
	if len(exts) == 0 {
		return name
	}
	stem, ext := splitExt(name)
	if ext != "" && strings.Trim(ext[1:], "0123456789") == "" {
		stem, ext = name, ""
	}
	for _, e := range exts {
		if strings.EqualFold(ext, e) {
			return truncateName(stem, strings.ToLower(ext))
		}
	}
	return truncateName(stem, exts[0])
}
