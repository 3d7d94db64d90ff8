package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Readiness defaults.
const (
	// readyDiskEvery is how often the disk check writes its file at most;
	// probes in between get the cached answer.
	readyDiskEvery = 5 * time.Second
	// readyMarkEvery is how often the commit index is remembered for the
	// apply check.
	readyMarkEvery = 5 * time.Second
	// readyMaxLag is how many committed entries a ready node may still
	// have to apply: a burst of bookings is a few hundred entries, which
	// the FSM applies in well under a second.
	readyMaxLag = 1000
)

// readyNode is what the readiness checks read of the node; *cluster.Node
// has it.
type readyNode interface {
	Status() cluster.Status
	Stale() (bool, time.Duration)
}

// Readiness answers /readyz: whether this node should get traffic from a
// load balancer (and, later, when systemd hears READY=1). A node is ready
// when it knows a leader it is in contact with, it has applied what was
// committed a few seconds ago (or is within readyMaxLag entries), and it
// can write its data folder.
type Readiness struct {
	node readyNode
	// dir is where the disk check writes; the node's data folder.
	dir string
	now func() time.Time
	log *slog.Logger

	mu       sync.Mutex
	diskAt   time.Time
	diskErr  error
	mark     commitMark // the newest remembered commit index
	prevMark commitMark // the one before, at least readyMarkEvery older
}

type commitMark struct {
	index uint64
	at    time.Time
}

// NewReadiness checks node, writing its probe files in dataDir.
func NewReadiness(node *cluster.Node, dataDir string, log *slog.Logger) *Readiness {
	return newReadiness(node, dataDir, time.Now, log)
}

func newReadiness(node readyNode, dir string, now func() time.Time, log *slog.Logger) *Readiness {
	if log == nil {
		log = slog.Default()
	}
	return &Readiness{node: node, dir: dir, now: now, log: log.With("component", "readyz")}
}

// ReadyCheck is the outcome of one check. Error is a fixed English
// sentence for IT, never a path or a secret.
type ReadyCheck struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ReadyReport is the body of /readyz.
type ReadyReport struct {
	Ready bool `json:"ready"`
	// Failed names the checks that failed: "leader", "applied", "disk".
	Failed       []string              `json:"failed,omitempty"`
	Checks       map[string]ReadyCheck `json:"checks"`
	AppliedIndex uint64                `json:"applied_index"`
	CommitIndex  uint64                `json:"commit_index"`
}

// Check runs the checks (the disk one at most every readyDiskEvery).
func (r *Readiness) Check() ReadyReport {
	st := r.node.Status()
	stale, _ := r.node.Stale()
	now := r.now()
	rep := ReadyReport{Ready: true, Checks: map[string]ReadyCheck{}, AppliedIndex: st.AppliedIndex, CommitIndex: st.CommitIndex}
	set := func(name string, ok bool, msg string) {
		if ok {
			rep.Checks[name] = ReadyCheck{OK: true}
			return
		}
		rep.Ready = false
		rep.Failed = append(rep.Failed, name)
		rep.Checks[name] = ReadyCheck{Error: msg}
	}

	switch {
	case st.LeaderID == "":
		set("leader", false, "no leader known: the cluster has no quorum or this node is cut off")
	case stale:
		set("leader", false, "no recent contact with the leader")
	default:
		set("leader", true, "")
	}

	r.mu.Lock()
	if r.mark.at.IsZero() || now.Sub(r.mark.at) >= readyMarkEvery {
		r.prevMark, r.mark = r.mark, commitMark{index: st.CommitIndex, at: now}
	}
	prev := r.prevMark
	diskErr := r.checkDisk(now)
	r.mu.Unlock()

	// The store is current when it is close to the commit index, or has
	// applied what was committed a few seconds ago: a node that keeps up
	// with a long burst is still ready, one whose apply is stuck is not.
	lagging := st.CommitIndex > st.AppliedIndex && st.CommitIndex-st.AppliedIndex > readyMaxLag
	caughtUp := !prev.at.IsZero() && st.AppliedIndex >= prev.index
	set("applied", !lagging || caughtUp, "the local store is behind the cluster's log")
	set("disk", diskErr == nil, "the data folder is not writable")
	return rep
}

// checkDisk creates, syncs and removes a small file in the data folder,
// at most once every readyDiskEvery; r.mu is held. A failure is logged
// when it starts and when it ends, not on every probe.
func (r *Readiness) checkDisk(now time.Time) error {
	if !r.diskAt.IsZero() && now.Sub(r.diskAt) < readyDiskEvery {
		return r.diskErr
	}
	err := writeProbe(r.dir)
	switch {
	case err != nil && r.diskErr == nil:
		r.log.Error("data folder is not writable: not ready", "dir", r.dir, "err", err)
	case err == nil && r.diskErr != nil:
		r.log.Info("data folder is writable again", "dir", r.dir)
	}
	r.diskAt, r.diskErr = now, err
	return err
}

// writeProbe proves dir takes a write that reaches the disk.
func writeProbe(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok\n"))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(name)
	return errors.Join(werr, serr, cerr, rerr)
}

// ServeHTTP answers 200 when ready, 503 otherwise, with the report as
// JSON either way.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rep := r.Check()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}
