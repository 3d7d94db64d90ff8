package media_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
)

func TestTokens(t *testing.T) {
	nodes := clustertest.Cluster(t, 2, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	now := time.Now()
	room, err := rs[0].Open(ctx, comune, media.RoomRef{Kind: media.RefBooking, ID: "B-9"}, now, now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	claims := media.Claims{Tenant: comune, Room: room.ID, Role: media.RoleCitizen, Name: "Maria Rossi", Subject: "booking:B-9",
		Expires: room.Closes.Add(media.TokenGrace)}
	tok := rs[0].Token(claims)
	if strings.ContainsAny(tok, "+/= ") || strings.Count(tok, ".") != 1 {
		t.Errorf("token %q is not compact base64url", tok)
	}

	// Made on one node, admitted at once on the other (the key comes from
	// the shared secrets file; Admit waits for the room to be applied
	// there when it is not yet).
	gotRoom, got, err := rs[1].Admit(ctx, comune, tok)
	if err != nil {
		t.Fatalf("Admit: %v", err)
	}
	if gotRoom.ID != room.ID || got.Name != claims.Name || got.Role != media.RoleCitizen || got.Subject != claims.Subject ||
		!got.Expires.Equal(claims.Expires.Truncate(time.Second)) {
		t.Errorf("admitted %+v in %+v", got, gotRoom)
	}

	// Tampering anywhere breaks the signature.
	body, sig, _ := strings.Cut(tok, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	forged := rs[0].Token(media.Claims{Tenant: comune, Room: room.ID, Role: media.RoleOperator, Expires: claims.Expires})
	fBody, _, _ := strings.Cut(forged, ".")
	for name, bad := range map[string]string{
		"body": flip(body, 5) + "." + sig, "signature": body + "." + flip(sig, 3),
		"swapped claims": fBody + "." + sig, "no dot": body + sig, "empty": "", "junk": "a.b.c",
		"other key": otherKeyToken(t, nodes, claims),
	} {
		if _, err := rs[1].Verify(bad, now); !errors.Is(err, media.ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrTokenInvalid", name, err)
		}
		if _, _, err := rs[1].Admit(ctx, comune, bad); !errors.Is(err, media.ErrTokenInvalid) {
			t.Errorf("Admit %s: %v, want ErrTokenInvalid", name, err)
		}
	}

	// Expiry and start.
	if _, err := rs[0].Verify(tok, claims.Expires.Add(time.Second)); !errors.Is(err, media.ErrTokenExpired) {
		t.Errorf("after expiry: %v, want ErrTokenExpired", err)
	}
	expired := rs[0].Token(media.Claims{Tenant: comune, Room: room.ID, Role: media.RoleCitizen, Expires: now.Add(-time.Minute)})
	if _, _, err := rs[0].Admit(ctx, comune, expired); !errors.Is(err, media.ErrTokenExpired) {
		t.Errorf("Admit expired: %v, want ErrTokenExpired", err)
	}
	early := rs[0].Token(media.Claims{Tenant: comune, Room: room.ID, Role: media.RoleCitizen, Expires: now.Add(time.Hour), NotBefore: now.Add(10 * time.Minute)})
	if _, err := rs[0].Verify(early, now); !errors.Is(err, media.ErrTokenEarly) {
		t.Errorf("before NotBefore: %v, want ErrTokenEarly", err)
	}
	if _, err := rs[0].Verify(early, now.Add(11*time.Minute)); err != nil {
		t.Errorf("after NotBefore: %v", err)
	}

	// The host's Comune must be the token's.
	if _, _, err := rs[0].Admit(ctx, "altrove", tok); !errors.Is(err, media.ErrWrongTenant) {
		t.Errorf("Admit on another Comune's host: %v, want ErrWrongTenant", err)
	}
	// A token for a room of another Comune, presented on that Comune's
	// host with the room ID of ours, finds nothing.
	stray := rs[0].Token(media.Claims{Tenant: "altrove", Room: room.ID, Role: media.RoleCitizen, Expires: now.Add(time.Hour)})
	if _, _, err := rs[0].Admit(ctx, "altrove", stray); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("Admit to a room of another Comune: %v, want ErrNotFound", err)
	}
	// An ended room admits nobody, although the token still verifies.
	if _, err := rs[0].End(ctx, comune, room.ID, "fine"); err != nil {
		t.Fatal(err)
	}
	fresh(t, nodes[1])
	if _, err := rs[1].Verify(tok, now); err != nil {
		t.Errorf("Verify after the end: %v", err)
	}
	if _, _, err := rs[1].Admit(ctx, comune, tok); !errors.Is(err, media.ErrEnded) {
		t.Errorf("Admit to an ended room: %v, want ErrEnded", err)
	}
}

// otherKeyToken signs claims with a different secrets key.
func otherKeyToken(t *testing.T, nodes []*cluster.Node, c media.Claims) string {
	s, err := auth.NewSecrets([]byte(strings.Repeat("x", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return media.NewRooms(nodes[0], s, nil).Token(c)
}
