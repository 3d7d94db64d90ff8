package media

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Guest invites. An operator invites a colleague or an interpreter with
// a link that carries a room token of role guest; the token alone would
// be valid until the room closes, and ending the room was the only way
// to stop it. The invite is therefore recorded in the replicated state
// when it is made, and Admit lets a guest token in only while its
// invite is recorded and not revoked: revoking one invite (RevokeInvite)
// stops its link on every node without ending the call for the others.

// Command types of the invites.
const (
	CmdInvite = "media.invite.add"
	CmdRevoke = "media.invite.revoke"
)

// ErrRevoked: the guest's invite was revoked by the operator.
var ErrRevoked = errors.New("media: invite revoked")

// maxGuestName bounds the name an invite records.
const maxGuestName = 100

// Invite is one guest invited into a room.
type Invite struct {
	Room    string    `json:"room"`
	Subject string    `json:"subject"` // the token's subject: the guest's participant ID
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked time.Time `json:"revoked,omitzero"`
}

// Active reports whether the invite still lets its guest in (at now).
func (i Invite) Active(now time.Time) bool { return i.Revoked.IsZero() && now.Before(i.Expires) }

// schemaV2 adds the invites and the nodes' advertisements (nodes.go).
// Invite keys start with the tenant and the room: an invite belongs to
// one room of one Comune.
const schemaV2 = `
CREATE TABLE media_invites (
	tenant  TEXT NOT NULL,
	room    TEXT NOT NULL,
	subject TEXT NOT NULL,
	name    TEXT NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	revoked INTEGER NOT NULL,
	PRIMARY KEY (tenant, room, subject)
) WITHOUT ROWID;

CREATE TABLE media_nodes (
	node      TEXT PRIMARY KEY,
	turn_urls TEXT NOT NULL,
	sfu_addrs TEXT NOT NULL,
	updated   INTEGER NOT NULL
) WITHOUT ROWID;
`

// invitePayload is version 1 of media.invite.add.
type invitePayload struct {
	Room    string `json:"room"`
	Subject string `json:"subject"`
	Name    string `json:"name"`
	Expires int64  `json:"expires"`
}

// revokePayload is version 1 of media.invite.revoke.
type revokePayload struct {
	Room    string `json:"room"`
	Subject string `json:"subject"`
}

func registerInvites(reg *cluster.Registry) {
	reg.RegisterError("media.revoked", ErrRevoked)
	reg.Handle(CmdInvite, payloadVersion, applyInvite)
	reg.Handle(CmdRevoke, payloadVersion, applyRevoke)
	for _, typ := range []string{CmdInvite, CmdRevoke} {
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var i Invite
			err := json.Unmarshal(raw, &i)
			return i, err
		})
		// The audit log names the room and the guest's ID, never the
		// guest's name.
		reg.Describe(typ, func(cmd cluster.Command) string {
			var p revokePayload
			if json.Unmarshal(cmd.Payload, &p) != nil {
				return ""
			}
			return "room=" + p.Room + " guest=" + p.Subject
		})
	}
}

func checkInvite(subject, name string) error {
	if subject == "" || len(subject) > 100 || !utf8.ValidString(subject) {
		return fmt.Errorf("%w: invite subject", ErrInvalid)
	}
	if name == "" || utf8.RuneCountInString(name) > maxGuestName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: invite name", ErrInvalid)
	}
	return nil
}

func applyInvite(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p invitePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	if err := checkInvite(p.Subject, p.Name); err != nil {
		return nil, err
	}
	r, err := loadRoom(tx, t, p.Room)
	if err != nil {
		return nil, err
	}
	if r.State != StateOpen {
		return nil, fmt.Errorf("room %s: %w", r.ID, ErrEnded)
	}
	if _, err := tx.Exec(`INSERT INTO media_invites (tenant, room, subject, name, created, expires, revoked)
		VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (tenant, room, subject) DO NOTHING`,
		t, p.Room, p.Subject, p.Name, cmd.Time.UnixMilli(), p.Expires); err != nil {
		return nil, fmt.Errorf("insert invite: %w", err)
	}
	return loadInvite(tx, t, p.Room, p.Subject)
}

