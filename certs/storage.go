package certs

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/certmagic"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
)

// MaxValueSize is the largest value Store accepts. Certificates, keys,
// account registrations and OCSP staples are a few kB; the bound keeps a
// mistake from putting megabytes in every node's log and state.
const MaxValueSize = 1 << 20

// sealPurpose names the derived key that seals private keys, and starts
// their additional data.
const sealPurpose = "certs.storage"

// reservedPrefix holds the package's own keys (the internal CA), which
// certmagic never uses; Store and Delete refuse it, so only the CA's own
// command writes there.
const reservedPrefix = "sportello"

// Storage is certmagic's Storage, Locker, TryLocker and LockLeaseRenewer
// on the replicated state: every node sees the same certificates, keys,
// ACME account and challenge tokens, and a lock taken on one node holds on
// all. Writes (Store, Delete, the lock commands) are commands proposed
// through the node; reads (Load, Exists, List, Stat) read the node's local
// SQLite, which holds the node's own writes as soon as they return.
// Values of private keys are sealed with AES-256-GCM under a key derived
// from the cluster's secrets. Safe for concurrent use.
type Storage struct {
	node    *cluster.Node
	sealKey []byte // nil without a secrets key
	now     func() time.Time
	// Logger receives the locks' refresh failures; set it before first
	// use. Nil discards.
	Logger *slog.Logger

	// Lock timing; NewStorage sets the defaults, tests of the package
	// may shorten them.
	lease, refresh, pollMin, pollMax time.Duration

	mu   sync.Mutex
	held map[string]*heldLock // locks this Storage holds, by name

	caMu sync.Mutex  // held while the internal CA is loaded or created
	ca   *internalCA // the internal CA, once loaded
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// NewStorage returns the storage of node's cluster. secrets seals the
// private keys (nil or keyless: storing or loading a private key fails
// with ErrNoSecretsKey, everything else works). now stamps lock leases
// (nil: time.Now).
func NewStorage(node *cluster.Node, secrets *auth.Secrets, now func() time.Time) *Storage {
	if now == nil {
		now = time.Now
	}
	return &Storage{
		node:    node,
		sealKey: secrets.Derive(sealPurpose),
		now:     now,
		lease:   defaultLease,
		refresh: defaultRefresh,
		pollMin: defaultPollMin,
		pollMax: defaultPollMax,
		held:    make(map[string]*heldLock),
	}
}

// String names the storage in certmagic's log lines.
func (s *Storage) String() string { return "certs.Storage(" + s.node.Config().NodeID + ")" }

func (s *Storage) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// cleanKey trims the slashes certmagic's keys should not have anyway.
func cleanKey(key string) string { return strings.Trim(key, "/") }

// checkKey refuses keys a file system would not take as a path below the
// storage's folder: empty, with empty, "." or ".." components, a NUL or
// invalid UTF-8, longer than 1 kB; and, unless internal, the reserved
// prefix.
func checkKey(key string, internal bool) error {
	if key == "" || len(key) > 1024 || !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	for c := range strings.SplitSeq(key, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("%w: %q", ErrBadKey, key)
		}
	}
	if !internal && (key == reservedPrefix || strings.HasPrefix(key, reservedPrefix+"/")) {
		return fmt.Errorf("%w: %q is reserved for Sportello's internal CA", ErrBadKey, key)
	}
	return nil
}

// isPrivateKey says whether a value is sealed: certmagic names private
// keys "….key" (site keys, the ACME account's "<user>.key" or
// "private.key") and moves compromised ones to "….key.compromised"; a
// value that is a PEM private key under any other name is sealed too.
func isPrivateKey(key string, value []byte) bool {
	base := path.Base(key)
	return strings.HasSuffix(base, ".key") || strings.Contains(base, ".key.") ||
		(bytes.Contains(value, []byte("-----BEGIN ")) && bytes.Contains(value, []byte("PRIVATE KEY-----")))
}

