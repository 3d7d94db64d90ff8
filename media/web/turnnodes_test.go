package web

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/sfu"
	"github.com/sportello-virtuale/sportello/media/turn"
)

// TestBrowserOtherNodesTURN: a call forced through TURN works when the
// first TURN server a browser is given (the room node's) does not answer
// and the second (another node's) relays: the browsers of a call do not
// depend on the room node's TURN. The second server knows the SFU's
// address only through AllowPeersFunc, as a node learns the others' SFU
// addresses from the replicated state (cmd/sportello wires
// media.Rooms.PeersFunc there). Two Chromium browsers, real TURN, in a
// private network namespace.
func TestBrowserOtherNodesTURN(t *testing.T) {
	bin := chromium(t)
	if !inNetns(t, "TestBrowserOtherNodesTURN") {
		return
	}
	secret := []byte("turn-secret-of-the-test-0123456789")
	other, err := turn.Start(turn.Config{
		Realm: "sportello", UDP: "127.0.0.1:0",
		RelayIP: net.ParseIP("127.0.0.1"), RelayBind: "127.0.0.1",
		Secrets:        func() [][]byte { return [][]byte{secret} },
		AllowPeersFunc: func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} },
		Logger:         quietLogger(t),
	})
	if err != nil {
		t.Fatalf("start TURN: %v", err)
	}
	t.Cleanup(func() { other.Close() })
	udp, _, _ := other.Addrs()
	// The room node's TURN: a port nobody listens on.
	dead, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	user, pass := turn.Credentials(secret, "test", time.Now().Add(time.Hour))

	e := newEnv(t, sfu.Config{Loopback: true, RelayAcceptanceMinWait: 100 * time.Millisecond})
	e.ice = []media.ICEServer{{URLs: []string{"turn:" + deadAddr + "?transport=udp", "turn:" + udp.String() + "?transport=udp"},
		Username: user, Credential: pass}}
	op := newBrowser(t, bin, "operator", 2*time.Minute)
	cit := newBrowser(t, bin, "citizen", 2*time.Minute)
	opStats, citStats := call(t, e, op, cit, "altro-turn", true)
	for name, st := range map[string]callStats{"operator": opStats, "citizen": citStats} {
		if p := st.Sub.Pair; p == nil || p.Local != "relay" {
			t.Errorf("%s: sub pair %+v, want a local relay candidate", name, p)
		}
	}
	if other.Allocations() == 0 {
		t.Error("the other node's TURN holds no allocation")
	}
}
