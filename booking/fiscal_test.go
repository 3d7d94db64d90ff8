package booking

import (
	"fmt"
	"strings"
	"testing"
)

// omocodic replaces the digits at the given 1-based positions of a valid
// codice fiscale with their omocodia letters and recomputes the check
// character, as the Agenzia delle Entrate does for people who would
// otherwise share a code.
func omocodic(t *testing.T, code string, positions ...int) string {
	t.Helper()
	b := []byte(code[:15])
	for _, p := range positions {
		c := b[p-1]
		if !isDigit(c) {
			t.Fatalf("position %d of %s is %q, not a digit", p, code, c)
		}
		b[p-1] = omocodiaLetters[c-'0']
	}
	return string(b) + string(fiscalCheck(string(b)))
}

// testFiscalCode returns a valid codice fiscale different for every n in
// 0..999, for tests that need many citizens.
func testFiscalCode(n int) string {
	s := fmt.Sprintf("RSSMRA85T10A%03d", n)
	return s + string(fiscalCheck(s))
}

func TestValidFiscalCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"valid man", "RSSMRA85T10A562S", true},
		{"valid", "MRARSS80A01H501T", true},
		{"lower case and spaces", "  rssmra85t10a562s \t", true},
		{"omocodic last digit", omocodic(t, "RSSMRA85T10A562S", 15), true},
		{"omocodic all positions", omocodic(t, "RSSMRA85T10A562S", 7, 8, 10, 11, 13, 14, 15), true},
		{"omocodic day", omocodic(t, "MRARSS80A01H501T", 10, 11), true},
		{"woman day 41", "MRARSS80A41H501" + string(fiscalCheck("MRARSS80A41H501")), true},
		{"woman day 71", "MRARSS80A71H501" + string(fiscalCheck("MRARSS80A71H501")), true},
		{"wrong check character", "RSSMRA85T10A562T", false},
		{"template sample", "GLABNC72H25H501Y", false},
		{"empty", "", false},
		{"15 characters", "RSSMRA85T10A562", false},
		{"17 characters", "RSSMRA85T10A562SX", false},
		{"bad month letter F", "RSSMRA85F10A562" + string(fiscalCheck("RSSMRA85F10A562")), false},
		{"day 0", "RSSMRA85T00A562" + string(fiscalCheck("RSSMRA85T00A562")), false},
		{"day 32", "RSSMRA85T32A562" + string(fiscalCheck("RSSMRA85T32A562")), false},
		{"day 72", "RSSMRA85T72A562" + string(fiscalCheck("RSSMRA85T72A562")), false},
		{"digit in surname", "R5SMRA85T10A562" + string(fiscalCheck("R5SMRA85T10A562")), false},
		{"non-omocodia letter in year", "RSSMRA8AT10A562" + string(fiscalCheck("RSSMRA8AT10A562")), false},
		{"digit as place letter", "RSSMRA85T109562" + string(fiscalCheck("RSSMRA85T109562")), false},
		{"digit as check character", "RSSMRA85T10A5621", false},
		{"non-ASCII", "RSSMRÀ85T10A562S", false},
		{"inner space", "RSSMRA85 T10A562S", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ValidFiscalCode(tt.code); got != tt.want {
				t.Errorf("ValidFiscalCode(%q) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestOmocodicVariantsHaveOwnCheck(t *testing.T) {
	t.Parallel()
	base := "RSSMRA85T10A562S"
	seen := map[string]bool{base: true}
	for _, pos := range []int{7, 8, 10, 11, 13, 14, 15} {
		v := omocodic(t, base, pos)
		if seen[v] {
			t.Fatalf("variant at %d repeats %s", pos, v)
		}
		seen[v] = true
		if !ValidFiscalCode(v) {
			t.Errorf("ValidFiscalCode(%s) = false, want true", v)
		}
		// The same variant with the original check character must fail
		// unless the check happens to coincide.
		stale := v[:15] + base[15:]
		if fiscalCheck(v[:15]) != base[15] && ValidFiscalCode(stale) {
			t.Errorf("ValidFiscalCode(%s) with the stale check character = true, want false", stale)
		}
	}
}

func TestFiscalCheckKnownValues(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"RSSMRA85T10A562S", "MRARSS80A01H501T"} {
		if got := fiscalCheck(c[:15]); got != c[15] {
			t.Errorf("fiscalCheck(%s) = %c, want %c", c[:15], got, c[15])
		}
	}
	if got := fiscalCheck("GLABNC72H25H501"); got == 'Y' {
		t.Errorf("fiscalCheck(GLABNC72H25H501) = Y, want anything else")
	}
}

func TestTestFiscalCodesAreDistinctAndValid(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 300 {
		c := testFiscalCode(i)
		if !ValidFiscalCode(c) || seen[c] || strings.ToUpper(c) != c {
			t.Fatalf("testFiscalCode(%d) = %s: valid %v, seen %v", i, c, ValidFiscalCode(c), seen[c])
		}
		seen[c] = true
	}
}
