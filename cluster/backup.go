package cluster

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// A backup file is an uncompressed tar archive with exactly three members,
// in this order:
//
//	manifest.json  the BackupInfo below (format, node, applied index, sha256 of the database...)
//	state.db       a copy of the node's SQLite state in rollback-journal mode
//	SHA256SUMS     the SHA-256 of the two, in sha256sum's format
//
// The manifest comes first so that a reader knows the database's size and
// checksum before reading it; SHA256SUMS also covers the manifest, so that
// damage to the fields nothing else checks (node, time, term) is found
// too. An operator can inspect a backup with `tar xf FILE`, check it with
// `sha256sum -c SHA256SUMS` and open state.db with the sqlite3 shell.
const (
	// BackupFormat is the manifest's "format" value.
	BackupFormat = "sportello-backup"
	// BackupFormatVersion is the only format version this binary writes
	// and reads.
	BackupFormatVersion = 1

	backupManifestName = "manifest.json"
	backupStateName    = stateFile
	backupSumsName     = "SHA256SUMS"
	maxManifestSize    = 1 << 20
)

var (
	// ErrBadBackup means a backup file is damaged or is not a Sportello
	// backup: a checksum, a size, the archive or the database does not
	// match. Restore writes nothing when it returns it.
	ErrBadBackup = errors.New("not a valid Sportello backup")
	// ErrUnsupportedBackup means the backup's format version is one this
	// binary does not read (typically a file from a newer release).
	ErrUnsupportedBackup = errors.New("unsupported backup format version")
	// ErrDataDirNotEmpty means Restore was asked to seed a directory that
	// already holds files.
	ErrDataDirNotEmpty = errors.New("data dir is not empty")
)

// BackupInfo is a backup's manifest.
type BackupInfo struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	// NodeID is the node the backup was taken from, and Leader whether it
	// led at the time.
	NodeID string `json:"node_id"`
	Leader bool   `json:"leader"`
	// AppliedIndex is the index of the last log entry the copy contains:
	// the backup holds exactly the commands up to it.
	AppliedIndex uint64 `json:"applied_index"`
	// RaftTerm is the node's raft term when the copy was taken (0 if
	// unknown). A restored cluster starts its terms again from 1.
	RaftTerm uint64 `json:"raft_term,omitempty"`
	// Schema is each component's schema version in the copy.
	Schema map[string]int `json:"schema"`
	// Created is when the copy was taken (the node's clock, UTC).
	Created time.Time `json:"created"`
	// DatabaseSize and DatabaseSHA256 describe the state.db member.
	DatabaseSize   int64  `json:"database_size"`
	DatabaseSHA256 string `json:"database_sha256"`
}

// PreparedBackup is a consistent copy of a node's state waiting to be
// written out. Close removes it.
type PreparedBackup struct {
	// Info is the manifest that Stream writes.
	Info BackupInfo
	path string
}

// Backup writes a backup of the node's state to w (see BackupFormat for
// the layout) and returns its manifest. It works on any node, leader or
// follower: the copy is taken from the local read side with SQLite's
// online backup API inside one read transaction, so it is exactly the
// state at some applied index (reported in the manifest) and does not hold
// back applies. A follower's backup is as fresh as its applied index.
func (n *Node) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	pb, err := n.PrepareBackup(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	defer pb.Close()
	if err := pb.Stream(w); err != nil {
		return BackupInfo{}, err
	}
	return pb.Info, nil
}

