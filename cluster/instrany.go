package cluster

// int sportello_register_instr_any(void);
import "C"

import "fmt"

// InstrAnyFunc is the name of an SQL function that every connection of
// the process has once a node has opened its database:
// sportello_instr_any(haystack, needle, ...) is 1 when
// instr(lower(CAST(haystack AS TEXT)), lower(needle)) > 0 for some needle,
// and 0 otherwise (also for a NULL haystack; a NULL needle matches
// nothing). lower() here is SQLite's own, which folds ASCII letters only.
//
// It is the same answer in one pass over the value. A citizen's erasure
// looks for the citizen's codes, email and codice fiscale in every outbox
// row and recorded request of the database (privacy/erase.go): with one
// instr(lower(...)) per text that read and folded the whole outbox once
// per text, inside apply on every node (1.2 s for a citizen with three
// bookings over 100 000 outbox rows). Because the answer is the same, a
// node that runs the older statements deletes the same rows.
const InstrAnyFunc = "sportello_instr_any"

// registerInstrAny registers InstrAnyFunc for every connection opened
// from now on, once per process (SQLite keeps its automatic extensions
// in a process-wide list).
func registerInstrAny() error {
	if rc := C.sportello_register_instr_any(); rc != 0 {
		return fmt.Errorf("cluster: register the SQL function %s: code %d", InstrAnyFunc, int(rc))
	}
	return nil
}
