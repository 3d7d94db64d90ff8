package docs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("è", 150) + ".pdf"
	tests := []struct{ in, want string }{
		{"modulo.pdf", "modulo.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\x.pdf`, "x.pdf"},
		{`C:\Users\mario\Desktop\domanda.pdf`, "domanda.pdf"},
		{"..", "documento.pdf"},
		{"../..", "documento.pdf"},
		{"", "documento.pdf"},
		{"   ", "documento.pdf"},
		{".pdf", "pdf"},
		{".bashrc", "bashrc"},
		{"a\x00b.pdf", "ab.pdf"},
		{"fattura\x00.exe", "fattura.exe"},
		{"riepilogo\u202efdp.exe", "riepilogofdp.exe"},
		{"zero\u200bwidth.pdf", "zerowidth.pdf"},
		{"a\tb\nc.pdf", "a b c.pdf"},
		{"perche\u0301.pdf", "perché.pdf"},
		{`a<b>c:d"e|f?g*h.pdf`, "a_b_c_d_e_f_g_h.pdf"},
		{"nome;filename=x.pdf", "nome_filename_x.pdf"},
		{"CON.pdf", "_CON.pdf"},
		{"lpt1", "_lpt1"},
		{"documento finale .pdf", "documento finale.pdf"},
		{"trailing dots...", "trailing dots"},
		{"\xff\xfe.pdf", "documento.pdf"},
		{"Ñandú (copia) [2].jpeg", "Ñandú (copia) [2].jpeg"},
	}
	for _, tc := range tests {
		if got := SanitizeName(tc.in); got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	got := SanitizeName(long)
	if utf8.RuneCountInString(got) != maxName || !strings.HasSuffix(got, ".pdf") {
		t.Errorf("long name: %d characters %q, want %d ending in .pdf", utf8.RuneCountInString(got), got, maxName)
	}
}

func TestWithExtension(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, typ, want string }{
		{"a.pdf", TypePDF, "a.pdf"},
		{"a.PDF", TypePDF, "a.pdf"},
		{"a.pdf", TypePNG, "a.png"},
		{"a.jpeg", TypeJPEG, "a.jpeg"},
		{"a.png", TypeJPEG, "a.jpg"},
		{"a", TypePDF, "a.pdf"},
		{"passwd", TypePDF, "passwd.pdf"},
		{"relazione.2026", TypePDF, "relazione.2026.pdf"},
		{"documento.pdf", TypePNG, "documento.png"},
		{strings.Repeat("x", 99) + ".pdf", TypePNG, strings.Repeat("x", 96) + ".png"},
		{strings.Repeat("x", 100), TypePDF, strings.Repeat("x", 96) + ".pdf"},
	}
	for _, tc := range tests {
		if got := withExtension(tc.name, tc.typ); got != tc.want {
			t.Errorf("withExtension(%q, %s) = %q, want %q", tc.name, tc.typ, got, tc.want)
		}
	}
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"PDF", []byte("%PDF-1.4\n"), TypePDF},
		{"PNG", png(20), TypePNG},
		{"JPEG", []byte{0xFF, 0xD8, 0xFF, 0xDB, 0, 0}, TypeJPEG},
		{"text", []byte("hello"), ""},
		{"HTML", []byte("<!DOCTYPE html><p>%PDF-"), ""},
		{"GIF", []byte("GIF89a......"), ""},
		{"ZIP", []byte("PK\x03\x04......"), ""},
		{"short", []byte("%PD"), ""},
	}
	for _, tc := range tests {
		if got := sniff(tc.body); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"modulo.pdf", `attachment; filename="modulo.pdf"; filename*=UTF-8''modulo.pdf`},
		{"l'atto (1).pdf", `attachment; filename="l'atto (1).pdf"; filename*=UTF-8''l%27atto%20%281%29.pdf`},
		{"città.png", `attachment; filename="citt_.png"; filename*=UTF-8''citt%C3%A0.png`},
	}
	for _, tc := range tests {
		if got := contentDisposition(tc.name); got != tc.want {
			t.Errorf("contentDisposition(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}
