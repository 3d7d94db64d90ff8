package cluster_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// backupTestDump returns cluster.Dump of the node's state.
func backupTestDump(t *testing.T, n *cluster.Node) string {
	t.Helper()
	var b strings.Builder
	if err := cluster.Dump(context.Background(), n.DB(), &b); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// backupAppliedLine matches the one row that differs between a node and the
// node restored from its backup once the restored node has started: its
// own applied index, which moves past the backup's with the restored
// cluster's first entries (its configuration).
var backupAppliedLine = regexp.MustCompile(`(?m)^cluster_state .*$`)

// backupOf takes a backup of n into memory.
func backupOf(t *testing.T, n *cluster.Node) ([]byte, cluster.BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := n.Backup(context.Background(), &buf)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return buf.Bytes(), info
}

func writeBackupFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backup.tar")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBackupRestoreSeedsNewCluster(t *testing.T) {
	t.Parallel()
	src := clustertest.Node(t, registerKV)
	for _, k := range []string{"a", "b", "c"} {
		put(t, src, k, "v-"+k)
	}
	// An outbox item with no deliverer registered stays pending: it must
	// still be pending after the restore.
	if _, err := propose(src, putPayload{Key: "mail", Value: "m", Outbox: true}); err != nil {
		t.Fatal(err)
	}
	data, info := backupOf(t, src)
	before := backupTestDump(t, src)

	if info.AppliedIndex != src.AppliedIndex() {
		t.Errorf("manifest applied index: got %d, want %d", info.AppliedIndex, src.AppliedIndex())
	}
	if info.Format != cluster.BackupFormat || info.FormatVersion != cluster.BackupFormatVersion {
		t.Errorf("manifest format: got %s v%d", info.Format, info.FormatVersion)
	}
	if info.NodeID != "node1" || !info.Leader || info.RaftTerm == 0 {
		t.Errorf("manifest node: got %+v", info)
	}
	if info.Schema["kv"] != 2 || info.Schema["cluster"] == 0 {
		t.Errorf("manifest schema: got %v, want kv=2 and cluster>0", info.Schema)
	}
	if got, err := cluster.VerifyBackup(bytes.NewReader(data)); err != nil || got.DatabaseSHA256 != info.DatabaseSHA256 {
		t.Errorf("VerifyBackup: got %+v, %v", got, err)
	}

	dir := filepath.Join(t.TempDir(), "restored")
	got, err := cluster.Restore(writeBackupFile(t, data), dir, "node9", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got.AppliedIndex != info.AppliedIndex {
		t.Errorf("restore applied index: got %d, want %d", got.AppliedIndex, info.AppliedIndex)
	}
	dst := clustertest.New(t, cluster.Config{Dir: dir, NodeID: "node9"}, registerKV)
	clustertest.Start(t, dst)
	if !dst.IsLeader() {
		t.Fatal("restored node does not lead its new cluster")
	}
	after := backupTestDump(t, dst)
	if a, b := backupAppliedLine.ReplaceAllString(before, ""), backupAppliedLine.ReplaceAllString(after, ""); a != b {
		t.Errorf("restored state differs from the backup's:\n--- original\n%s\n--- restored\n%s", a, b)
	}
	if !strings.Contains(after, `status="pending"`) {
		t.Errorf("restored outbox lost its pending item:\n%s", after)
	}

	// New writes work, continue the log after the backup's index, and do
	// not collide with the rows written before.
	res := put(t, dst, "d", "v-d")
	if res.Index <= info.AppliedIndex {
		t.Errorf("first new entry: got index %d, want above the backup's %d", res.Index, info.AppliedIndex)
	}
	if _, err := propose(dst, putPayload{Key: "mail2", Value: "m2", Outbox: true}); err != nil {
		t.Fatalf("enqueue after restore: %v", err)
	}
	for k, want := range map[string]string{"a": "v-a", "c": "v-c", "d": "v-d", "mail2": "m2"} {
		if v := readKV(t, dst, k); v != want {
			t.Errorf("key %s after restore: got %q, want %q", k, v, want)
		}
	}
	if _, err := propose(dst, putPayload{Key: "a", Value: "x"}); !errors.Is(err, errTaken) {
		t.Errorf("duplicate key after restore: got %v, want errTaken", err)
	}

	// The restored node restarts like any other (no snapshot restore over
	// newer state, nothing applied twice).
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	again := clustertest.New(t, cluster.Config{Dir: dir, NodeID: "node9"}, registerKV)
	clustertest.Start(t, again)
	if v := readKV(t, again, "d"); v != "v-d" {
		t.Errorf("key d after restart: got %q, want v-d", v)
	}
}

func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	// A backup taken while commands are applied is still one consistent
	// state: its database matches its own manifest and restores.
	src := clustertest.Node(t, registerKV)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			propose(src, putPayload{Key: "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)), Value: "v", Overwrite: true})
		}
	}()
	time.Sleep(50 * time.Millisecond)
	data, info := backupOf(t, src)
	close(stop)
	<-done
	dir := t.TempDir()
	if _, err := cluster.Restore(writeBackupFile(t, data), dir, "node1", "127.0.0.1:0"); err != nil {
		t.Fatalf("restore of a backup taken under load: %v", err)
	}
	dst := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, dst)
	if dst.AppliedIndex() < info.AppliedIndex {
		t.Errorf("restored applied index: got %d, want at least %d", dst.AppliedIndex(), info.AppliedIndex)
	}
}