// aad binds a sealed value to its key: a sealed value copied under
// another key does not open.
func aad(key string) []byte { return []byte("sportello\x00" + sealPurpose + "\x00" + key) }

func (s *Storage) gcm() (cipher.AEAD, error) {
	if s.sealKey == nil {
		return nil, ErrNoSecretsKey
	}
	b, err := aes.NewCipher(s.sealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal encrypts value for key: a random nonce followed by the ciphertext
// and tag.
func (s *Storage) seal(key string, value []byte) ([]byte, error) {
	g, err := s.gcm()
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", key, err)
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(value)+g.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.Seal(nonce, nonce, value, aad(key)), nil
}

// open decrypts a value sealed for key.
func (s *Storage) open(key string, sealed []byte) ([]byte, error) {
	g, err := s.gcm()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, err)
	}
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, fmt.Errorf("load %s: %w (too short)", key, ErrSealed)
	}
	plain, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], aad(key))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", key, ErrSealed)
	}
	return plain, nil
}

// sealOverhead is what sealing adds to a value (nonce and tag of
// AES-GCM), so that Stat reports the size certmagic stored.
const sealOverhead = 12 + 16

// propose sends one command of the package and returns its outcome.
//
// It drops the request ID and the actor a web request may have put in
// ctx (certmagic passes the caller's context down, and a status page or a
// back-office handler may be that caller): certmagic makes several
// writes for one request, and under one request ID the second would get
// the first's recorded outcome instead of being applied; and storage
// bookkeeping is not an action of the person to write in the audit log.
func (s *Storage) propose(ctx context.Context, typ string, payload any) error {
	cmd, err := cluster.NewCommand(typ, payloadVersion, "", payload)
	if err != nil {
		return err
	}
	ctx = cluster.WithRequestID(cluster.WithActor(ctx, cluster.Actor{}), "", "")
	_, err = s.node.Propose(ctx, cmd)
	return err
}

// Store puts value at key (a command: replicated, and readable on this
// node when Store returns). Private keys are sealed first; without a
// secrets key their Store fails with ErrNoSecretsKey.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	key = cleanKey(key)
	if err := checkKey(key, false); err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("store %s: %w (%d bytes)", key, ErrTooLarge, len(value))
	}
	p := storePayload{Key: key, Value: value}
	if isPrivateKey(key, value) {
		sealed, err := s.seal(key, value)
		if err != nil {
			return err
		}
		p.Value, p.Sealed = sealed, true
	}
	if p.Value == nil {
		p.Value = []byte{}
	}
	if err := s.propose(ctx, CmdStore, p); err != nil {
		return fmt.Errorf("certs: store %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key from this node's state, or an error
// matching fs.ErrNotExist. A challenge token that is not here yet may be
// on its way (another node just stored it and the CA is asking this one
// already): for those, a miss waits until this node has applied every
// write committed in the cluster, and looks again.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	key = cleanKey(key)
	value, err := s.load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) && strings.Contains(key, "/challenge_tokens/") {
		if ferr := s.node.ReadFresh(ctx); ferr == nil {
			value, err = s.load(ctx, key)
		}
	}
	return value, err
}

