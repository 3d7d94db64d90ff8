package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreArguments checks the exit codes of backup and restore
// that need no running node.
func TestBackupRestoreArguments(t *testing.T) {
	t.Parallel()
	dir := shortTempDir(t)
	existing := filepath.Join(dir, "old.tar")
	if err := os.WriteFile(existing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o700)
	os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600)
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"backup without FILE", []string{"backup"}, exitUsage, "exactly one FILE"},
		{"backup with no node", []string{"backup", "--data", dir, filepath.Join(dir, "b.tar")}, exitUnavailable, "node not reachable"},
		{"backup over a file", []string{"backup", "--data", dir, existing}, exitConflict, "--force"},
		{"restore without FILE", []string{"restore", "--data", filepath.Join(dir, "n")}, exitUsage, "exactly one BACKUP"},
		{"restore with a bad node ID", []string{"restore", "--node-id", "-x", "--data", filepath.Join(dir, "n"), existing}, exitUsage, "--node-id"},
		{"restore of a missing file", []string{"restore", "--data", filepath.Join(dir, "n"), filepath.Join(dir, "none.tar")}, exitFailure, "no such file"},
		{"restore of a file that is not a backup", []string{"restore", "--data", filepath.Join(dir, "n"), existing}, exitFailure, "not a valid Sportello backup"},
		{"restore into a non-empty dir", []string{"restore", "--data", full, existing}, exitConflict, "not empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := dispatch(tt.args, &out, &errOut); got != tt.want || !strings.Contains(errOut.String(), tt.msg) {
				t.Errorf("sportello %v: got exit %d, stderr %q; want %d and %q", tt.args, got, errOut.String(), tt.want, tt.msg)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "n")); !os.IsNotExist(err) {
		t.Errorf("failed restores left the data dir behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.tar.tmp")); !os.IsNotExist(err) {
		t.Errorf("failed backup left its temporary file: %v", err)
	}
}
