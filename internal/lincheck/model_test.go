package lincheck

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/sportello-virtuale/sportello/booking"
)

var (
	slotA = Slot{Service: "cie", Start: "2027-03-11T09:00:00Z"}
	slotB = Slot{Service: "cie", Start: "2027-03-11T09:20:00Z"}
)

const inf = 1 << 40 // return time of operations that never return

// op builds an operation of client c over [call, ret].
func op(c int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: c, Call: call, Return: ret, Input: in, Output: out}
}

func create(s Slot, cf string) Input { return Input{Kind: Create, Slot: s, Citizen: cf} }
func cancel(s Slot, code string) Input {
	return Input{Kind: Cancel, Slot: s, Code: code}
}
func get(s Slot, code string) Input { return Input{Kind: Get, Slot: s, Code: code} }
func remaining(s Slot) Input        { return Input{Kind: Remaining, Slot: s} }
func res(r Result) Output           { return Output{Result: r} }
func created(code string) Output    { return Output{Result: Created, Code: code} }
func counted(n int) Output          { return Output{Result: Counted, Remaining: n} }

// numbered gives each operation its Seq, as the Recorder does.
func numbered(ops []porcupine.Operation) []porcupine.Operation {
	for i := range ops {
		in := ops[i].Input.(Input)
		in.Seq = i
		ops[i].Input = in
	}
	return ops
}

