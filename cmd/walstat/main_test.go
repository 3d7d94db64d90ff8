package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestAttributesFrames writes to one table and its index in three commits
// through real SQLite, copies the WAL and the database while the
// connection is open, and checks that the frames are counted and go to
// that table and index, none to the table left alone.
func TestAttributesFrames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`PRAGMA wal_autocheckpoint=0`,
		`CREATE TABLE busy (id INTEGER PRIMARY KEY, k TEXT, body TEXT)`,
		`CREATE INDEX busy_k ON busy (k)`,
		`CREATE TABLE idle (id INTEGER PRIMARY KEY, v TEXT)`,
		`INSERT INTO idle (v) VALUES ('x')`,
		`PRAGMA wal_checkpoint(TRUNCATE)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Three commits, enough rows for interior pages in both B-trees.
	for c := range 3 {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for i := range 400 {
			if _, err := tx.Exec(`INSERT INTO busy (k, body) VALUES (?, ?)`, fmt.Sprintf("k%03d-%d", i, c), strings.Repeat("b", 200)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	wal := filepath.Join(dir, "copy.wal")
	copyFile(t, path+"-wal", wal)
	// The database file holds only the schema and idle's row: the B-trees'
	// pages are in the WAL, so they are mapped from a checkpointed copy.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	dbCopy := filepath.Join(dir, "copy.db")
	copyFile(t, path, dbCopy)

	b, err := os.ReadFile(wal)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := readWAL(b)
	if err != nil {
		t.Fatal(err)
	}
	if frames.commits != 3 {
		t.Errorf("%d commits, want 3", frames.commits)
	}
	if frames.pageSize != 4096 {
		t.Errorf("page size %d, want 4096", frames.pageSize)
	}
	owners, err := pageOwners(dbCopy)
	if err != nil {
		t.Fatal(err)
	}
	s := summarize(frames, owners)
	got := map[string]int{}
	for _, e := range s.shares {
		got[e.name] = e.frames
	}
	// 1 200 rows of about 210 bytes: about 65 table pages, and the index.
	if got["busy"] < 60 || got["busy_k"] < 5 {
		t.Errorf("frames by B-tree %v: want at least 60 for busy and 5 for busy_k", got)
	}
	if got["idle"] != 0 {
		t.Errorf("%d frames for idle, which no commit touched", got["idle"])
	}
	if got["(unknown page)"] > s.total/10 {
		t.Errorf("%d of %d frames unknown: the B-tree walk misses pages", got["(unknown page)"], s.total)
	}
	var out strings.Builder
	report(&out, s)
	if !strings.Contains(out.String(), "in 3 commits") || !strings.Contains(out.String(), "  busy\n") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestRefusesWhatIsNotAWAL(t *testing.T) {
	t.Parallel()
	if _, err := readWAL([]byte(strings.Repeat("x", 64))); err == nil {
		t.Error("readWAL of text: got nil error")
	}
	if _, err := readWAL(nil); err == nil {
		t.Error("readWAL of nothing: got nil error")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