// PrepareBackup takes the copy that Backup writes, so that a caller (the
// admin socket) can report a failure before it starts streaming. The
// caller must Close it.
func (n *Node) PrepareBackup(ctx context.Context) (*PreparedBackup, error) {
	select {
	case <-n.closing:
		return nil, ErrClosed
	default:
	}
	// The "snapshot-" prefix lets New's clean-up of stale snapshot copies
	// remove this file too if the process dies before Close.
	tmp, err := os.CreateTemp(n.cfg.Dir, "snapshot-backup-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cluster: backup: %w", err)
	}
	path := tmp.Name()
	tmp.Close()
	pb := &PreparedBackup{path: path}
	ok := false
	defer func() {
		if !ok {
			pb.Close()
		}
	}()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("cluster: backup: %w", err)
	}
	start := time.Now()
	if err := copyToFile(ctx, n.readDB, path); err != nil {
		return nil, fmt.Errorf("cluster: backup: copy database: %w", err)
	}
	info := BackupInfo{
		Format:        BackupFormat,
		FormatVersion: BackupFormatVersion,
		NodeID:        n.cfg.NodeID,
		Leader:        n.IsLeader(),
		Created:       n.cfg.Now().UTC(),
	}
	if r := n.raft.Load(); r != nil {
		info.RaftTerm, _ = strconv.ParseUint(r.Stats()["term"], 10, 64)
	}
	if info.AppliedIndex, info.Schema, err = inspectState(ctx, path); err != nil {
		return nil, fmt.Errorf("cluster: backup: %w", err)
	}
	if info.DatabaseSize, info.DatabaseSHA256, err = hashFile(path); err != nil {
		return nil, fmt.Errorf("cluster: backup: %w", err)
	}
	pb.Info = info
	n.log.Info("backup copy taken", "applied", info.AppliedIndex, "bytes", info.DatabaseSize, "took", time.Since(start))
	ok = true
	return pb, nil
}

// Stream writes the backup archive to w.
func (pb *PreparedBackup) Stream(w io.Writer) error {
	manifest, err := json.MarshalIndent(pb.Info, "", "  ")
	if err != nil {
		return fmt.Errorf("cluster: backup: %w", err)
	}
	manifest = append(manifest, '\n')
	f, err := os.Open(pb.path)
	if err != nil {
		return fmt.Errorf("cluster: backup: %w", err)
	}
	defer f.Close()
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600,
			ModTime: pb.Info.Created.Truncate(time.Second), Format: tar.FormatUSTAR}
	}
	if err := tw.WriteHeader(hdr(backupManifestName, int64(len(manifest)))); err != nil {
		return fmt.Errorf("cluster: backup: write manifest: %w", err)
	}
	if _, err := tw.Write(manifest); err != nil {
		return fmt.Errorf("cluster: backup: write manifest: %w", err)
	}
	if err := tw.WriteHeader(hdr(backupStateName, pb.Info.DatabaseSize)); err != nil {
		return fmt.Errorf("cluster: backup: write database: %w", err)
	}
	if _, err := io.CopyN(tw, f, pb.Info.DatabaseSize); err != nil {
		return fmt.Errorf("cluster: backup: write database: %w", err)
	}
	sums := backupSums(manifest, pb.Info.DatabaseSHA256)
	if err := tw.WriteHeader(hdr(backupSumsName, int64(len(sums)))); err != nil {
		return fmt.Errorf("cluster: backup: write checksums: %w", err)
	}
	if _, err := io.WriteString(tw, sums); err != nil {
		return fmt.Errorf("cluster: backup: write checksums: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("cluster: backup: %w", err)
	}
	return nil
}

// backupSums is the SHA256SUMS member for a manifest and a database hash.
func backupSums(manifest []byte, dbSHA256 string) string {
	msum := sha256.Sum256(manifest)
	return hex.EncodeToString(msum[:]) + "  " + backupManifestName + "\n" +
		dbSHA256 + "  " + backupStateName + "\n"
}

// Close removes the copy. It is safe to call twice.
func (pb *PreparedBackup) Close() error {
	if pb.path != "" {
		removeDBFiles(pb.path)
		pb.path = ""
	}
	return nil
}

// VerifyBackup reads a whole backup from r and checks its layout, its
// format version, the database's size and SHA-256 against the manifest
// and the SHA256SUMS member. It does not open the database; Restore also
// runs SQLite's quick_check and compares the applied index and schema
// versions inside the database with the manifest's.
func VerifyBackup(r io.Reader) (BackupInfo, error) {
	return readBackup(r, io.Discard)
}

