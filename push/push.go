package push

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
)

// CmdEnsureVAPID stores the cluster's VAPID key pair unless one is
// stored already; its result is the stored pair.
const CmdEnsureVAPID = "push.vapid.ensure"

// ensureVersion is the payload version of CmdEnsureVAPID.
const ensureVersion = 1

// sealPurpose names both the derived sealing key and the AAD of the
// sealed private key, so that a value sealed for another use under the
// same secrets file does not open here.
const sealPurpose = "push.vapid"

// sealedPrefix marks the format of sealed_private: "v1:" then base64url
// of the 12-byte nonce followed by the AES-256-GCM ciphertext and tag.
const sealedPrefix = "v1:"

// Errors of the package.
var (
	// ErrNoSecretsKey: the node has no secrets key, so it can neither
	// seal a new VAPID key nor open the stored one.
	ErrNoSecretsKey = errors.New("push: this node has no secrets key (secrets.key), Web Push cannot sign messages")
	// ErrSealedKey: the stored private key does not open with this
	// node's secrets key (another key, or altered).
	ErrSealedKey = errors.New("push: the stored VAPID key does not open with this node's secrets key")
)

// schemaV1 holds the single VAPID key pair of the cluster. The CHECK
// makes "one pair per cluster" a property of the table, not only of the
// apply function. It has no tenant column: the key pair belongs to the
// whole installation, as the push services identify the server, not a
// Comune.
const schemaV1 = `
CREATE TABLE push_vapid (
	id             INTEGER PRIMARY KEY CHECK (id = 1),
	public_key     TEXT NOT NULL,
	sealed_private TEXT NOT NULL,
	created        INTEGER NOT NULL
);
`

// Migrations returns the package's schema steps (component "push").
func Migrations() []cluster.Migration {
	return []cluster.Migration{{Component: "push", Version: 1, SQL: schemaV1}}
}

// Register adds the command and its migration to reg.
func Register(reg *cluster.Registry) {
	reg.Migrate(Migrations()...)
	reg.Handle(CmdEnsureVAPID, ensureVersion, applyEnsure)
	reg.HandleResult(CmdEnsureVAPID, func(raw json.RawMessage) (any, error) {
		var p stored
		err := json.Unmarshal(raw, &p)
		return p, err
	})
}

// stored is a key pair as the table holds it; it is also the payload of
// CmdEnsureVAPID (Created then empty: apply stamps the command's time).
type stored struct {
	PublicKey     string `json:"public_key"`
	SealedPrivate string `json:"sealed_private"`
	Created       int64  `json:"created,omitempty"`
}

