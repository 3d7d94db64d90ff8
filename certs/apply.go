package certs

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Command types of the storage, the locks and the internal CA.
const (
	CmdStore       = "certs.kv.store"
	CmdDelete      = "certs.kv.delete"
	CmdLockAcquire = "certs.lock.acquire"
	CmdLockRefresh = "certs.lock.refresh"
	CmdLockRelease = "certs.lock.release"
	CmdCAEnsure    = "certs.ca.ensure"
)

// payloadVersion is the newest payload version of every command above.
const payloadVersion = 1

// Errors of the storage. They are registered with the cluster's error
// codec, so a command refused on the leader matches them (errors.Is) on
// the follower that forwarded it too.
var (
	// ErrBadKey: the key is empty, has empty, "." or ".." components or
	// characters a storage key must not have, or is reserved.
	ErrBadKey = errors.New("certs: invalid storage key")
	// ErrTooLarge: the value is larger than MaxValueSize.
	ErrTooLarge = errors.New("certs: value larger than 1 MiB")
	// ErrKeyConflict: the key is a directory already (other keys are
	// below it), or one of its parents is a file; a file system refuses
	// both, and certmagic's own FileStorage with it.
	ErrKeyConflict = errors.New("certs: key conflicts with an existing file or directory")
	// ErrLockHeld: another holder has the lock and its lease runs.
	ErrLockHeld = errors.New("certs: lock held by another holder")
	// ErrLockLost: a refresh found the lock held by somebody else or
	// released (its lease expired and another node took it).
	ErrLockLost = errors.New("certs: lock no longer held by this holder")
	// ErrNoSecretsKey: the node has no secrets key, so it can neither
	// seal a private key nor open a stored one.
	ErrNoSecretsKey = errors.New("certs: this node has no secrets key (secrets.key): private keys of certificates cannot be sealed or opened; copy the file from the node that initialised the cluster")
	// ErrSealed: a sealed value does not open with this node's secrets
	// key (another key, or the value was altered or moved).
	ErrSealed = errors.New("certs: a sealed private key does not open with this node's secrets key")
)

// Register adds the package's commands, errors and schema to reg
// (component "certs").
func Register(reg *cluster.Registry) {
	reg.Migrate(Migrations()...)
	reg.RegisterError("certs.bad_key", ErrBadKey)
	reg.RegisterError("certs.too_large", ErrTooLarge)
	reg.RegisterError("certs.key_conflict", ErrKeyConflict)
	reg.RegisterError("certs.lock_held", ErrLockHeld)
	reg.RegisterError("certs.lock_lost", ErrLockLost)
	reg.Handle(CmdStore, payloadVersion, applyStore)
	reg.Handle(CmdDelete, payloadVersion, applyDelete)
	reg.Handle(CmdLockAcquire, payloadVersion, applyAcquire)
	reg.Handle(CmdLockRefresh, payloadVersion, applyRefresh)
	reg.Handle(CmdLockRelease, payloadVersion, applyRelease)
	reg.Handle(CmdCAEnsure, payloadVersion, applyCAEnsure)
}

// storePayload is version 1 of certs.kv.store. Value is what the table
// holds: for a sealed value, the nonce and the AES-GCM ciphertext made by
// the proposer (apply never seals: it has neither randomness nor the key).
type storePayload struct {
	Key    string `json:"key"`
	Value  []byte `json:"value"`
	Sealed bool   `json:"sealed,omitempty"`
}

// deletePayload is version 1 of certs.kv.delete.
type deletePayload struct {
	Key string `json:"key"`
}

// lockPayload is version 1 of the three lock commands. Now and Expires
// are the proposer's clock in Unix milliseconds: the proposer decides
// when a lease ends, and apply compares two stamped values, never a
// clock of its own.
type lockPayload struct {
	Name    string `json:"name"`
	Holder  string `json:"holder"`
	Now     int64  `json:"now,omitempty"`
	Expires int64  `json:"expires,omitempty"`
}

// caPayload is version 1 of certs.ca.ensure: the root certificate in PEM
// and its private key, PEM sealed by the proposer.
type caPayload struct {
	CertPEM   []byte `json:"cert_pem"`
	SealedKey []byte `json:"sealed_key"`
}