// rewriteManifest returns data with its manifest changed by edit.
func rewriteManifest(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	var manifest []byte
	var dbSum [sha256.Size]byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == "manifest.json" {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			body, _ = json.Marshal(m)
			h.Size = int64(len(body))
			manifest = body
		}
		if h.Name == "state.db" {
			dbSum = sha256.Sum256(body)
		}
		if h.Name == "SHA256SUMS" {
			mSum := sha256.Sum256(manifest)
			body = []byte(hex.EncodeToString(mSum[:]) + "  manifest.json\n" + hex.EncodeToString(dbSum[:]) + "  state.db\n")
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func TestRestoreRefusesBadBackups(t *testing.T) {
	t.Parallel()
	src := clustertest.Node(t, registerKV)
	put(t, src, "a", "1")
	data, _ := backupOf(t, src)
	// The database member starts after the manifest's header and padded
	// body and its own header.
	dbStart := bytes.Index(data, []byte("SQLite format 3\x00"))
	if dbStart < 0 {
		t.Fatal("no SQLite header in the backup")
	}
	flip := func(off int) []byte {
		c := bytes.Clone(data)
		c[off] ^= 0x40
		return c
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"flipped byte in the database", flip(dbStart + 2000), cluster.ErrBadBackup},
		{"flipped byte in the manifest", flip(bytes.Index(data, []byte(`"node_id"`)) + 3), cluster.ErrBadBackup},
		{"flipped byte in a tar header", flip(dbStart - 400), cluster.ErrBadBackup},
		{"truncated in the database", data[:dbStart+1000], cluster.ErrBadBackup},
		{"truncated in the manifest", data[:600], cluster.ErrBadBackup},
		{"checksums missing", data[:bytes.Index(data, []byte("SHA256SUMS"))], cluster.ErrBadBackup},
		{"flipped byte in the checksums", flip(len(data) - 1024 - 512 + 10), cluster.ErrBadBackup},
		{"empty file", nil, cluster.ErrBadBackup},
		{"not a tar", []byte(strings.Repeat("sportello ", 200)), cluster.ErrBadBackup},
		{"newer format version", rewriteManifest(t, data, func(m map[string]any) { m["format_version"] = 2 }), cluster.ErrUnsupportedBackup},
		{"other format", rewriteManifest(t, data, func(m map[string]any) { m["format"] = "other" }), cluster.ErrBadBackup},
		{"applied index not the database's", rewriteManifest(t, data, func(m map[string]any) { m["applied_index"] = 1 }), cluster.ErrBadBackup},
		{"schema not the database's", rewriteManifest(t, data, func(m map[string]any) { m["schema"] = map[string]int{"kv": 9} }), cluster.ErrBadBackup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, existing := range []bool{false, true} {
				dir := filepath.Join(t.TempDir(), "new")
				if existing {
					os.Mkdir(dir, 0o700)
				}
				_, err := cluster.Restore(writeBackupFile(t, tt.data), dir, "node1", "127.0.0.1:0")
				if !errors.Is(err, tt.want) {
					t.Fatalf("restore: got %v, want %v", err, tt.want)
				}
				entries, statErr := os.ReadDir(dir)
				switch {
				case existing && (statErr != nil || len(entries) != 0):
					t.Errorf("existing empty dir after a refused restore: %v, %v", entries, statErr)
				case !existing && !errors.Is(statErr, os.ErrNotExist):
					t.Errorf("dir created by a refused restore still exists: %v, %v", entries, statErr)
				}
			}
		})
	}
}

func TestRestoreRefusesNonEmptyDir(t *testing.T) {
	t.Parallel()
	src := clustertest.Node(t, registerKV)
	data, _ := backupOf(t, src)
	dir := t.TempDir()
	keep := filepath.Join(dir, "something")
	if err := os.WriteFile(keep, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := cluster.Restore(writeBackupFile(t, data), dir, "node1", "127.0.0.1:0")
	if !errors.Is(err, cluster.ErrDataDirNotEmpty) {
		t.Fatalf("restore into a non-empty dir: got %v, want ErrDataDirNotEmpty", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "something" {
		t.Errorf("dir after refused restore: got %v, want only the operator's file", entries)
	}
}
