package turn

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	pturn "github.com/pion/turn/v4"
)

// TestCloseLeavesNothing checks that Close ends every goroutine the
// server started, with a UDP allocation relaying and a TCP connection
// still open when it is called.
func TestCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		box := &secretBox{}
		box.set([]byte("current"))
		s, err := Start(Config{
			Realm: "test", UDP: "127.0.0.1:0", TCP: "127.0.0.1:0",
			RelayIP: loopback, RelayBind: "127.0.0.1", Secrets: box.get,
			AllowPeers: []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		})
		if err != nil {
			t.Fatal(err)
		}
		udp, tcp, _ := s.Addrs()
		var closers []func()
		open := func(server net.Addr, conn net.PacketConn, user string) net.PacketConn {
			u, p := creds("current", user, time.Hour)
			c, err := pturn.NewClient(&pturn.ClientConfig{
				STUNServerAddr: server.String(), TURNServerAddr: server.String(),
				Username: u, Password: p, Realm: "test", Conn: conn,
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Listen(); err != nil {
				t.Fatal(err)
			}
			r, err := c.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			closers = append(closers, func() { r.Close(); c.Close(); conn.Close() })
			return r
		}
		uc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tc, err := net.Dial("tcp", tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		ra := open(udp, uc, "alice")
		rb := open(tcp, pturn.NewSTUNConn(tc), "bob")
		exchange(t, ra, rb, []byte("ciao"))
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, c := range closers {
			c()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