func applyRevoke(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p revokePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	t := tenant.ID(cmd.Tenant)
	// Revoking twice keeps the first time: two clicks both succeed.
	if _, err := tx.Exec(`UPDATE media_invites SET revoked = ? WHERE tenant = ? AND room = ? AND subject = ? AND revoked = 0`,
		cmd.Time.UnixMilli(), t, p.Room, p.Subject); err != nil {
		return nil, fmt.Errorf("revoke invite: %w", err)
	}
	return loadInvite(tx, t, p.Room, p.Subject)
}

const inviteColumns = `room, subject, name, created, expires, revoked`

func scanInvite(row interface{ Scan(...any) error }) (Invite, error) {
	var i Invite
	var created, expires, revoked int64
	if err := row.Scan(&i.Room, &i.Subject, &i.Name, &created, &expires, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Invite{}, fmt.Errorf("invite: %w", ErrNotFound)
		}
		return Invite{}, err
	}
	i.Created, i.Expires, i.Revoked = fromMillis(created), fromMillis(expires), fromMillis(revoked)
	return i, nil
}

func loadInvite(q queryer, t tenant.ID, room, subject string) (Invite, error) {
	return scanInvite(q.QueryRowContext(context.Background(), `SELECT `+inviteColumns+` FROM media_invites
		WHERE tenant = ? AND room = ? AND subject = ?`, string(t), room, subject))
}

// Invite records the invite of a guest (subject: the guest token's
// subject, name: the guest's name) into an open room, until expires.
// Recording the same subject again returns the first record.
func (rs *Rooms) Invite(ctx context.Context, t tenant.ID, room, subject, name string, expires time.Time) (Invite, error) {
	name = strings.TrimSpace(name)
	if err := checkInvite(subject, name); err != nil {
		return Invite{}, err
	}
	return rs.writeInvite(ctx, CmdInvite, t, invitePayload{Room: room, Subject: subject, Name: name, Expires: expires.UnixMilli()})
}

// RevokeInvite revokes the invite of subject in room: Admit refuses its
// token from the moment the command is applied, on every node
// (ErrRevoked). The caller closes the guest's connection, on the room's
// node (sfu.SFU.Kick). ErrNotFound when there is no such invite.
func (rs *Rooms) RevokeInvite(ctx context.Context, t tenant.ID, room, subject string) (Invite, error) {
	return rs.writeInvite(ctx, CmdRevoke, t, revokePayload{Room: room, Subject: subject})
}

func (rs *Rooms) writeInvite(ctx context.Context, typ string, t tenant.ID, payload any) (Invite, error) {
	cmd, err := cluster.NewCommand(typ, payloadVersion, string(t), payload)
	if err != nil {
		return Invite{}, err
	}
	res, err := rs.node.Propose(ctx, cmd)
	if err != nil {
		return Invite{}, err
	}
	i, ok := res.Value.(Invite)
	if !ok {
		return Invite{}, fmt.Errorf("media: unexpected result %T of %s", res.Value, typ)
	}
	return i, nil
}

// Invites lists the invites of a room, oldest first.
func (rs *Rooms) Invites(ctx context.Context, t tenant.ID, room string) ([]Invite, error) {
	rows, err := rs.node.DB().QueryContext(ctx, `SELECT `+inviteColumns+` FROM media_invites
		WHERE tenant = ? AND room = ? ORDER BY created, subject`, string(t), room)
	if err != nil {
		return nil, fmt.Errorf("media: invites: %w", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		i, err := scanInvite(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// GetInvite returns one invite as this node has applied it.
func (rs *Rooms) GetInvite(ctx context.Context, t tenant.ID, room, subject string) (Invite, error) {
	return scanInvite(rs.node.DB().QueryRowContext(ctx, `SELECT `+inviteColumns+` FROM media_invites
		WHERE tenant = ? AND room = ? AND subject = ?`, string(t), room, subject))
}

// checkGuest lets a guest's claims in only while their invite is
// recorded and not revoked. It reads after a barrier, so a revocation
// committed through any node before the guest's request counts (a guest
// opens a page rarely; the barrier is one round trip to the leader).
// Without a leader it reads what this node has: the call goes on
// during an election, and the revocation arrives with the next leader.
func (rs *Rooms) checkGuest(ctx context.Context, t tenant.ID, c Claims) error {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = rs.node.ReadFresh(fctx)
	cancel()
	i, err := rs.GetInvite(ctx, t, c.Room, c.Subject)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: no invite recorded", ErrTokenInvalid)
	case err != nil:
		return err
	case !i.Revoked.IsZero():
		return ErrRevoked
	}
	return nil
}
