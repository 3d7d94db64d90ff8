package docs

import (
	"bytes"
	"net/http"
)

// Signatures of the accepted types, at the very start of the file.
var (
	sigPDF  = []byte("%PDF-")
	sigPNG  = []byte("\x89PNG\r\n\x1a\n")
	sigJPEG = []byte{0xFF, 0xD8, 0xFF}
)

// magicType names the type whose signature b starts with, or "". It is
// the check apply repeats on the first chunk, so it reads only bytes.
func magicType(b []byte) string {
	switch {
	case bytes.HasPrefix(b, sigPDF):
		return TypePDF
	case bytes.HasPrefix(b, sigPNG):
		return TypePNG
	case bytes.HasPrefix(b, sigJPEG):
		return TypeJPEG
	}
	return ""
}

// sniff returns the content type of a file from its bytes, or "" when it
// is none of the accepted ones. The signature decides; the standard
// library's sniffer (the WHATWG algorithm the browsers use) must agree, so
// that a file a browser would take for something else (an HTML page that
// happens to start like a JPEG cannot, but a future signature might) is
// refused rather than trusted. Neither the name nor the Content-Type
// header the client sent is ever consulted.
func sniff(b []byte) string {
	typ := magicType(b)
	if typ == "" {
		return ""
	}
	if http.DetectContentType(b[:min(len(b), 512)]) != typ {
		return ""
	}
	return typ
}

// allowed reports whether typ is in the policy's list.
func allowed(typ string, types []string) bool {
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}