// maxStored bounds a stored value in apply: MaxValueSize plus what
// sealing adds, with room to spare.
const maxStored = MaxValueSize + 256

func applyStore(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p storePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if err := checkKey(p.Key, false); err != nil {
		return nil, err
	}
	if len(p.Value) > maxStored {
		return nil, ErrTooLarge
	}
	if err := putValue(tx, p.Key, p.Value, p.Sealed, cmd.Time.UnixMilli()); err != nil {
		return nil, err
	}
	return nil, nil
}

// putValue writes one file, refusing a key that is a directory or lies
// below a file (checked in apply, so every node refuses alike).
func putValue(tx *sql.Tx, key string, value []byte, sealed bool, modified int64) error {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM certs_kv WHERE key >= ? AND key < ? LIMIT 1`, key+"/", key+"0").Scan(&one)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %q is a directory", ErrKeyConflict, key)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	for i := strings.IndexByte(key, '/'); i >= 0; i = nextSlash(key, i) {
		err := tx.QueryRow(`SELECT 1 FROM certs_kv WHERE key = ?`, key[:i]).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %q is a file", ErrKeyConflict, key[:i])
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
	}
	_, err = tx.Exec(`INSERT INTO certs_kv (key, value, sealed, modified) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, sealed = excluded.sealed, modified = excluded.modified`,
		key, value, sealed, modified)
	return err
}

// nextSlash returns the index of the next '/' in key after i, or -1.
func nextSlash(key string, i int) int {
	j := strings.IndexByte(key[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// applyDelete removes the key and, as a directory, everything below it,
// like os.RemoveAll in certmagic's FileStorage. A missing key is not an
// error.
func applyDelete(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p deletePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if err := checkKey(p.Key, false); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`DELETE FROM certs_kv WHERE key = ? OR (key >= ? AND key < ?)`, p.Key, p.Key+"/", p.Key+"0")
	return nil, err
}

// applyAcquire grants the lock when nobody holds it, when its lease
// ended before the proposer's now, or when the proposer holds it already.
func applyAcquire(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p lockPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if p.Name == "" || p.Holder == "" || p.Expires <= p.Now {
		return nil, errors.New("certs: lock acquire without name, holder or a lease")
	}
	var holder string
	var expires int64
	err := tx.QueryRow(`SELECT holder, expires FROM certs_locks WHERE name = ?`, p.Name).Scan(&holder, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case holder != p.Holder && expires > p.Now:
		return nil, fmt.Errorf("%w: %q", ErrLockHeld, p.Name)
	}
	_, err = tx.Exec(`INSERT INTO certs_locks (name, holder, expires) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires`,
		p.Name, p.Holder, p.Expires)
	return nil, err
}

// applyRefresh moves the end of the lease of a lock its holder still
// has. A lease that ended but was not taken over is still the holder's:
// nobody else ran in between.
func applyRefresh(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p lockPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	res, err := tx.Exec(`UPDATE certs_locks SET expires = ? WHERE name = ? AND holder = ?`, p.Expires, p.Name, p.Holder)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, fmt.Errorf("%w: %q", ErrLockLost, p.Name)
	}
	return nil, nil
}

// applyRelease deletes the lock only if the proposer holds it: a late
// Unlock of a holder whose lease was taken over leaves the new holder's
// lock alone.
func applyRelease(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p lockPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	_, err := tx.Exec(`DELETE FROM certs_locks WHERE name = ? AND holder = ?`, p.Name, p.Holder)
	return nil, err
}

// applyCAEnsure stores the proposed root and its sealed key unless a root
// is stored already: the first command applied wins on every node,
// whichever node proposed it.
func applyCAEnsure(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p caPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if len(p.CertPEM) == 0 || len(p.SealedKey) == 0 {
		return nil, errors.New("certs: internal CA without certificate or key")
	}
	var one int
	err := tx.QueryRow(`SELECT 1 FROM certs_kv WHERE key = ?`, caCertKey).Scan(&one)
	switch {
	case err == nil:
		return nil, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	if err := putValue(tx, caCertKey, p.CertPEM, false, cmd.Time.UnixMilli()); err != nil {
		return nil, err
	}
	if err := putValue(tx, caKeyKey, p.SealedKey, true, cmd.Time.UnixMilli()); err != nil {
		return nil, err
	}
	return nil, nil
}
