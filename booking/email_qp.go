package booking

// appendQuotedPrintable appends s encoded as mime/quotedprintable's Writer
// (not Binary) encodes it, then closed: lines of at most 76 characters
// with soft breaks ("=" CRLF), line ends as CRLF, "=" and bytes outside
// printable ASCII as "=XX", a space or tab before a line end (or at the
// end) encoded. The Writer passes every byte through two loops and writes
// each line to the part on its own; the email's text and HTML parts went
// through it at a fifth of the cost of composing an email. This does the
// same in one pass into one buffer (TestQuotedPrintableMatchesMime,
// FuzzQuotedPrintable).
func appendQuotedPrintable(dst []byte, s string) []byte {
	const (
		maxLine  = 76
		upperhex = "0123456789ABCDEF"
	)
	col := 0    // characters on the current line
	cr := false // the last line end written was a CR, so an LF right after it is part of it
	softBreak := func() {
		dst = append(dst, '=', '\r', '\n')
		col = 0
	}
	encode := func(b byte) {
		if maxLine-1-col < 3 {
			softBreak()
		}
		dst = append(dst, '=', upperhex[b>>4], upperhex[b&0x0f])
		col += 3
	}
	// encodeTrailingBlank encodes a space or tab that ends the line.
	encodeTrailingBlank := func() {
		if col == 0 {
			return
		}
		if b := dst[len(dst)-1]; b == ' ' || b == '\t' {
			dst = dst[:len(dst)-1]
			col--
			encode(b)
		}
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b == '\n' || b == '\r':
			if cr && b == '\n' {
				cr = false
				continue
			}
			cr = b == '\r'
			encodeTrailingBlank()
			dst = append(dst, '\r', '\n')
			col = 0
		case b >= '!' && b <= '~' && b != '=' || b == ' ' || b == '\t':
			if col == maxLine-1 {
				softBreak()
			}
			dst = append(dst, b)
			col++
			cr = false
		default:
			// Encoded bytes leave cr as it is, as the Writer does.
			encode(b)
		}
	}
	encodeTrailingBlank()
	return dst
}
