package planaudit

import (
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// The reviewed list allows a statement by its key and a table's searches
// by the Comune alone, keeps the rest, names what it lists in vain, and
// refuses a line without a reason; a search of a key of the tenant alone
// (one row per Comune) is not wide.
func TestList(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE offices (tenant TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
		CREATE TABLE bookings (tenant TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;
		CREATE TABLE version (tenant TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	src := "package x\n\n" +
		"const offices = `SELECT id FROM offices WHERE tenant = ?`\n\n" +
		"const byEmail = `SELECT id FROM bookings WHERE tenant = ? AND email = ?`\n\n" +
		"const reviewed = `SELECT id FROM bookings WHERE tenant = ? AND email <> ''`\n\n" +
		"const version = `SELECT n FROM version WHERE tenant = ?`\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	found, err := Audit(db, dir)
	if err != nil {
		t.Fatal(err)
	}
	reviewed := Finding{SQL: "SELECT id FROM bookings WHERE tenant = ? AND email <> ''"}.Key()
	list, err := ReadList(strings.NewReader("# comment\n\ntable offices a few rows\n" + reviewed + " a report\n" +
		"0123456789ab gone\ntable services a few rows\n"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, f := range found {
		if strings.Contains(f.SQL, "version") && len(f.Wide) > 0 {
			t.Errorf("a search of the one row of a Comune is wide: %v", f.Wide)
		}
		if len(f.Wide) > 0 && !list.Allows(f) {
			kept = append(kept, f.SQL)
		}
	}
	if want := []string{"SELECT id FROM bookings WHERE tenant = ? AND email = ?"}; !reflect.DeepEqual(kept, want) {
		t.Errorf("not allowed: %q, want %q", kept, want)
	}
	if got, want := list.Stale(found), []string{"0123456789ab", "table services"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stale: %q, want %q", got, want)
	}
	for _, bad := range []string{"0123456789ab\n", "table offices\n", "0123 short key reason\n", "table a x\ntable a y\n"} {
		if _, err := ReadList(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadList(%q) accepted", bad)
		}
	}
}
