package cluster

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// File names inside Config.Dir.
const (
	stateFile    = "state.db"
	raftFile     = "raft.db"
	snapshotsDir = "snapshots"
)

// bookkeepingSQL creates the FSM's own tables. They exist before the first
// entry is applied on every node, so creating them outside the log is
// deterministic. cluster_state holds the index of the last entry applied
// (written in the same transaction as the entries); cluster_schema holds
// each component's schema version.
const bookkeepingSQL = `
CREATE TABLE IF NOT EXISTS cluster_state (
	id            INTEGER PRIMARY KEY CHECK (id = 1),
	applied_index INTEGER NOT NULL
);
INSERT OR IGNORE INTO cluster_state (id, applied_index) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS cluster_schema (
	component TEXT PRIMARY KEY,
	version   INTEGER NOT NULL
);`

// stmtCacheSize is how many prepared statements each SQLite connection
// keeps for reuse (mattn/go-sqlite3's _stmt_cache_size). Without it every
// query is compiled again at each call: under load, preparing the same
// dozen statements was a quarter of the node's CPU and the largest part of
// each command's apply time, which the single FSM goroutine serialises.
// Statements are keyed by their SQL text; the apply functions and the
// reads use a few dozen distinct ones.
const stmtCacheSize = "64"

// sqliteDSN builds a mattn/go-sqlite3 URI for path with the given query.
func sqliteDSN(path, query string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + query
}

// Every connection is opened with _mutex=no (SQLite's multi-thread mode,
// SQLITE_OPEN_NOMUTEX): database/sql never uses one connection, or a
// statement of it, from two goroutines at once, so SQLite's own mutex on
// every call only cost time: with it, pthread_mutex_lock and unlock were
// about 5% of a node's CPU under load (perf), about 4% of a booking's.
//
// openWriteDB opens the FSM's single read-write connection in WAL mode.
// synchronous=NORMAL is enough: a commit lost to a power cut is replayed
// from the Raft log, which is fsynced, and WAL keeps the file consistent.
// secure_delete=on makes SQLite overwrite deleted content with zeros, so
// an erasure (package privacy) leaves no bytes of the erased rows in the
// free pages of the file or in the pages the WAL carries.
//
// temp_store=MEMORY keeps SQLite's temporary data on the heap. Each
// command runs in a SAVEPOINT whose undo copy of the pages it changes
// (the statement journal) passes SQLite's 64 KiB in-memory limit for a
// booking, and with the default setting goes to a temporary file in
// /var/tmp: about 40 writes per booking, as much CPU as all of its
// reads, and copies of citizens' data outside the data folder, where no
// erasure reaches them. The undo copy is bounded by the pages one
// command changes. The pragma is set by a connect hook, so a connection
// that database/sql reopens gets it too.
//
// Its WAL frames are written by walVFS, one system call per commit
// (walvfs.go).
func openWriteDB(path string) (*sql.DB, error) {
	if err := registerWALVFS(); err != nil {
		return nil, err
	}
	if err := registerInstrAny(); err != nil {
		return nil, err
	}
	db := sql.OpenDB(hookConnector{
		dsn: sqliteDSN(path,
			"vfs="+walVFS+"&_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=on&_secure_delete=on&_mutex=no&_stmt_cache_size="+stmtCacheSize),
		driver: &sqlite3.SQLiteDriver{ConnectHook: writeConnHook},
	})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(bookkeepingSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster: prepare %s: %w", path, err)
	}
	return db, nil
}

// memoryTempStore keeps a connection's temporary data in memory.
func memoryTempStore(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store=MEMORY", nil)
	return err
}

// writeConnHook is memoryTempStore for the FSM's connection, which also
// leaves the checkpoints to the checkpointer (checkpoint.go) but for a
// backstop.
func writeConnHook(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint="+strconv.Itoa(checkpointBackstop), nil)
	return err
}

// openCheckpointDB opens the checkpointer's connection: read-write (a
// checkpoint writes the database file), with the FSM's settings, and it
// never writes a row.
func openCheckpointDB(path string) (*sql.DB, error) {
	db := sql.OpenDB(hookConnector{
		dsn: sqliteDSN(path,
			"_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_secure_delete=on&_mutex=no"),
		driver: &sqlite3.SQLiteDriver{ConnectHook: memoryTempStore},
	})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster: open %s for checkpoints: %w", path, err)
	}
	return db, nil
}

// hookConnector opens connections with a driver that has a connect hook,
// without registering a driver name process-wide.
type hookConnector struct {
	dsn    string
	driver *sqlite3.SQLiteDriver
}

func (c hookConnector) Connect(context.Context) (driver.Conn, error) { return c.driver.Open(c.dsn) }
func (c hookConnector) Driver() driver.Driver                        { return c.driver }

// openReadDB opens the read-only pool handed out by Node.DB. query_only
// makes any write through it fail, so no package can bypass the log.
func openReadDB(path string) (*sql.DB, error) {
	// Sorts and temporary tables of reads stay in memory too: they hold
	// rows of citizens' data.
	db := sql.OpenDB(hookConnector{
		dsn: sqliteDSN(path,
			"mode=ro&_query_only=on&_busy_timeout=10000&_foreign_keys=on&_mutex=no&_stmt_cache_size="+stmtCacheSize),
		driver: &sqlite3.SQLiteDriver{ConnectHook: memoryTempStore},
	})
	n := max(4, 2*runtime.NumCPU())
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster: open %s read-only: %w", path, err)
	}
	return db, nil
}

