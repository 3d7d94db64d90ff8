// Package lincheck checks that the booking API of Sportello is
// linearizable, also under faults, with the porcupine checker
// (github.com/anishathalye/porcupine): it records a history of concurrent
// requests against one or more nodes and asks porcupine whether some
// sequential order of those requests, respecting their real-time order,
// explains every answer the clients got.
//
// # Model
//
// The model is the booking store as the public API shows it. The state is
// every booking the history made, each with its code, its slot (service id
// and start), the citizen's fiscal code and whether it is active. Each slot
// has a capacity (Spec.Capacity: its free places when the history begins)
// and each citizen may hold at most Spec.MaxActivePerCitizen active
// bookings per service. The operations are:
//
//   - Create(slot, fiscal code) → created with a code (the slot had room,
//     the citizen was under the cap, the code is new), slot_full (the slot
//     was full), already_booked (the citizen was at the cap);
//   - Cancel(code, token) → ok (the booking was active and is now
//     cancelled), already_cancelled, not_found (no such booking);
//   - Get(code, token) → active or cancelled, with the booking's start and
//     fiscal code, or not_found;
//   - Remaining(slot) → the slot's free places, capacity minus active
//     bookings, from the slot listing.
//
// Any operation may also answer rejected (a 4xx such as 422 or 429: the
// server refused before changing anything; a 503 unavailable, by which the
// API promises the write reached no leader; or no connection could be
// made, as to a node that is down; a no-op in any state) or unknown
// (timeout, connection lost, 503 outcome_unknown and other 5xx, unreadable
// body).
//
// # Unknown outcomes
//
// A write with an unknown outcome may have taken effect at any moment after
// its call, or never. As porcupine expects, it is recorded as an operation
// that never returns: its return time is the end of the history. The model
// applies an unknown Create or Cancel when it can (an unknown Create that
// succeeds holds a place under a made-up code nobody can cancel); "it never
// happened" is the same operation linearized last, after every other one.
// An unknown read returns when it did and matches any state. A client that
// saw an unknown write continues under a new client id, since porcupine's
// clients run one operation at a time.
//
// # Partitions
//
// The history is split into independent parts before checking: slots
// joined by a citizen who books in both (the per-citizen cap couples them)
// stay together, every other slot is a part of its own. Cancel and Get
// carry the slot of their booking, so they fall in its part. The driver
// gives each slot its own citizens, so every slot is checked on its own,
// which keeps checking fast. Remaining reads one slot, so the atomicity of
// a whole listing across slots is not checked.
//
// # Parts
//
// NewModel is the porcupine model; Recorder records a history safely from
// many goroutines and checks it, writing porcupine's HTML visualization on
// failure; Drive runs clients against the HTTP API of one or more nodes and
// returns their Recorder, whose Acknowledged lists the bookings a client
// saw created, to look for on every node afterwards. The package talks only HTTP to the system under
// test and imports nothing of it, so a test here can check a cluster of
// real sportello processes.
package lincheck
