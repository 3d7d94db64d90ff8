package privacy

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Commands of the data keys.
const (
	CmdKeyCreate  = "privacy.key.create"
	CmdKeyDestroy = "privacy.key.destroy"
)

// KeysPurpose is the purpose string cmd/sportello passes to
// auth.Secrets.Derive for the key that seals the Comuni's data keys.
const KeysPurpose = "privacy data keys"

// Errors of the data keys.
var (
	// ErrKeyDestroyed is what opening data sealed under a key that was
	// destroyed (or never existed on this cluster) returns: the data is
	// unreadable for good.
	ErrKeyDestroyed = errors.New("privacy: the data key of this Comune was destroyed")
	// ErrNoWrapKey is returned by a Keys without a wrapping key (the node
	// has no secrets.key).
	ErrNoWrapKey = errors.New("privacy: no secrets.key to seal the data keys")
)

// sealMagic starts every value sealed under a data key; eight bytes, so
// that plain data (a document's chunk) starting with it by chance is out
// of the question. The key ID, the nonce and the AES-GCM ciphertext
// follow.
var sealMagic = []byte("SVSEAL1\x00")

const keyIDLen = 8

// Keys encrypts a Comune's most sensitive data (call documents) under the
// Comune's own data key: a random AES-256 key drawn by the proposer,
// sealed under a key derived from secrets.key and kept in the replicated
// state (privacy_keys). Destroying the key (DestroyKey, when the Comune
// is removed) leaves what it encrypted unreadable on every disk and in
// every backup, even those that keep the ciphertext.
type Keys struct {
	node Node
	db   *sql.DB
	wrap []byte
	rnd  io.Reader

	mu    sync.Mutex
	plain map[string][]byte // sealed row → data key, so each row is unsealed once
}

// NewKeys returns the data keys of the cluster. wrap is the 32-byte key
// that seals them (auth.Secrets.Derive(KeysPurpose)); without it every
// operation returns ErrNoWrapKey. rnd is crypto/rand.Reader when nil.
func NewKeys(node Node, db *sql.DB, wrap []byte, rnd io.Reader) *Keys {
	if rnd == nil {
		rnd = rand.Reader
	}
	return &Keys{node: node, db: db, wrap: wrap, rnd: rnd, plain: map[string][]byte{}}
}

// keyPayload is version 1 of privacy.key.create.
type keyPayload struct {
	KeyID  string `json:"key_id"`
	Sealed string `json:"sealed"`
}

// applyKeyCreate stores a Comune's data key unless it has one: the first
// key proposed wins, and every node then uses that one.
func applyKeyCreate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p keyPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" || len(p.KeyID) != 2*keyIDLen || p.Sealed == "" {
		return nil, ErrInvalid
	}
	_, err := tx.Exec(`INSERT INTO privacy_keys (tenant, key_id, sealed, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant) DO NOTHING`, cmd.Tenant, p.KeyID, p.Sealed, cmd.Time.UnixMilli())
	return nil, err
}

// applyKeyDestroy deletes a Comune's data key; it is recorded as an
// erasure so that every node compacts its files afterwards.
func applyKeyDestroy(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Tenant == "" {
		return nil, ErrInvalid
	}
	res, err := tx.Exec(`DELETE FROM privacy_keys WHERE tenant = ?`, cmd.Tenant)
	if err != nil {
		return nil, err
	}
	n, _ := res.RowsAffected()
	_, err = tx.Exec(`INSERT INTO privacy_erasures (cmd_index, at, tenant, kind, reason, counts, total)
		VALUES (?, ?, ?, 'tenant', 'data key destroyed', '{}', ?)`, int64(cmd.Index), cmd.Time.UnixMilli(), cmd.Tenant, n)
	return nil, err
}

// gcm returns AES-GCM under key.
func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// wrapAAD binds a sealed data key to its Comune and ID.
func wrapAAD(t tenant.ID, keyID string) []byte {
	return []byte("sportello privacy data key\x00" + string(t) + "\x00" + keyID)
}

// current returns the Comune's data key and its ID, or ok false when it
// has none.
func (k *Keys) current(ctx context.Context, t tenant.ID) (id string, key []byte, ok bool, err error) {
	var sealed string
	err = k.db.QueryRowContext(ctx, `SELECT key_id, sealed FROM privacy_keys WHERE tenant = ?`, t).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		// A key destroyed on another node leaves no unsealed copy in
		// this one's memory either.
		k.mu.Lock()
		clear(k.plain)
		k.mu.Unlock()
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("privacy: read data key: %w", err)
	}
	k.mu.Lock()
	key, cached := k.plain[sealed]
	k.mu.Unlock()
	if cached {
		return id, key, true, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return "", nil, false, fmt.Errorf("privacy: sealed data key of %s: %w", t, err)
	}
	g, err := gcm(k.wrap)
	if err != nil {
		return "", nil, false, err
	}
	if len(raw) < g.NonceSize() {
		return "", nil, false, fmt.Errorf("privacy: sealed data key of %s too short", t)
	}
	key, err = g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], wrapAAD(t, id))
	if err != nil {
		return "", nil, false, fmt.Errorf("privacy: the data key of %s does not open with this secrets.key", t)
	}
	k.mu.Lock()
	k.plain[sealed] = key
	k.mu.Unlock()
	return id, key, true, nil
}

