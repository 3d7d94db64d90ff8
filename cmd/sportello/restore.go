package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// cmdRestore seeds a new data dir from a backup file, offline: no node may
// run on it. The node started there afterwards (serve or demo, with the
// same node ID) is the only voter of a new one-node cluster holding the
// backup's state; other nodes join it as they would join any cluster.
func cmdRestore(args []string, stdout, stderr io.Writer) int {
	def := defaultConfig()
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", def.DataDir, "new data `dir`: missing or empty")
	nodeID := fs.String("node-id", def.NodeID, "raft node `id` of the node that will run on the data dir")
	raftAddr := fs.String("raft", def.RaftAddr, "raft `address` of that node (its real address is recorded when it starts)")
	cfgPath := fs.String("config", "", "take data_dir, node_id and raft_addr from the configuration `file` the new node will run with")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sportello restore [--data DIR] [--node-id ID] [--raft ADDR] [--config FILE] BACKUP

Seeds a NEW cluster from a file written by "sportello backup": verifies the
file, writes its state into DIR and makes the node that will run there,
with node ID ID, the only member of a new one-node cluster. DIR must be
missing or empty and no node may run on it. Then start the node
("sportello serve --config FILE" or "sportello demo --data DIR") with the
SAME node ID.

`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sportello restore: want exactly one BACKUP file")
		fs.Usage()
		return exitUsage
	}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "sportello restore: %v\n", err)
			return exitUsage
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["data"] {
			*dataDir = cfg.DataDir
		}
		if !set["node-id"] {
			*nodeID = cfg.NodeID
		}
		if !set["raft"] {
			*raftAddr = cfg.RaftAddr
		}
	}
	if !nodeIDPattern.MatchString(*nodeID) {
		fmt.Fprintf(stderr, "sportello restore: --node-id %q: want 1-64 letters, digits, '.', '_' or '-'\n", *nodeID)
		return exitUsage
	}
	if _, _, err := net.SplitHostPort(*raftAddr); err != nil {
		fmt.Fprintf(stderr, "sportello restore: --raft %q: want host:port\n", *raftAddr)
		return exitUsage
	}
	info, err := restoreDataDir(pos[0], *dataDir, *nodeID, *raftAddr)
	if err != nil {
		fmt.Fprintf(stderr, "sportello restore: %v\n", err)
		switch {
		case errors.Is(err, cluster.ErrDataDirNotEmpty), errors.Is(err, errDataDirInUse):
			return exitConflict
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "restored %s into %s as node %s of a new cluster\n", pos[0], *dataDir, *nodeID)
	printBackupInfo(stdout, info)
	fmt.Fprintf(stdout, "Start the node on %s with node ID %s; outbox messages that were pending are sent by it.\n", *dataDir, *nodeID)
	return exitOK
}

// restoreDataDir checks that dataDir is missing or empty and not served by
// a node, and restores the backup into its cluster/ folder. A data dir it
// created is removed again on failure.
func restoreDataDir(backupFile, dataDir, nodeID, raftAddr string) (cluster.BackupInfo, error) {
	if _, err := os.Stat(backupFile); err != nil {
		return cluster.BackupInfo{}, err
	}
	sock := adminSocketPath(dataDir)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return cluster.BackupInfo{}, fmt.Errorf("%w: a sportello node is running on %s", errDataDirInUse, dataDir)
	}
	entries, err := os.ReadDir(dataDir)
	created := false
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return cluster.BackupInfo{}, err
		}
		created = true
	case err != nil:
		return cluster.BackupInfo{}, err
	case len(entries) > 0:
		return cluster.BackupInfo{}, fmt.Errorf("%w: %s holds %s; restore only into a new, empty data dir",
			cluster.ErrDataDirNotEmpty, dataDir, entries[0].Name())
	}
	info, err := cluster.Restore(backupFile, filepath.Join(dataDir, "cluster"), nodeID, raftAddr)
	if err != nil && created {
		os.RemoveAll(dataDir)
	}
	return info, err
}