// applyEnsure inserts the proposed pair if the table is empty and
// returns the pair stored: the first command applied wins on every node,
// whatever order the proposers ran in.
func applyEnsure(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p stored
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if p.PublicKey == "" || !strings.HasPrefix(p.SealedPrivate, sealedPrefix) {
		return nil, errors.New("push: empty or unsealed VAPID key proposed")
	}
	if _, err := tx.Exec(`INSERT INTO push_vapid (id, public_key, sealed_private, created)
		VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		p.PublicKey, p.SealedPrivate, cmd.Time.Unix()); err != nil {
		return nil, err
	}
	var s stored
	err := tx.QueryRow(`SELECT public_key, sealed_private, created FROM push_vapid WHERE id = 1`).
		Scan(&s.PublicKey, &s.SealedPrivate, &s.Created)
	return s, err
}

// Keys gives the cluster's VAPID identity. The first successful call
// loads (or creates) the key and caches it; the key never changes after,
// so later calls do not touch the database. Safe for concurrent use.
type Keys struct {
	node    *cluster.Node
	sealKey []byte // nil without a secrets key
	subject string

	mu  sync.Mutex // held while loading, so one node proposes once
	key *ecdsa.PrivateKey
}

// NewKeys returns the VAPID keys of node's cluster. secrets seals the
// private key (nil or keyless: VAPID returns ErrNoSecretsKey). subject is
// the contact the push services see ("mailto:<admin>" or an https URL).
func NewKeys(node *cluster.Node, secrets *auth.Secrets, subject string) *Keys {
	return &Keys{node: node, sealKey: secrets.Derive(sealPurpose), subject: subject}
}

// VAPID returns the cluster's identity, creating the key pair on first
// use. It refuses a subject that is neither "mailto:" nor an https URL:
// the push services would refuse every message signed with it.
func (k *Keys) VAPID(ctx context.Context) (webpush.VAPID, error) {
	if !strings.HasPrefix(k.subject, "mailto:") && !strings.HasPrefix(k.subject, "https://") {
		return webpush.VAPID{}, fmt.Errorf("push: VAPID subject %q is neither mailto:<address> nor an https URL", k.subject)
	}
	key, err := k.load(ctx)
	if err != nil {
		return webpush.VAPID{}, err
	}
	return webpush.VAPID{Key: key, Subject: k.subject}, nil
}

// PublicKey returns the applicationServerKey the pages give to
// pushManager.subscribe, creating the key pair on first use.
func (k *Keys) PublicKey(ctx context.Context) (string, error) {
	key, err := k.load(ctx)
	if err != nil {
		return "", err
	}
	return webpush.PublicKey(key), nil
}

// load returns the cached key, or reads the stored one, or proposes a
// new one and opens whichever the cluster kept.
func (k *Keys) load(ctx context.Context) (*ecdsa.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key != nil {
		return k.key, nil
	}
	if k.sealKey == nil {
		return nil, ErrNoSecretsKey
	}
	s, found, err := k.read(ctx)
	if err != nil {
		return nil, err
	}
	if !found {
		if s, err = k.propose(ctx); err != nil {
			return nil, err
		}
	}
	key, err := k.open(s)
	if err != nil {
		return nil, err
	}
	k.key = key
	return key, nil
}

// read returns the stored pair from this node's state. A node that has
// not applied the pair yet answers "not found": the proposal that
// follows then returns the stored pair, at the cost of one key made for
// nothing.
func (k *Keys) read(ctx context.Context) (stored, bool, error) {
	var s stored
	err := k.node.DB().QueryRowContext(ctx,
		`SELECT public_key, sealed_private, created FROM push_vapid WHERE id = 1`).
		Scan(&s.PublicKey, &s.SealedPrivate, &s.Created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s, false, nil
	case err != nil:
		return s, false, fmt.Errorf("push: read VAPID key: %w", err)
	}
	return s, true, nil
}

// propose makes a key pair, seals it and proposes it; the result is the
// pair the cluster kept, this one or an earlier one.
func (k *Keys) propose(ctx context.Context) (stored, error) {
	key, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		return stored{}, fmt.Errorf("push: generate VAPID key: %w", err)
	}
	sealed, err := k.seal(key)
	if err != nil {
		return stored{}, err
	}
	cmd, err := cluster.NewCommand(CmdEnsureVAPID, ensureVersion, "",
		stored{PublicKey: webpush.PublicKey(key), SealedPrivate: sealed})
	if err != nil {
		return stored{}, err
	}
	res, err := k.node.Propose(ctx, cmd)
	if err != nil {
		return stored{}, fmt.Errorf("push: store VAPID key: %w", err)
	}
	s, ok := res.Value.(stored)
	if !ok {
		return stored{}, fmt.Errorf("push: store VAPID key: unexpected result %T", res.Value)
	}
	return s, nil
}

func (k *Keys) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(k.sealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// seal encrypts key's private scalar with AES-256-GCM under the derived
// key, a random nonce and sealPurpose as additional data.
func (k *Keys) seal(key *ecdsa.PrivateKey) (string, error) {
	raw, err := key.Bytes()
	if err != nil {
		return "", fmt.Errorf("push: encode VAPID key: %w", err)
	}
	aead, err := k.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, raw, []byte(sealPurpose))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// open decrypts the stored private key and checks it against the stored
// public key.
func (k *Keys) open(s stored) (*ecdsa.PrivateKey, error) {
	b64, ok := strings.CutPrefix(s.SealedPrivate, sealedPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: unknown format", ErrSealedKey)
	}
	data, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealedKey, err)
	}
	aead, err := k.gcm()
	if err != nil {
		return nil, err
	}
	if len(data) < aead.NonceSize() {
		return nil, ErrSealedKey
	}
	raw, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(sealPurpose))
	if err != nil {
		return nil, ErrSealedKey
	}
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealedKey, err)
	}
	if webpush.PublicKey(key) != s.PublicKey {
		return nil, fmt.Errorf("%w: private and public keys differ", ErrSealedKey)
	}
	return key, nil
}