// readBackup reads a backup archive, writes the database member to db and
// returns the verified manifest. Every damage is reported as ErrBadBackup
// (or ErrUnsupportedBackup) with what did not match.
func readBackup(r io.Reader, db io.Writer) (BackupInfo, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return BackupInfo{}, bad("read archive: %v", err)
	}
	if h.Name != backupManifestName || h.Typeflag != tar.TypeReg {
		return BackupInfo{}, bad("first member is %q, want %s", h.Name, backupManifestName)
	}
	if h.Size > maxManifestSize {
		return BackupInfo{}, bad("manifest of %d bytes is too large", h.Size)
	}
	raw, err := io.ReadAll(tr)
	if err != nil {
		return BackupInfo{}, bad("read manifest: %v", err)
	}
	var info BackupInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return BackupInfo{}, bad("decode manifest: %v", err)
	}
	switch {
	case info.Format != BackupFormat:
		return BackupInfo{}, bad("manifest format is %q, want %q", info.Format, BackupFormat)
	case info.FormatVersion != BackupFormatVersion:
		return BackupInfo{}, fmt.Errorf("%w: the file has version %d, this binary reads version %d",
			ErrUnsupportedBackup, info.FormatVersion, BackupFormatVersion)
	case info.DatabaseSize <= 0 || len(info.DatabaseSHA256) != sha256.Size*2:
		return BackupInfo{}, bad("manifest lacks the database's size or checksum")
	}
	if h, err = tr.Next(); err != nil {
		return BackupInfo{}, bad("read archive after the manifest: %v", err)
	}
	if h.Name != backupStateName || h.Typeflag != tar.TypeReg {
		return BackupInfo{}, bad("second member is %q, want %s", h.Name, backupStateName)
	}
	if h.Size != info.DatabaseSize {
		return BackupInfo{}, bad("database member has %d bytes, the manifest says %d", h.Size, info.DatabaseSize)
	}
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(db, sum), tr); err != nil {
		return BackupInfo{}, bad("read database: %v", err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != info.DatabaseSHA256 {
		return BackupInfo{}, bad("database SHA-256 is %s, the manifest says %s", got, info.DatabaseSHA256)
	}
	if h, err = tr.Next(); err != nil {
		return BackupInfo{}, bad("read archive after the database: %v", err)
	}
	if h.Name != backupSumsName || h.Typeflag != tar.TypeReg || h.Size > maxManifestSize {
		return BackupInfo{}, bad("third member is %q, want %s", h.Name, backupSumsName)
	}
	sums, err := io.ReadAll(tr)
	if err != nil {
		return BackupInfo{}, bad("read checksums: %v", err)
	}
	if want := backupSums(raw, info.DatabaseSHA256); string(sums) != want {
		return BackupInfo{}, bad("%s does not match the manifest and the database:\n%s", backupSumsName, sums)
	}
	if h, err := tr.Next(); err != io.EOF {
		if err != nil {
			return BackupInfo{}, bad("read archive after the checksums: %v", err)
		}
		return BackupInfo{}, bad("unexpected member %q after the checksums", h.Name)
	}
	return info, nil
}

// Restore seeds dir, the Dir of a new node, from the backup file
// backupFile, as the state of a NEW one-node cluster whose only voter is
// nodeID at raftAddr. dir must be missing or empty (ErrDataDirNotEmpty),
// and no node may run on it. The backup is extracted to a temporary file
// in dir and verified completely (checksums, SQLite's quick_check, applied
// index and schema against the manifest) before the snapshot and state.db
// are written; on any error dir is left as it was found (a directory
// Restore created is removed).
//
// The state keeps its applied index N. Restore writes state.db and, in
// snapshots/, a raft snapshot at index N (term 1) holding the same
// database and a configuration with this node alone. raft then starts
// with its log after N: new entries are N+1, N+2..., so the FSM never
// skips one as already applied, and the indexes that apply functions use
// in identifiers (outbox row IDs) continue instead of restarting. Node.New
// finds state.db at the snapshot's index and does not restore it again; a
// node that joins later receives that snapshot.
func Restore(backupFile, dir, nodeID, raftAddr string) (BackupInfo, error) {
	if nodeID == "" || raftAddr == "" {
		return BackupInfo{}, errors.New("cluster: restore: node ID and raft address are required")
	}
	created, err := prepareEmptyDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	info, err := restoreInto(backupFile, dir, nodeID, raftAddr)
	if err != nil {
		if created {
			os.RemoveAll(dir)
		} else {
			emptyDir(dir)
		}
		return BackupInfo{}, err
	}
	return info, nil
}

// restoreInto does Restore's work in an empty dir.
func restoreInto(backupFile, dir, nodeID, raftAddr string) (BackupInfo, error) {
	in, err := os.Open(backupFile)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "restore-*.tmp")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore: %w", err)
	}
	tmpPath := tmp.Name()
	defer removeDBFiles(tmpPath)
	info, err := readBackup(in, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore %s: %w", backupFile, err)
	}
	if err := checkRestoredState(tmpPath, info); err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore %s: %w", backupFile, err)
	}
	if err := writeSeedSnapshot(tmpPath, dir, nodeID, raftAddr, info); err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore: %w", err)
	}
	if err := os.Rename(tmpPath, filepath.Join(dir, stateFile)); err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return BackupInfo{}, fmt.Errorf("cluster: restore: %w", err)
	}
	return info, nil
}

