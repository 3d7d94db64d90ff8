package cluster

import (
	"database/sql"
	"math/rand/v2"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestInstrAnyMatchesInstrLower: sportello_instr_any gives the answer of
// instr(lower(CAST(h AS TEXT)), lower(n)) > 0 for any of its needles, on
// random values built from bytes where the two could differ: ASCII
// letters of both cases, a two-byte UTF-8 letter, a stray continuation
// byte, NUL and punctuation; haystacks stored as blobs and as texts. The
// erasure relies on it to delete the rows that older nodes' statements
// delete (instrany.go).
func TestInstrAnyMatchesInstrLower(t *testing.T) {
	if err := registerInstrAny(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	alphabet := []byte{'a', 'A', 'b', 'B', 'z', 'Z', '@', '.', 0, 0xc3, 0xa9, 0x80, 0xc9}
	r := rand.New(rand.NewPCG(1, 2))
	word := func(max int) []byte {
		w := make([]byte, r.IntN(max+1))
		for i := range w {
			w[i] = alphabet[r.IntN(len(alphabet))]
		}
		return w
	}
	// A haystack longer than the function's buffer on the stack, with a
	// needle at its end, and one without.
	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'x'
	}
	copy(long[len(long)-6:], "MARIA@")
	hits, total := 0, 0
	check := func(h any, needles ...string) {
		t.Helper()
		want := false
		for _, n := range needles {
			var in int
			if err := db.QueryRow(`SELECT coalesce(instr(lower(CAST(? AS TEXT)), lower(?)) > 0, 0)`, h, n).Scan(&in); err != nil {
				t.Fatal(err)
			}
			want = want || in == 1
		}
		args := []any{h}
		q := `SELECT ` + InstrAnyFunc + `(?`
		for _, n := range needles {
			args = append(args, n)
			q += `, ?`
		}
		var got bool
		if err := db.QueryRow(q+`)`, args...).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s(%q, %q) = %v, instr(lower()) says %v", InstrAnyFunc, h, needles, got, want)
		}
		total++
		if got {
			hits++
		}
	}
	check(long, "maria@")
	check(string(long), "xmaria@", "zz")
	check(long, "maria@x")
	check(nil, "a")
	for range 20000 {
		h := word(24)
		needles := make([]string, 1+r.IntN(3))
		for i := range needles {
			needles[i] = string(word(3))
		}
		if r.IntN(2) == 0 {
			check(h, needles...)
		} else {
			check(string(h), needles...)
		}
	}
	if hits < total/10 || hits > total*9/10 {
		t.Fatalf("%d matches in %d checks: the cases do not test both answers", hits, total)
	}
}
