package lincheck

import "math/rand/v2"

// oddValues is the check-character value of 0–9 and then A–Z at odd
// (1-based) positions of a codice fiscale, per the Ministry of Finance
// decree of 1976; at even positions a character is worth its index (0–9,
// A=0 ... Z=25).
var oddValues = [36]int{
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
}

// fakeFiscalCode returns a well-formed, made-up codice fiscale drawn from
// rnd: random letters, a birth date and a place code, and the right check
// character. It names nobody on purpose only by chance.
func fakeFiscalCode(rnd *rand.Rand) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	const months = "ABCDEHLMPRST"
	b := make([]byte, 0, 16)
	for range 6 {
		b = append(b, letters[rnd.IntN(26)])
	}
	year := rnd.IntN(100)
	day := 1 + rnd.IntN(28)
	if rnd.IntN(2) == 0 {
		day += 40
	}
	place := rnd.IntN(1000)
	b = append(b, byte('0'+year/10), byte('0'+year%10), months[rnd.IntN(12)],
		byte('0'+day/10), byte('0'+day%10), letters[rnd.IntN(26)],
		byte('0'+place/100), byte('0'+place/10%10), byte('0'+place%10))
	return string(append(b, checkChar(b)))
}

// checkChar returns the check character of the first fifteen characters
// of a codice fiscale (digits and upper-case letters).
func checkChar(s []byte) byte {
	sum := 0
	for i, c := range s[:15] {
		n := int(c - '0')
		if c >= 'A' {
			n = 10 + int(c-'A')
		}
		if i%2 == 0 {
			sum += oddValues[n]
		} else if c >= 'A' {
			sum += int(c - 'A')
		} else {
			sum += int(c - '0')
		}
	}
	return byte('A' + sum%26)
}
