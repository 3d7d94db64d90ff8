package media

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
)

// ICEServer is one entry of RTCConfiguration.iceServers, as the browser
// takes it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// turnSecretBytes is the size of a TURN REST secret.
const turnSecretBytes = 32

// sealedTURNPrefix marks the format of a sealed TURN secret.
const sealedTURNPrefix = "v1:"

// turnCache holds the decoded secrets with the applied index they were
// checked at and the newest secret's sequence (its log index).
type turnCache struct {
	index   uint64
	newest  int64
	secrets [][]byte
}

// turnAEAD returns the cipher that seals TURN secrets, under a key derived
// from the cluster's secrets key (the same on every node).
func (rs *Rooms) turnAEAD() (cipher.AEAD, error) {
	key := rs.secrets.Derive("media.turn")
	if key == nil {
		return nil, fmt.Errorf("media: TURN secrets: %w", auth.ErrNoSecretsKey)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// turnAAD binds a sealed secret to its row: a sealed value copied onto
// another row does not open.
func turnAAD(id string) []byte { return []byte("sportello media.turn\x00" + id) }

// sealTURN encrypts a secret in the proposer, so that the log, snapshots and
// backups hold it only sealed.
func (rs *Rooms) sealTURN(id string, secret []byte) (string, error) {
	g, err := rs.turnAEAD()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return sealedTURNPrefix + base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, secret, turnAAD(id))), nil
}

// openTURN decrypts a sealed secret of row id.
func (rs *Rooms) openTURN(id, sealed string) ([]byte, error) {
	g, err := rs.turnAEAD()
	if err != nil {
		return nil, err
	}
	body, ok := strings.CutPrefix(sealed, sealedTURNPrefix)
	ct, derr := base64.RawURLEncoding.DecodeString(body)
	if !ok || derr != nil || len(ct) < g.NonceSize() {
		return nil, fmt.Errorf("media: TURN secret %s: malformed", id)
	}
	plain, err := g.Open(nil, ct[:g.NonceSize()], ct[g.NonceSize():], turnAAD(id))
	if err != nil {
		return nil, fmt.Errorf("%w: TURN secret %s does not authenticate", auth.ErrWrongSecretsKey, id)
	}
	return plain, nil
}

// turnRow is one stored secret.
type turnRow struct {
	id, sealed string
	created    time.Time
}