// ensure returns the Comune's data key, creating it on first use.
func (k *Keys) ensure(ctx context.Context, t tenant.ID) (string, []byte, error) {
	if len(k.wrap) != 32 {
		return "", nil, ErrNoWrapKey
	}
	if id, key, ok, err := k.current(ctx, t); err != nil || ok {
		return id, key, err
	}
	key := make([]byte, 32)
	idb := make([]byte, keyIDLen)
	if _, err := io.ReadFull(k.rnd, key); err != nil {
		return "", nil, err
	}
	if _, err := io.ReadFull(k.rnd, idb); err != nil {
		return "", nil, err
	}
	id := hex.EncodeToString(idb)
	g, err := gcm(k.wrap)
	if err != nil {
		return "", nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(k.rnd, nonce); err != nil {
		return "", nil, err
	}
	sealed := base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, key, wrapAAD(t, id)))
	cmd, err := cluster.NewCommand(CmdKeyCreate, payloadVersion, string(t), keyPayload{KeyID: id, Sealed: sealed})
	if err != nil {
		return "", nil, err
	}
	if _, err := k.node.Propose(ctx, cmd); err != nil {
		return "", nil, fmt.Errorf("privacy: create data key: %w", err)
	}
	// Another node may have created one first: use whichever is stored.
	id, key, ok, err := k.current(ctx, t)
	if err == nil && !ok {
		err = ErrKeyDestroyed
	}
	return id, key, err
}

// Seal encrypts plain under Comune t's data key (created on first use);
// aad binds the result to its place (a document's ID and chunk number),
// so a sealed value moved elsewhere does not open.
func (k *Keys) Seal(ctx context.Context, t tenant.ID, aad string, plain []byte) ([]byte, error) {
	id, key, err := k.ensure(ctx, t)
	if err != nil {
		return nil, err
	}
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	idb, _ := hex.DecodeString(id)
	out := make([]byte, 0, len(sealMagic)+keyIDLen+g.NonceSize()+len(plain)+g.Overhead())
	out = append(out, sealMagic...)
	out = append(out, idb...)
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(k.rnd, nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return g.Seal(out, nonce, plain, []byte(string(t)+"\x00"+aad)), nil
}

// Sealed reports whether data was made by Seal.
func (k *Keys) Sealed(data []byte) bool { return bytes.HasPrefix(data, sealMagic) }

// Open decrypts what Seal made. A value sealed under a key the Comune no
// longer has is ErrKeyDestroyed.
func (k *Keys) Open(ctx context.Context, t tenant.ID, aad string, sealed []byte) ([]byte, error) {
	if !k.Sealed(sealed) || len(sealed) < len(sealMagic)+keyIDLen {
		return nil, errors.New("privacy: not a sealed value")
	}
	if len(k.wrap) != 32 {
		return nil, ErrNoWrapKey
	}
	id, key, ok, err := k.current(ctx, t)
	if err != nil {
		return nil, err
	}
	rest := sealed[len(sealMagic):]
	if !ok || hex.EncodeToString(rest[:keyIDLen]) != id {
		return nil, ErrKeyDestroyed
	}
	rest = rest[keyIDLen:]
	g, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(rest) < g.NonceSize() {
		return nil, errors.New("privacy: sealed value too short")
	}
	plain, err := g.Open(nil, rest[:g.NonceSize()], rest[g.NonceSize():], []byte(string(t)+"\x00"+aad))
	if err != nil {
		return nil, fmt.Errorf("privacy: sealed value of %s does not authenticate", t)
	}
	return plain, nil
}

// DestroyKey deletes Comune t's data key on every node (a replicated
// command): everything sealed under it becomes unreadable. Each node then
// compacts its files (RunCompactor), so the sealed key survives in no
// log entry or snapshot of the node; backups keep it until the backup
// retention drops them.
func (k *Keys) DestroyKey(ctx context.Context, t tenant.ID) error {
	if t == "" {
		return ErrInvalid
	}
	cmd, err := cluster.NewCommand(CmdKeyDestroy, payloadVersion, string(t), struct{}{})
	if err != nil {
		return err
	}
	if _, err := k.node.Propose(ctx, cmd); err != nil {
		return err
	}
	k.mu.Lock()
	clear(k.plain)
	k.mu.Unlock()
	return nil
}