// readAppliedIndex returns the index stored in cluster_state.
func readAppliedIndex(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (uint64, error) {
	var idx int64
	if err := q.QueryRowContext(ctx, `SELECT applied_index FROM cluster_state WHERE id = 1`).Scan(&idx); err != nil {
		return 0, fmt.Errorf("cluster: read applied index: %w", err)
	}
	return uint64(idx), nil
}

// AppliedIn returns the index of the last entry whose effects q sees: read
// inside a read transaction, it is the index of exactly that
// transaction's state. AppliedIndex may lag it for a moment (the FSM
// commits a batch, then raises the index), so a reader that labels what
// it read with an index takes it from here.
func AppliedIn(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (uint64, error) {
	return readAppliedIndex(ctx, q)
}

// readSchema returns every component's stored schema version.
func readSchema(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT component, version FROM cluster_schema`)
	if err != nil {
		return nil, fmt.Errorf("cluster: read schema versions: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var c string
		var v int
		if err := rows.Scan(&c, &v); err != nil {
			return nil, fmt.Errorf("cluster: read schema versions: %w", err)
		}
		out[c] = v
	}
	return out, rows.Err()
}

// environmental reports whether err comes from the machine rather than
// from the command: a full disk, an I/O error, corruption. Such an error
// would make this node's state differ from the others', so the FSM panics
// (the node stops and replays from the log once fixed) instead of handing
// it to the proposer as a domain error.
func environmental(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrIoErr, sqlite3.ErrFull, sqlite3.ErrCorrupt, sqlite3.ErrNomem,
		sqlite3.ErrCantOpen, sqlite3.ErrNotADB, sqlite3.ErrBusy, sqlite3.ErrLocked,
		sqlite3.ErrReadonly:
		return true
	}
	return false
}

// Dump writes the schema and every row of every table of db in a stable
// text form: tables by name, rows by rowid (or by all columns for WITHOUT
// ROWID tables), values typed. Two replicas at the same applied index give
// identical dumps; tests compare them and operators can diff nodes.
// db may be a *sql.Tx, for a dump of one point in time.
func Dump(ctx context.Context, db Queryer, w io.Writer) error {
	type object struct{ typ, name, sql string }
	rows, err := db.QueryContext(ctx, `SELECT type, name, COALESCE(sql, '') FROM sqlite_master
		WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
	if err != nil {
		return fmt.Errorf("cluster: dump schema: %w", err)
	}
	var objs []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			rows.Close()
			return fmt.Errorf("cluster: dump schema: %w", err)
		}
		objs = append(objs, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cluster: dump schema: %w", err)
	}
	for _, o := range objs {
		fmt.Fprintf(w, "%s %s: %s\n", o.typ, o.name, o.sql)
	}
	for _, o := range objs {
		if o.typ != "table" {
			continue
		}
		if err := dumpTable(ctx, db, w, o.name, strings.Contains(strings.ToUpper(o.sql), "WITHOUT ROWID")); err != nil {
			return err
		}
	}
	return nil
}

// dumpTable writes one table's rows, each prefixed by its rowid when it has one.
func dumpTable(ctx context.Context, db Queryer, w io.Writer, name string, withoutRowid bool) error {
	quoted := `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
	q := `SELECT rowid AS "rowid", * FROM ` + quoted + ` ORDER BY rowid`
	if withoutRowid {
		q = `SELECT * FROM ` + quoted
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("cluster: dump %s: %w", name, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return fmt.Errorf("cluster: dump %s: %w", name, err)
	}
	var lines []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("cluster: dump %s: %w", name, err)
		}
		var b strings.Builder
		b.WriteString(name)
		for i, v := range vals {
			b.WriteString(" ")
			b.WriteString(cols[i])
			b.WriteString("=")
			b.WriteString(formatValue(v))
		}
		lines = append(lines, b.String())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cluster: dump %s: %w", name, err)
	}
	if withoutRowid {
		// The primary key orders the table, but sorting the formatted rows
		// needs no knowledge of it and gives the same stable order.
		slices.Sort(lines)
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// formatValue prints a scanned SQLite value with its storage class.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return "r:" + strconv.FormatFloat(x, 'g', -1, 64)
	case []byte:
		return fmt.Sprintf("x'%x'", x)
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprintf("%T:%v", x, x)
	}
}

// Queryer is what Dump reads through: a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Digest is the SHA-256 of this node's Dump, taken in one read transaction
// together with the applied index it describes. Two nodes with the same
// index and different sums have diverged; operators and the end-to-end
// tests compare them (admin socket GET /v1/digest).
func (n *Node) Digest(ctx context.Context) (index uint64, sum string, err error) {
	tx, err := n.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, "", fmt.Errorf("cluster: digest: %w", err)
	}
	defer tx.Rollback()
	var idx int64
	if err := tx.QueryRowContext(ctx, `SELECT applied_index FROM cluster_state WHERE id = 1`).Scan(&idx); err != nil {
		return 0, "", fmt.Errorf("cluster: digest: applied index: %w", err)
	}
	h := sha256.New()
	if err := Dump(ctx, tx, h); err != nil {
		return 0, "", err
	}
	return uint64(idx), hex.EncodeToString(h.Sum(nil)), nil
}