func TestModel(t *testing.T) {
	t.Parallel()
	spec := func(capA, capB, perCitizen int) Spec {
		return Spec{Capacity: map[Slot]int{slotA: capA, slotB: capB}, MaxActivePerCitizen: perCitizen}
	}
	tests := []struct {
		name    string
		spec    Spec
		history []porcupine.Operation
		want    bool
	}{
		{
			name: "sequential create, full, get, cancel, get",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotA, "CF2"), res(SlotFull)),
				op(0, 5, 6, create(slotB, "CF1"), res(AlreadyBooked)),
				op(1, 7, 8, get(slotA, "BA-1"), Output{Result: Active, Start: slotA.Start, Citizen: "CF1"}),
				op(0, 9, 10, remaining(slotA), counted(0)),
				op(0, 11, 12, cancel(slotA, "BA-1"), res(CancelOK)),
				op(1, 13, 14, cancel(slotA, "BA-1"), res(AlreadyCancelled)),
				op(1, 15, 16, get(slotA, "BA-1"), res(Cancelled)),
				op(0, 17, 18, remaining(slotA), counted(1)),
				op(0, 19, 20, create(slotA, "CF2"), created("BA-2")),
				op(1, 21, 22, get(slotA, "BA-9"), res(NotFound)),
			},
			want: true,
		},
		{
			name: "concurrent creates for one place, the later call wins",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 10, create(slotA, "CF1"), res(SlotFull)),
				op(1, 2, 5, create(slotA, "CF2"), created("BA-2")),
			},
			want: true,
		},
		{
			name: "over-booked slot, overlapping creates",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 10, create(slotA, "CF1"), created("BA-1")),
				op(1, 2, 9, create(slotA, "CF2"), created("BA-2")),
			},
			want: false,
		},
		{
			name: "over-booked slot, sequential creates",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotA, "CF2"), created("BA-2")),
			},
			want: false,
		},
		{
			name: "capacity two holds two",
			spec: spec(2, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotA, "CF2"), created("BA-2")),
				op(2, 5, 6, create(slotA, "CF3"), res(SlotFull)),
				op(2, 7, 8, remaining(slotA), counted(0)),
			},
			want: true,
		},
		{
			name: "lost acknowledged booking",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, get(slotA, "BA-1"), res(NotFound)),
			},
			want: false,
		},
		{
			name: "acknowledged booking missing from the count",
			spec: spec(2, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, remaining(slotA), counted(2)),
			},
			want: false,
		},
		{
			name: "cancel of an acknowledged booking answers not found",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, cancel(slotA, "BA-1"), res(NotFound)),
			},
			want: false,
		},
		{
			name: "get answers another citizen",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, get(slotA, "BA-1"), Output{Result: Active, Start: slotA.Start, Citizen: "CF2"}),
			},
			want: false,
		},
		{
			name: "citizen booked twice across slots",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotB, "CF1"), created("BA-2")),
			},
			want: false,
		},
		{
			name: "no cap per citizen",
			spec: spec(1, 1, 0),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotB, "CF1"), created("BA-2")),
			},
			want: true,
		},
		{
			name: "slot full answered with room",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), res(SlotFull)),
			},
			want: false,
		},
		{
			name: "unknown create that took effect",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, inf, create(slotA, "CF1"), res(Unknown)),
				op(1, 3, 4, create(slotA, "CF2"), res(SlotFull)),
				op(1, 5, 6, remaining(slotA), counted(0)),
				op(2, 7, 8, create(slotB, "CF1"), res(AlreadyBooked)),
			},
			want: true,
		},
		{
			name: "unknown create that did not take effect",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, inf, create(slotA, "CF1"), res(Unknown)),
				op(1, 3, 4, create(slotA, "CF2"), created("BA-2")),
				op(2, 5, 6, create(slotB, "CF1"), created("BA-3")),
			},
			want: true,
		},
		{
			name: "unknown create cannot free a place it did not take",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, inf, create(slotA, "CF1"), res(Unknown)),
				op(1, 3, 4, remaining(slotA), counted(0)),
				op(1, 5, 6, remaining(slotA), counted(1)),
			},
			want: false,
		},
		{
			name: "unknown create cannot act before its call",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(1, 1, 2, create(slotA, "CF2"), res(SlotFull)),
				op(0, 3, inf, create(slotA, "CF1"), res(Unknown)),
			},
			want: false,
		},
		{
			name: "unknown cancel either way",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(0, 3, inf, cancel(slotA, "BA-1"), res(Unknown)),
				op(1, 4, 5, get(slotA, "BA-1"), res(Active)),
				op(2, 6, 7, get(slotA, "BA-1"), res(Cancelled)),
			},
			want: true,
		},
		{
			name: "unknown cancel cannot be undone",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(0, 3, inf, cancel(slotA, "BA-1"), res(Unknown)),
				op(1, 4, 5, get(slotA, "BA-1"), res(Cancelled)),
				op(2, 6, 7, get(slotA, "BA-1"), res(Active)),
			},
			want: false,
		},
		{
			name: "unknown and rejected reads match anything",
			spec: spec(1, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, get(slotA, "BA-1"), res(Unknown)),
				op(0, 3, 4, remaining(slotA), res(Unknown)),
				op(0, 5, 6, create(slotA, "CF1"), res(Rejected)),
				op(0, 7, 8, remaining(slotA), counted(1)),
			},
			want: true,
		},
		{
			name: "code issued twice",
			spec: spec(2, 1, 1),
			history: []porcupine.Operation{
				op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
				op(1, 3, 4, create(slotA, "CF2"), created("BA-1")),
			},
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := porcupine.CheckOperations(NewModel(tt.spec), numbered(tt.history))
			if got != tt.want {
				t.Errorf("linearizable: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartition(t *testing.T) {
	t.Parallel()
	slotC := Slot{Service: "cie", Start: "2027-03-11T09:40:00Z"}
	other := Slot{Service: "anagrafe", Start: "2027-03-11T09:00:00Z"}
	history := numbered([]porcupine.Operation{
		op(0, 1, 2, create(slotA, "CF1"), created("BA-1")),
		op(1, 1, 2, create(slotB, "CF1"), res(AlreadyBooked)), // CF1 joins A and B
		op(2, 1, 2, create(slotC, "CF2"), res(SlotFull)),
		op(3, 1, 2, create(other, "CF1"), created("BA-2")), // another service: its own part
		op(0, 3, 4, get(slotA, "BA-1"), res(Active)),
		op(1, 3, 4, remaining(slotC), counted(0)),
	})
	parts := partition(history)
	var sizes []int
	for _, p := range parts {
		sizes = append(sizes, len(p))
	}
	if len(parts) != 3 || sizes[0] != 3 || sizes[1] != 2 || sizes[2] != 1 {
		t.Errorf("partition sizes: got %v, want [3 2 1]", sizes)
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	spec := Spec{Capacity: map[Slot]int{slotA: 1}, MaxActivePerCitizen: 1}

	t.Run("concurrent clients, unknown writes return last", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder(spec)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := r.NewClient()
				id := r.Call(c, remaining(slotA))
				r.Return(id, counted(1))
				if i == 0 {
					r.Return(r.Call(c, create(slotA, "CF1")), res(Unknown))
				}
			}()
		}
		wg.Wait()
		pendingID := r.Call(r.NewClient(), get(slotA, "BA-1")) // never returns
		h := r.History()
		if len(h) != 10 {
			t.Fatalf("history: got %d operations, want 10", len(h))
		}
		var last int64
		for _, op := range h {
			if op.Input.(Input).Kind != Create && op.Input.(Input).Seq != pendingID {
				last = max(last, op.Return)
			}
		}
		for _, op := range h {
			in := op.Input.(Input)
			if in.Kind == Create || in.Seq == pendingID {
				if op.Return <= last || op.Output.(Output).Result != Unknown {
					t.Errorf("%v: return %d result %v, want after %d and unknown", in.Kind, op.Return, op.Output, last)
				}
			}
			if op.Call > op.Return {
				t.Errorf("%v: call %d after return %d", in.Kind, op.Call, op.Return)
			}
		}
		res, info, err := r.Check(10*time.Second, t.TempDir())
		if err != nil || res != porcupine.Ok {
			t.Errorf("check: got %v %v, want Ok", res, err)
		}
		if got := info.Stats["create"][Unknown]; got != 1 {
			t.Errorf("stats: got %d unknown creates, want 1 (%v)", got, info.Stats)
		}
	})

	t.Run("illegal history writes the visualization", func(t *testing.T) {
		t.Parallel()
		r := NewRecorder(spec)
		c := r.NewClient()
		r.Return(r.Call(c, create(slotA, "CF1")), created("BA-1"))
		r.Return(r.Call(c, create(slotA, "CF2")), created("BA-2"))
		dir := filepath.Join(t.TempDir(), "viz")
		res, info, err := r.Check(10*time.Second, dir)
		if err != nil {
			t.Fatal(err)
		}
		if res != porcupine.Illegal {
			t.Fatalf("check: got %v, want Illegal", res)
		}
		b, err := os.ReadFile(info.Visualization)
		if err != nil {
			t.Fatalf("visualization: %v", err)
		}
		if !strings.Contains(string(b), "BA-2") {
			t.Errorf("visualization does not show the operations")
		}
	})
}

func TestFakeFiscalCode(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		if cf := fakeFiscalCode(rnd); !booking.ValidFiscalCode(cf) {
			t.Fatalf("fakeFiscalCode: got %q, which booking.ValidFiscalCode rejects", cf)
		}
	}
}
