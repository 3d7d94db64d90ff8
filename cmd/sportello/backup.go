package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// backupTimeout bounds a whole `sportello backup`: copying and streaming a
// municipal database of a few hundred MB takes seconds, not an hour.
const backupTimeout = time.Hour

// cmdBackup asks the node running on --data for a backup through the admin
// socket and writes it to FILE: first to FILE.tmp (mode 0600), which is
// verified against its manifest, fsynced and then renamed.
func cmdBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", defaultConfig().DataDir, "data `dir` of the running node")
	cfgPath := fs.String("config", "", "take the data dir from this configuration `file`")
	force := fs.Bool("force", false, "replace FILE if it exists")
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	consistent := fs.Bool("consistent", false, "first wait until the node has applied every write committed in the cluster (a leader barrier)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sportello backup [--data DIR | --config FILE] [--consistent] [--force] [--json] FILE

Writes a consistent copy of the running node's state to FILE (a tar
archive: manifest.json and state.db). It works on any node; the manifest
says up to which log index the copy goes. A follower's copy is as fresh
as what it has applied; with --consistent the node first asks the leader
for its commit index and waits until it has applied it, so the copy holds
every write acknowledged before the command started (it needs a leader).
FILE holds citizens' personal data: it is created with mode 0600.

`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sportello backup: want exactly one FILE")
		fs.Usage()
		return exitUsage
	}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "sportello backup: %v\n", err)
			return exitUsage
		}
		*dataDir = cfg.DataDir
	}
	file := pos[0]
	if _, err := os.Lstat(file); err == nil && !*force {
		fmt.Fprintf(stderr, "sportello backup: %s exists (use --force to replace it)\n", file)
		return exitConflict
	}
	ctx, cancel := context.WithTimeout(context.Background(), backupTimeout)
	defer cancel()
	path := "/v1/backup"
	if *consistent {
		path += "?consistent=1"
	}
	info, err := writeBackup(ctx, newAdminClient(*dataDir), path, file)
	if err != nil {
		fmt.Fprintf(stderr, "sportello backup: %v\n", err)
		return exitCodeFor(err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(info)
		return exitOK
	}
	fmt.Fprintf(stdout, "backup written to %s\n", file)
	printBackupInfo(stdout, info)
	return exitOK
}

// writeBackup streams GET /v1/backup into file.tmp, verifies it, fsyncs
// it and renames it to file. On failure nothing is left behind.
func writeBackup(ctx context.Context, c *adminClient, path, file string) (cluster.BackupInfo, error) {
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return cluster.BackupInfo{}, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// An existing FILE.tmp keeps its mode through O_TRUNC.
	if err := f.Chmod(0o600); err != nil {
		return cluster.BackupInfo{}, err
	}
	if err := c.download(ctx, path, f); err != nil {
		return cluster.BackupInfo{}, err
	}
	if err := f.Sync(); err != nil {
		return cluster.BackupInfo{}, fmt.Errorf("write %s: %w", tmp, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cluster.BackupInfo{}, err
	}
	info, err := cluster.VerifyBackup(f)
	if err != nil {
		return cluster.BackupInfo{}, fmt.Errorf("the received backup does not verify: %w", err)
	}
	if err := f.Close(); err != nil {
		return cluster.BackupInfo{}, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return cluster.BackupInfo{}, err
	}
	ok = true
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		d.Sync()
		d.Close()
	}
	return info, nil
}

// download streams the body of GET path into w. It has no overall
// timeout of its own (a large backup may take longer than the admin
// client's 30 s); ctx bounds it.
func (c *adminClient) download(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sportello"+path, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: cannot reach %s: %v", errUnreachable, c.sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e adminError
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			e.Error.Message = strings.TrimSpace(string(b))
		}
		return &apiError{Status: resp.StatusCode, adminErrorBody: e.Error}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// printBackupInfo prints a manifest for people.
func printBackupInfo(w io.Writer, info cluster.BackupInfo) {
	role := "follower"
	if info.Leader {
		role = "leader"
	}
	comps := make([]string, 0, len(info.Schema))
	for c, v := range info.Schema {
		comps = append(comps, c+" v"+strconv.Itoa(v))
	}
	sort.Strings(comps)
	fmt.Fprintf(w, "  taken:          %s from node %s (%s, raft term %d)\n", info.Created.Format(time.RFC3339), info.NodeID, role, info.RaftTerm)
	fmt.Fprintf(w, "  applied index:  %d (the copy holds every command up to this log index)\n", info.AppliedIndex)
	fmt.Fprintf(w, "  schema:         %s\n", strings.Join(comps, ", "))
	fmt.Fprintf(w, "  database:       %d bytes, sha256 %s\n", info.DatabaseSize, info.DatabaseSHA256)
	fmt.Fprintf(w, "  format:         %s v%d\n", info.Format, info.FormatVersion)
}

// getBackup serves GET /v1/backup: the node's backup archive. The copy is
// taken before the first byte, so a failure to take it is a normal JSON
// error; a failure while streaming can only cut the body short, which the
// client's verification detects. With ?consistent=1 the node first runs a
// Barrier (on a follower: the leader's read index, then a wait until it is
// applied), so the copy covers every write committed before the request.
func (a *adminServer) getBackup(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("consistent") != "" {
		idx, err := a.node.Barrier(r.Context())
		if err != nil {
			a.fail(w, r, fmt.Errorf("backup --consistent: barrier: %w", err))
			return
		}
		a.log.Info("backup: barrier passed", "index", idx)
	}
	pb, err := a.node.PrepareBackup(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer pb.Close()
	// The admin server's write timeout is for small answers; a large
	// database may take longer to stream.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		a.log.Warn("backup: cannot lift the write deadline", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="sportello-backup.tar"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Sportello-Applied-Index", strconv.FormatUint(pb.Info.AppliedIndex, 10))
	w.WriteHeader(http.StatusOK)
	if err := pb.Stream(w); err != nil {
		a.log.Error("backup: streaming failed", "err", err)
		return
	}
	a.log.Info("backup sent", "applied", pb.Info.AppliedIndex, "bytes", pb.Info.DatabaseSize)
}
