package media

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// A reference's room (a booking's call, looked up at each join and by
// apply of a room's opening) is read through media_rooms_ref, not by
// walking every room of the Comune.
func TestRoomByRefUsesItsIndex(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, Register)
	for _, tail := range []string{` AND state = 'open'`, ` ORDER BY state = 'open' DESC, created DESC, id DESC`} {
		got := clustertest.QueryPlan(t, n, roomByRefQuery+tail+` LIMIT 1`, "bari", "booking", "x")
		if !strings.Contains(got, "INDEX media_rooms_ref (tenant=? AND ref_kind=? AND ref_id=?)") {
			t.Errorf("plan of the room of a reference (%s):\n%s\nwant media_rooms_ref", tail, got)
		}
	}
}
