package lincheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// pending marks an operation that has not returned yet.
const pending = -1

// Recorder records a history of operations for the linearizability check.
// It is safe for concurrent use. Timestamps come from the monotonic clock,
// read under the Recorder's lock, so the order of timestamps is the real
// order in which Call and Return were recorded.
//
// A client is a sequence of operations, one at a time, as porcupine's
// visualization expects: after a write whose outcome is unknown (it never
// returns) a driver continues under a new client from NewClient.
type Recorder struct {
	spec  Spec
	start time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation
	clients int
	tokens  map[string]string // manage token by booking code, from 201s
}

// NewRecorder returns an empty Recorder for a system described by spec.
func NewRecorder(spec Spec) *Recorder {
	return &Recorder{spec: spec, start: time.Now()}
}

// Spec returns the spec the Recorder checks against.
func (r *Recorder) Spec() Spec { return r.spec }

// NewClient returns a fresh client id (0, 1, 2, ...).
func (r *Recorder) NewClient() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients++
	return r.clients - 1
}

// now returns the time since the Recorder began, at least 1 ns; call with
// r.mu held.
func (r *Recorder) now() int64 {
	return max(int64(time.Since(r.start)), 1)
}

// Call records that client invoked in and returns the operation's id for
// Return. It sets in.Seq to that id.
func (r *Recorder) Call(client int, in Input) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := len(r.ops)
	in.Seq = id
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: r.now(), Return: pending})
	return id
}

// Return records the answer of operation id. A write (Create, Cancel)
// whose result is Unknown stays pending: porcupine must be free to place
// its effect anywhere after its call, or nowhere, so it returns at the end
// of the history. An unknown read returns now and matches any state.
func (r *Recorder) Return(id int, out Output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &r.ops[id]
	if op.Return != pending {
		panic(fmt.Sprintf("lincheck: operation %d returned twice", id))
	}
	op.Output = out
	if out.Result == Unknown && op.Input.(Input).Kind.write() {
		return
	}
	op.Return = r.now()
}

// History returns the recorded operations. Operations still pending (writes
// of unknown outcome and calls that never returned) return after every
// other event, with result Unknown.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.now()
	for _, op := range r.ops {
		end = max(end, op.Return, op.Call)
	}
	end++
	ops := make([]porcupine.Operation, len(r.ops))
	copy(ops, r.ops)
	for i := range ops {
		if ops[i].Return == pending {
			ops[i].Return = end
			ops[i].Output = Output{Result: Unknown}
		}
	}
	return ops
}

// Booking is a booking whose creation a client saw acknowledged (201).
type Booking struct {
	Code, Token string
	Slot        Slot
	// Status is what the booking must be once every request has ended:
	// "active" when no cancel of it may have taken effect, "cancelled"
	// when a cancel was acknowledged (200, or 409 cancelled), "" when only
	// cancels of unknown outcome were tried, so that either is right.
	Status string
}

// setToken keeps the manage token of a created booking, for Acknowledged.
func (r *Recorder) setToken(code, token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tokens == nil {
		r.tokens = make(map[string]string)
	}
	r.tokens[code] = token
}

// Acknowledged returns every booking whose creation was acknowledged to a
// client, in the order of the history, with its manage token (when the
// driver recorded it) and the status it must have at the end: a system
// that lost one, or shows it in another status, lost an acknowledged
// write.
func (r *Recorder) Acknowledged() []Booking {
	history := r.History()
	r.mu.Lock()
	tokens := r.tokens
	r.mu.Unlock()
	var out []Booking
	at := map[string]int{}
	for _, op := range history {
		in, res := op.Input.(Input), op.Output.(Output)
		if in.Kind == Create && res.Result == Created {
			at[res.Code] = len(out)
			out = append(out, Booking{Code: res.Code, Token: tokens[res.Code], Slot: in.Slot, Status: "active"})
		}
	}
	for _, op := range history {
		in, res := op.Input.(Input), op.Output.(Output)
		i, ok := at[in.Code]
		if in.Kind != Cancel || !ok {
			continue
		}
		switch res.Result {
		case CancelOK, AlreadyCancelled:
			out[i].Status = "cancelled"
		case Unknown:
			if out[i].Status == "active" {
				out[i].Status = ""
			}
		}
	}
	return out
}

// Stats counts the operations of a history by kind and result:
// Stats["create"]["created"] is the number of successful creates.
type Stats map[string]map[Result]int

func (s Stats) String() string {
	kinds := make([]string, 0, len(s))
	for k := range s {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out string
	for _, k := range kinds {
		results := make([]string, 0, len(s[k]))
		for r := range s[k] {
			results = append(results, string(r))
		}
		sort.Strings(results)
		out += k + ":"
		for _, r := range results {
			out += fmt.Sprintf(" %s=%d", r, s[k][Result(r)])
		}
		out += "; "
	}
	return out
}

// Stats counts the recorded operations.
func (r *Recorder) Stats() Stats {
	st := Stats{}
	for _, op := range r.History() {
		k := op.Input.(Input).Kind.String()
		if st[k] == nil {
			st[k] = map[Result]int{}
		}
		st[k][op.Output.(Output).Result]++
	}
	return st
}

// Info is what Check learnt besides the verdict.
type Info struct {
	// Operations is the length of the history, Partitions the number of
	// independent parts porcupine checked.
	Operations int
	Partitions int
	Stats      Stats
	Elapsed    time.Duration
	// Visualization is the HTML file written on failure, or "".
	Visualization string
	// Linearization is porcupine's account, for Visualize.
	Linearization porcupine.LinearizationInfo
}

// Check runs porcupine on the recorded history, for at most timeout (0: no
// limit; porcupine answers Unknown when the limit passes first). When the
// history is Illegal and dir is not empty, it writes porcupine's HTML
// visualization to a new file in dir (created if needed), named in
// Info.Visualization. The error is only about writing that file.
func (r *Recorder) Check(timeout time.Duration, dir string) (porcupine.CheckResult, Info, error) {
	history := r.History()
	model := NewModel(r.spec)
	info := Info{Operations: len(history), Partitions: len(partition(history)), Stats: r.Stats()}
	began := time.Now()
	res, li := porcupine.CheckOperationsVerbose(model, history, timeout)
	info.Elapsed = time.Since(began)
	info.Linearization = li
	if res != porcupine.Illegal || dir == "" {
		return res, info, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, info, fmt.Errorf("write linearizability visualization: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("lincheck-%s.html", time.Now().UTC().Format("20060102T150405.000000000")))
	if err := porcupine.VisualizePath(model, li, path); err != nil {
		return res, info, fmt.Errorf("write linearizability visualization %s: %w", path, err)
	}
	info.Visualization = path
	return res, info, nil
}

// Visualize writes porcupine's HTML visualization of info to path, also
// for a linearizable history.
func (r *Recorder) Visualize(info Info, path string) error {
	if err := porcupine.VisualizePath(NewModel(r.spec), info.Linearization, path); err != nil {
		return fmt.Errorf("write linearizability visualization %s: %w", path, err)
	}
	return nil
}
