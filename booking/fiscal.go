package booking

import "strings"

// monthLetters are the letters that encode the month of birth in a codice
// fiscale, January to December.
const monthLetters = "ABCDEHLMPRST"

// omocodiaLetters replace the digits 0–9 when two people would otherwise
// share a codice fiscale (omocodia).
const omocodiaLetters = "LMNPQRSTUV"

// fiscalOddValues is the value of the characters at even 0-based indexes
// (odd 1-based positions) in the check-character sum, for 0–9 and A–Z.
var fiscalOddValues = [36]int{
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0–9
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // A–J
	2, 4, 18, 20, 11, 3, 6, 8, 12, 14, // K–T
	16, 10, 22, 25, 24, 23, // U–Z
}

// NormalizeFiscalCode returns s without surrounding spaces and in upper
// case, the form a codice fiscale is stored and compared in.
func NormalizeFiscalCode(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// ValidFiscalCode reports whether s is a well-formed codice fiscale of a
// person: sixteen characters with the structure surname, name, year, month
// letter, day (plus 40 for women), place code, check character; digits of
// year, day and place may be replaced by the omocodia letters. Lower case
// and surrounding spaces are accepted. It validates only: nothing is ever
// derived from the citizen's name or birth data.
func ValidFiscalCode(s string) bool {
	s = NormalizeFiscalCode(s)
	if len(s) != 16 {
		return false
	}
	for i := 0; i < 16; i++ {
		c := s[i]
		switch i {
		case 6, 7, 9, 10, 12, 13, 14:
			if !isDigit(c) && strings.IndexByte(omocodiaLetters, c) < 0 {
				return false
			}
		case 8:
			if strings.IndexByte(monthLetters, c) < 0 {
				return false
			}
		default: // 0–5, 11, 15
			if !isUpper(c) {
				return false
			}
		}
	}
	day := fiscalDigit(s[9])*10 + fiscalDigit(s[10])
	if !(day >= 1 && day <= 31) && !(day >= 41 && day <= 71) {
		return false
	}
	return fiscalCheck(s[:15]) == s[15]
}

// fiscalCheck returns the check character of the first fifteen characters
// of a codice fiscale, which must be digits or upper-case letters.
func fiscalCheck(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		n := int(c - 'A')
		if isDigit(c) {
			n = int(c - '0')
		}
		if i%2 == 0 {
			if isDigit(c) {
				sum += fiscalOddValues[n]
			} else {
				sum += fiscalOddValues[10+n]
			}
		} else {
			sum += n
		}
	}
	return byte('A' + sum%26)
}

// fiscalDigit returns the value of a digit or of an omocodia letter.
func fiscalDigit(c byte) int {
	if isDigit(c) {
		return int(c - '0')
	}
	return strings.IndexByte(omocodiaLetters, c)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