// turnRows reads the stored secrets, newest first.
func (rs *Rooms) turnRows(ctx context.Context) ([]turnRow, error) {
	rows, err := rs.node.DB().QueryContext(ctx, `SELECT id, created, sealed FROM media_turn_secrets ORDER BY seq DESC LIMIT 2`)
	if err != nil {
		return nil, fmt.Errorf("read TURN secrets: %w", err)
	}
	defer rows.Close()
	var out []turnRow
	for rows.Next() {
		var r turnRow
		var created int64
		if err := rows.Scan(&r.id, &created, &r.sealed); err != nil {
			return nil, fmt.Errorf("read TURN secrets: %w", err)
		}
		r.created = fromMillis(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// TURNSecrets returns the TURN REST secrets from the replicated state,
// decoded: the current first, then the previous one (none before the first
// rotation). The TURN server accepts credentials made with either. The
// result is shared: callers must not modify it.
func (rs *Rooms) TURNSecrets(ctx context.Context) ([][]byte, error) {
	rs.turnMu.Lock()
	defer rs.turnMu.Unlock()
	// The TURN server asks at every authenticated request. Nothing was
	// applied since the last look: the answer stands. Something was: one
	// indexed lookup says whether it was a rotation, and only then are
	// the secrets read and opened again.
	idx := rs.node.AppliedIndex()
	c := rs.turnCache
	if c.secrets != nil && c.index == idx {
		return c.secrets, nil
	}
	var newest int64
	if err := rs.node.DB().QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM media_turn_secrets`).Scan(&newest); err != nil {
		return nil, fmt.Errorf("read TURN secrets: %w", err)
	}
	if c.secrets != nil && c.newest == newest {
		rs.turnCache.index = idx
		return c.secrets, nil
	}
	rows, err := rs.turnRows(ctx)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(rows))
	for _, r := range rows {
		s, err := rs.openTURN(r.id, r.sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	// The index is read before the rows: a rotation applied in between
	// makes the next call look again rather than miss it.
	rs.turnCache = turnCache{index: idx, newest: newest, secrets: out}
	return out, nil
}

// TURNSecretsFunc adapts TURNSecrets to media/turn's Config.Secrets: each
// call reads with a short timeout, and on a read error answers with the
// secrets it read last (nil before any), so a slow disk does not fail
// every allocation.
func (rs *Rooms) TURNSecretsFunc() func() [][]byte {
	return func() [][]byte {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := rs.TURNSecrets(ctx)
		if err != nil {
			rs.turnMu.Lock()
			s = rs.turnCache.secrets
			rs.turnMu.Unlock()
		}
		return s
	}
}

// RotateTURN proposes a new TURN secret when the current one is older than
// every by the Rooms' clock, or when there is none (every <= 0 rotates at
// once: after a suspected leak, for instance). It is the leader
// worker's (every few hours, with every = a day for instance); from any
// node it is safe too: the command names the secret it replaces, and apply
// ignores it when another rotation got there first.
func (rs *Rooms) RotateTURN(ctx context.Context, every time.Duration) error {
	rows, err := rs.turnRows(ctx)
	if err != nil {
		return err
	}
	after := ""
	if len(rows) > 0 {
		if every > 0 && rs.now().Sub(rows[0].created) < every {
			return nil
		}
		after = rows[0].id
	}
	return rs.rotate(ctx, after)
}

// rotate proposes a fresh secret that replaces the newest one, after.
func (rs *Rooms) rotate(ctx context.Context, after string) error {
	secret := make([]byte, turnSecretBytes)
	rand.Read(secret)
	id := rand.Text()
	sealed, err := rs.sealTURN(id, secret)
	if err != nil {
		return err
	}
	cmd, err := cluster.NewCommand(CmdRotate, payloadVersion, "", rotatePayload{ID: id, After: after, Sealed: sealed})
	if err != nil {
		return err
	}
	if _, err := rs.node.Propose(ctx, cmd); err != nil {
		return err
	}
	rs.turnMu.Lock()
	rs.turnCache = turnCache{}
	rs.turnMu.Unlock()
	return nil
}

// ICEServers returns the ICE servers a participant needs: one entry with
// urls (the TURN and STUN URLs of the cluster, "turn:host:3478",
// "turns:host:5349"...) and REST credentials for user valid for ttl, made
// with the current secret. With no secret yet (the leader worker has not
// run) it creates the first one. user must not be empty or hold ':' (the
// separator of the REST username). No URLs, no servers.
func (rs *Rooms) ICEServers(ctx context.Context, user string, urls []string, ttl time.Duration) ([]ICEServer, error) {
	if user == "" || strings.Contains(user, ":") || ttl <= 0 {
		return nil, fmt.Errorf("%w: TURN user %q, ttl %s", ErrInvalid, user, ttl)
	}
	if len(urls) == 0 {
		return []ICEServer{}, nil
	}
	secrets, err := rs.TURNSecrets(ctx)
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		if err := rs.rotate(ctx, ""); err != nil {
			return nil, err
		}
		if secrets, err = rs.TURNSecrets(ctx); err != nil {
			return nil, err
		}
		if len(secrets) == 0 {
			return nil, errors.New("media: no TURN secret after creating one")
		}
	}
	username, password := restCredentials(secrets[0], user, rs.now().Add(ttl))
	return []ICEServer{{URLs: append([]string(nil), urls...), Username: username, Credential: password}}, nil
}

// restCredentials is the TURN REST scheme of coturn's use-auth-secret (and
// media/turn.Credentials): the username is "<expiry unix>:<user>", the
// password base64(HMAC-SHA1(secret, username)). The TURN server recomputes
// the password from the username and refuses it after the expiry.
func restCredentials(secret []byte, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}