// checkRestoredState opens the extracted database and checks that SQLite
// finds it sound and that it says what the manifest says.
func checkRestoredState(path string, info BackupInfo) error {
	db, err := sql.Open("sqlite3", sqliteDSN(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("%w: open database: %v", ErrBadBackup, err)
	}
	defer db.Close()
	ctx := context.Background()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil || check != "ok" {
		return fmt.Errorf("%w: database check failed: %s%v", ErrBadBackup, check, errOrEmpty(err))
	}
	applied, schema, err := inspectState(ctx, path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if applied != info.AppliedIndex {
		return fmt.Errorf("%w: database applied index is %d, the manifest says %d", ErrBadBackup, applied, info.AppliedIndex)
	}
	if applied == 0 {
		return fmt.Errorf("%w: the database holds no applied entry", ErrBadBackup)
	}
	if !maps.Equal(schema, info.Schema) {
		return fmt.Errorf("%w: database schema versions %v differ from the manifest's %v", ErrBadBackup, schema, info.Schema)
	}
	return nil
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}

// writeSeedSnapshot stores the database at dbPath as a raft snapshot at
// the backup's applied index, with nodeID alone as voter.
func writeSeedSnapshot(dbPath, dir, nodeID, raftAddr string, info BackupInfo) error {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, snapshotsDir), 1, newRaftLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(raftAddr),
	}}}
	// The snapshot store asks a transport only to encode the legacy peer
	// list; an in-memory one does that like the TCP transport.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(raftAddr))
	defer trans.Close()
	sink, err := snaps.Create(raft.SnapshotVersionMax, info.AppliedIndex, 1, conf, info.AppliedIndex, trans)
	if err != nil {
		return fmt.Errorf("create snapshot: %w", err)
	}
	f, err := os.Open(dbPath)
	if err != nil {
		sink.Cancel()
		return err
	}
	defer f.Close()
	if _, err := io.Copy(sink, f); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// inspectState reads the applied index and the schema versions of the
// database file at path.
func inspectState(ctx context.Context, path string) (uint64, map[string]int, error) {
	db, err := sql.Open("sqlite3", sqliteDSN(path, "mode=ro"))
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	applied, err := readAppliedIndex(ctx, db)
	if err != nil {
		return 0, nil, err
	}
	schema, err := readSchema(ctx, db)
	if err != nil {
		return 0, nil, err
	}
	return applied, schema, nil
}

// hashFile returns the size and hex SHA-256 of the file at path.
func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// prepareEmptyDir makes sure dir exists and is empty, creating it (mode
// 0700: it will hold citizens' data) when missing. created reports
// whether it did.
func prepareEmptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("cluster: restore: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("cluster: restore: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("cluster: restore: %w: %s holds %s", ErrDataDirNotEmpty, dir, entries[0].Name())
	}
	return false, nil
}

// emptyDir removes everything inside dir, which Restore found empty.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// syncDir fsyncs a directory so that the renames in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
