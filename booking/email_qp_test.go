package booking

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func stdQuotedPrintable(t testing.TB, s string) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestQuotedPrintableMatchesMime: the encoder gives mime/quotedprintable's
// bytes, on the composed emails' parts and on the awkward cases: long
// lines, blanks before line ends, CR, LF and CRLF, "=", non-ASCII text.
func TestQuotedPrintableMatchesMime(t *testing.T) {
	t.Parallel()
	cases := []string{
		"", " ", "\t", "a \n", "a\t\r\nb", "a\rb\nc\r\n\r\n", "\r\n", "\r\r\n\n", "=", "==\n=",
		strings.Repeat("x", 75), strings.Repeat("x", 76), strings.Repeat("x", 77), strings.Repeat("x", 300),
		strings.Repeat("é", 40), strings.Repeat("ab ", 60) + "\n", strings.Repeat("y", 74) + " \nz",
		strings.Repeat("y", 73) + "==", "\r\xc3\n", "\xff\x00\x7f~!", "trailing blank ",
	}
	for _, kind := range []NoticeKind{NoticeConfirm, NoticeMove, NoticeCancel} {
		n := testNotice(kind, Video)
		v := newEmailView(n, n.location())
		var html bytes.Buffer
		writeEmailHTML(&html, v)
		cases = append(cases, emailText(v), html.String())
	}
	for _, s := range cases {
		if got, want := appendQuotedPrintable(nil, s), stdQuotedPrintable(t, s); !bytes.Equal(got, want) {
			t.Errorf("%q:\ngot  %q\nwant %q", s, got, want)
		}
	}
}

func FuzzQuotedPrintable(f *testing.F) {
	f.Add("Gentile Maria,\r\nla prenotazione è confermata.  \n=")
	f.Add(strings.Repeat("a", 74) + "\r\xe2\x82\xac\n")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendQuotedPrintable(nil, s), stdQuotedPrintable(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\ngot  %q\nwant %q", s, got, want)
		}
	})
}

// TestBase64LinesAsBefore: the attachment's lines are those of the whole
// encoding cut every 76 characters, for every length around the cuts.
func TestBase64LinesAsBefore(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("Sportello\x00\xff"), 40)
	for n := 0; n <= len(data); n++ {
		enc := base64.StdEncoding.EncodeToString(data[:n])
		var want strings.Builder
		for len(enc) > 76 {
			want.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		want.WriteString(enc + "\r\n")
		var got bytes.Buffer
		writeBase64Lines(&got, data[:n])
		if got.String() != want.String() {
			t.Fatalf("%d bytes:\ngot  %q\nwant %q", n, got.String(), want.String())
		}
	}
}
