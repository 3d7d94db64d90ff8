package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/sportello-virtuale/sportello/internal/planaudit"
)

// planaudit lists a statement that reads a whole Comune and one that
// scans a table, found through constants and concatenations, and not the
// ones an index answers or that are not SQL; tests are not read.
func TestListsWideReads(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "state.db")
	db, err := sql.Open("sqlite3", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (tenant TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, note TEXT NOT NULL,
		PRIMARY KEY (tenant, id)) WITHOUT ROWID;
		CREATE INDEX t_name ON t (tenant, name, note) WHERE name <> ''`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	src := "package x\n\n" +
		"const cols = `id, note`\n\n" +
		"const byName = `SELECT ` + cols + ` FROM t WHERE tenant = ? AND name = ? AND name <> ''`\n\n" +
		"const partialMissed = `SELECT ` + cols + ` FROM t WHERE tenant = ? AND name = ?`\n\n" +
		"func f() string {\n\treturn \"SELECT id FROM t\" + \" WHERE note = ?\"\n}\n\n" +
		"const schema = `SELECT name FROM sqlite_master WHERE type = 'table'`\n\n" +
		"const notSQL = `selection of offices`\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	test := "package x\n\nconst inTest = `SELECT id FROM t WHERE note = 'x'`\n"
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	n, _, err := run(&out, dbPath, dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"x.go:7 [" + key("SELECT id, note FROM t WHERE tenant = ? AND name = ?") + "]\n  SELECT id, note FROM t WHERE tenant = ? AND name = ?\n",
		"x.go:10 [" + key("SELECT id FROM t WHERE note = ?") + "]\n  SELECT id FROM t WHERE note = ?\n    SCAN t\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n != 2 || strings.Contains(got, "name <> ''") || strings.Contains(got, "'x'") {
		t.Errorf("listed %d statements, want the two wide ones only:\n%s", n, got)
	}
}

func key(sql string) string { return planaudit.Finding{SQL: sql}.Key() }
