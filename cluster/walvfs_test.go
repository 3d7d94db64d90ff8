package cluster

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// walTestRows is how many rows of walTestRowSize bytes each transaction
// of the tests writes: about one page each, hundreds of frames a commit.
const (
	walTestRows    = 300
	walTestRowSize = 3000
)

// openWALTestDBs opens, in a new folder, the FSM's connection (through
// walVFS) and a read-only pool, and creates a table of blobs.
func openWALTestDBs(t *testing.T) (dir string, w, r *sql.DB) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, stateFile)
	w, err := openWriteDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	// No checkpoint by the writer: the frames stay in the WAL, where the
	// tests read them.
	if _, err := w.Exec(`PRAGMA wal_autocheckpoint=0; CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	r, err = openReadDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return dir, w, r
}

// insertBlobs inserts walTestRows rows of random bytes, with IDs from
// first, in one transaction.
func insertBlobs(t *testing.T, w *sql.DB, first int) {
	t.Helper()
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	addBlobs(t, tx, first, false)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// addBlobs inserts walTestRows rows of random bytes, with IDs from first,
// in tx; with rewrite, it also shrinks one of its earlier rows after every
// 50, so that the transaction writes some of its pages twice.
func addBlobs(t *testing.T, tx *sql.Tx, first int, rewrite bool) {
	t.Helper()
	for i := range walTestRows {
		b := make([]byte, walTestRowSize)
		rand.Read(b)
		if _, err := tx.Exec(`INSERT INTO blobs (id, b) VALUES (?, ?)`, first+i, b); err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		if rewrite && i%50 == 49 {
			if _, err := tx.Exec(`UPDATE blobs SET b = zeroblob(100) WHERE id = ?`, first+i-25); err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
		}
	}
}

// blobsDigest returns the number of rows of blobs and their content in
// id order, as db reads them.
func blobsDigest(t *testing.T, db *sql.DB) (int, []byte) {
	t.Helper()
	rows, err := db.Query(`SELECT id, b FROM blobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all bytes.Buffer
	n := 0
	for rows.Next() {
		var id int
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&all, "%d:", id)
		all.Write(b)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n, all.Bytes()
}

// writeCalls returns how many write system calls this process has made
// (syscw of /proc/self/io).
func writeCalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no write counts on this system: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscw in /proc/self/io")
	return 0
}

// TestWALVFSWritesACommitInFewCalls: the FSM's connection writes a
// commit of hundreds of frames in a few system calls (two per frame
// without walVFS), and another connection reads every row as soon as the
// commit returns.
func TestWALVFSWritesACommitInFewCalls(t *testing.T) {
	dir, w, r := openWALTestDBs(t)
	wal := filepath.Join(dir, stateFile+"-wal")
	walBefore := fileSize(t, wal)
	callsBefore := writeCalls(t)
	insertBlobs(t, w, 0)
	calls := writeCalls(t) - callsBefore
	frames := (fileSize(t, wal) - walBefore) / (4096 + 24)
	if frames < walTestRows {
		t.Fatalf("the commit wrote %d frames to the WAL, want at least %d", frames, walTestRows)
	}
	// 124 KiB a call: about 30 frames; the rest of the process may write
	// a little meanwhile.
	if limit := int(frames)/10 + 10; calls > limit {
		t.Errorf("a commit of %d frames took %d write calls, want at most %d (without walVFS: %d)", frames, calls, limit, 2*frames)
	}
	n, _ := blobsDigest(t, r)
	if n != walTestRows {
		t.Errorf("another connection reads %d rows after the commit, want %d", n, walTestRows)
	}
}

// TestWALVFSFramesRecover: the frames walVFS wrote are the frames SQLite
// would have written. A copy of the database and its WAL, taken while the
// connection is open, opened with SQLite's own VFS (which recovers the WAL
// from its frames and their checksums), holds every committed row; that
// includes a transaction larger than the writer's page cache, whose pages
// SQLite writes to the WAL before the commit and reads back, and commits
// after the checkpointer restarted the WAL.
func TestWALVFSFramesRecover(t *testing.T) {
	dir, w, r := openWALTestDBs(t)
	insertBlobs(t, w, 0)
	// A cache of 20 pages: the next transaction spills its pages into
	// the WAL before its commit, then changes some of them again.
	if _, err := w.Exec(`PRAGMA cache_size=20`); err != nil {
		t.Fatal(err)
	}
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	// Reads its own spilled pages, and writes some again.
	addBlobs(t, tx, walTestRows, true)
	var inTx int
	if err := tx.QueryRow(`SELECT count(*) FROM blobs`).Scan(&inTx); err != nil {
		t.Fatal(err)
	}
	if n, _ := blobsDigest(t, r); n != walTestRows {
		t.Errorf("another connection reads %d rows during the transaction, want the %d committed", n, walTestRows)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if inTx != 2*walTestRows {
		t.Errorf("the transaction read %d of its rows, want %d", inTx, 2*walTestRows)
	}
	// The checkpointer copies the WAL and restarts it; the next commits
	// write it from its start again.
	ck, err := openCheckpointDB(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var busy, logFrames, done int
	if err := ck.QueryRow(`PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatal("the checkpoint could not restart the WAL")
	}
	insertBlobs(t, w, 2*walTestRows)
	insertBlobs(t, w, 3*walTestRows)
	wantN, want := blobsDigest(t, r)
	if wantN != 4*walTestRows {
		t.Fatalf("another connection reads %d rows, want %d", wantN, 4*walTestRows)
	}

	cp := t.TempDir()
	for _, name := range []string{stateFile, stateFile + "-wal"} {
		copyFile(t, filepath.Join(dir, name), filepath.Join(cp, name))
	}
	plain, err := sql.Open("sqlite3", "file:"+filepath.Join(cp, stateFile)+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var check string
	if err := plain.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Errorf("the copy's integrity check: %s", check)
	}
	gotN, got := blobsDigest(t, plain)
	if gotN != wantN || !bytes.Equal(got, want) {
		t.Errorf("the copy recovered from the WAL holds %d rows (content equal: %v), want the %d committed", gotN, bytes.Equal(got, want), wantN)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
