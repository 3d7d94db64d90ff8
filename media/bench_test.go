package media_test

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
)

func BenchmarkVerify(b *testing.B) {
	n := clustertest.Node(b, media.Register)
	rs := media.NewRooms(n, testSecrets(b), nil)
	now := time.Now()
	tok := rs.Token(media.Claims{Tenant: comune, Room: "ROOM", Role: media.RoleCitizen, Name: "Maria Rossi", Expires: now.Add(time.Hour)})
	for b.Loop() {
		if _, err := rs.Verify(tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTURNSecrets is what the TURN server pays per authenticated
// request while nothing is applied (the cached path).
func BenchmarkTURNSecrets(b *testing.B) {
	n := clustertest.Node(b, media.Register)
	rs := media.NewRooms(n, testSecrets(b), nil)
	ctx := ctxT(b)
	if err := rs.RotateTURN(ctx, 0); err != nil {
		b.Fatal(err)
	}
	f := rs.TURNSecretsFunc()
	for b.Loop() {
		if len(f()) != 1 {
			b.Fatal("no secret")
		}
	}
}

// BenchmarkOpen opens a new room per iteration on a one-node cluster
// (placement, proposal, apply).
func BenchmarkOpen(b *testing.B) {
	n := clustertest.Node(b, media.Register)
	rs := media.NewRooms(n, testSecrets(b), nil)
	ctx := ctxT(b)
	now := time.Now()
	i := 0
	for b.Loop() {
		i++
		if _, err := rs.Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: string(rune('a'+i%26)) + time.Duration(i).String()}, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