func (s *Storage) load(ctx context.Context, key string) ([]byte, error) {
	var value []byte
	var sealed bool
	err := s.node.DB().QueryRowContext(ctx, `SELECT value, sealed FROM certs_kv WHERE key = ?`, key).Scan(&value, &sealed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("certs: %s: %w", key, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("certs: load %s: %w", key, err)
	case sealed:
		return s.open(key, value)
	}
	return value, nil
}

// Delete removes key and, if it is a directory, every key below it. A
// missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	key = cleanKey(key)
	if err := checkKey(key, false); err != nil {
		return err
	}
	if err := s.propose(ctx, CmdDelete, deletePayload{Key: key}); err != nil {
		return fmt.Errorf("certs: delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether key is a file or a directory (a prefix of other
// keys) in this node's state.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	key = cleanKey(key)
	q, args := `SELECT 1 FROM certs_kv LIMIT 1`, []any(nil)
	if key != "" {
		q, args = `SELECT 1 FROM certs_kv WHERE key = ? OR (key >= ? AND key < ?) LIMIT 1`, []any{key, key + "/", key + "0"}
	}
	var one int
	return s.node.DB().QueryRowContext(ctx, q, args...).Scan(&one) == nil
}

// below returns the keys below dir (all of them for dir ""), sorted.
func (s *Storage) below(ctx context.Context, dir string) ([]string, error) {
	q, args := `SELECT key FROM certs_kv ORDER BY key`, []any(nil)
	if dir != "" {
		q, args = `SELECT key FROM certs_kv WHERE key >= ? AND key < ? ORDER BY key`, []any{dir + "/", dir + "0"}
	}
	rows, err := s.node.DB().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// List returns the keys in dir, as certmagic's FileStorage does: without
// recursive the files and directories directly in it; with recursive
// every file and directory below it, at any depth. A dir that does not
// exist gives an error matching fs.ErrNotExist; a file gives no keys.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	dir = cleanKey(dir)
	keys, err := s.below(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("certs: list %s: %w", dir, err)
	}
	if len(keys) == 0 {
		if dir != "" && s.Exists(ctx, dir) {
			return nil, nil // a file, as os.Walk of a file lists nothing
		}
		if dir != "" {
			return nil, fmt.Errorf("certs: list %s: %w", dir, fs.ErrNotExist)
		}
		return nil, nil
	}
	start := 0
	if dir != "" {
		start = len(dir) + 1
	}
	seen := make(map[string]bool)
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rest := k[start:]
		if !recursive {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[:i]
			}
			add(k[:start] + rest)
			continue
		}
		// Every directory on the way down, then the file itself.
		for i := strings.IndexByte(rest, '/'); i >= 0; i = nextSlash(rest, i) {
			add(k[:start+i])
		}
		add(k)
	}
	slices.SortFunc(out, comparePaths)
	return out, nil
}

// comparePaths orders keys as a walk of a folder does: component by
// component, so that "a/b/c" comes right after "a/b" and before "a/b.x".
func comparePaths(a, b string) int {
	for {
		ca, ra, moreA := strings.Cut(a, "/")
		cb, rb, moreB := strings.Cut(b, "/")
		if c := strings.Compare(ca, cb); c != 0 {
			return c
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = ra, rb
	}
}

// Stat describes key: a file with its size (as stored by certmagic,
// before sealing) and the leader's time of its last Store, or a directory
// (IsTerminal false) whose Modified is that of the newest file below it,
// which is what certmagic's choice of the newest ACME account reads.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = cleanKey(key)
	db := s.node.DB()
	var size, modified int64
	var sealed bool
	err := db.QueryRowContext(ctx, `SELECT length(value), sealed, modified FROM certs_kv WHERE key = ?`, key).Scan(&size, &sealed, &modified)
	switch {
	case err == nil:
		if sealed {
			size = max(size-sealOverhead, 0)
		}
		return certmagic.KeyInfo{Key: key, Size: size, Modified: time.UnixMilli(modified), IsTerminal: true}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return certmagic.KeyInfo{}, fmt.Errorf("certs: stat %s: %w", key, err)
	}
	var newest sql.NullInt64
	q, args := `SELECT max(modified) FROM certs_kv`, []any(nil)
	if key != "" {
		q, args = `SELECT max(modified) FROM certs_kv WHERE key >= ? AND key < ?`, []any{key + "/", key + "0"}
	}
	if err := db.QueryRowContext(ctx, q, args...).Scan(&newest); err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("certs: stat %s: %w", key, err)
	}
	if !newest.Valid {
		return certmagic.KeyInfo{}, fmt.Errorf("certs: %s: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{Key: key, Modified: time.UnixMilli(newest.Int64)}, nil
}
