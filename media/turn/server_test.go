package turn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	pturn "github.com/pion/turn/v4"
)

var loopback = net.IPv4(127, 0, 0, 1)

// secretBox is a Secrets source the tests rotate.
type secretBox struct {
	mu sync.Mutex
	s  [][]byte
}

func (b *secretBox) set(s ...[]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s = s
}

func (b *secretBox) get() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

// start runs a server on loopback with UDP and TCP listeners and the
// secret "current"; edit changes the config before Start.
func start(t *testing.T, edit func(*Config)) (*Server, *secretBox) {
	t.Helper()
	box := &secretBox{}
	box.set([]byte("current"))
	cfg := Config{
		Realm:     "test",
		UDP:       "127.0.0.1:0",
		TCP:       "127.0.0.1:0",
		RelayIP:   loopback,
		RelayBind: "127.0.0.1",
		Secrets:   box.get,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, box
}

// client is a pion TURN client over conn (UDP socket, or a TCP/TLS stream
// wrapped in a STUNConn).
func client(t *testing.T, server net.Addr, conn net.PacketConn, username, password string) *pturn.Client {
	t.Helper()
	c, err := pturn.NewClient(&pturn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Realm:          "test",
		Conn:           conn,
		RTO:            100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return c
}

func udpClient(t *testing.T, s *Server, username, password string) *pturn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, _, _ := s.Addrs()
	return client(t, udp, conn, username, password)
}

func creds(secret, user string, ttl time.Duration) (string, string) {
	return Credentials([]byte(secret), user, time.Now().Add(ttl))
}

func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

func TestCredentialsFormat(t *testing.T) {
	u, p := Credentials([]byte("secret"), "alice", time.Unix(1700000000, 0))
	if u != "1700000000:alice" {
		t.Errorf("username = %q, want 1700000000:alice", u)
	}
	// The same value coturn and pion's GenerateLongTermTURNRESTCredentials
	// derive: base64(HMAC-SHA1("secret", "1700000000:alice")).
	if p != restPassword([]byte("secret"), u) || len(p) != 28 {
		t.Errorf("password = %q, want a 28-character base64 HMAC-SHA1", p)
	}
}

func TestAuthRefused(t *testing.T) {
	s, _ := start(t, nil)
	good, _ := creds("current", "alice", time.Hour)
	expiredUser, expiredPass := creds("current", "alice", -time.Minute)
	otherUser, otherPass := creds("unknown", "alice", time.Hour)
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", good, "d3JvbmcgcGFzc3dvcmQgaGVyZQ=="},
		{"expired username", expiredUser, expiredPass},
		{"unknown secret", otherUser, otherPass},
		{"not a REST username", "alice", "whatever"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := udpClient(t, s, tc.user, tc.pass)
			_, err := c.Allocate()
			if err == nil {
				t.Fatal("Allocate succeeded, want refused")
			}
			if code := turnCode(err); code != 400 && code != 401 {
				t.Errorf("Allocate error %v (code %d), want 400 or 401", err, code)
			}
		})
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("Allocations() = %d, want 0", n)
	}
}

// relayPair allocates on two clients and checks data flows both ways
// between their relay addresses.
func relayPair(t *testing.T, a, b *pturn.Client) {
	t.Helper()
	ra, err := a.Allocate()
	if err != nil {
		t.Fatalf("Allocate a: %v", err)
	}
	rb, err := b.Allocate()
	if err != nil {
		t.Fatalf("Allocate b: %v", err)
	}
	exchange(t, ra, rb, []byte("buongiorno"))
	exchange(t, rb, ra, []byte("salve"))
}

// exchange sends msg from one relay to the other until it arrives (UDP
// may lose the first packets while permissions are installed).
func exchange(t *testing.T, from, to net.PacketConn, msg []byte) {
	t.Helper()
	// The receiver needs a permission for the sender's relay address.
	if _, err := to.WriteTo([]byte("open"), from.LocalAddr()); err != nil {
		t.Fatalf("permission on receiver: %v", err)
	}
	buf := make([]byte, 1500)
	for range 20 {
		if _, err := from.WriteTo(msg, to.LocalAddr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		to.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			n, addr, err := to.ReadFrom(buf)
			if err != nil {
				break
			}
			if bytes.Equal(buf[:n], msg) {
				if addr.String() != from.LocalAddr().String() {
					t.Errorf("from %v, want %v", addr, from.LocalAddr())
				}
				return
			}
		}
	}
	t.Fatalf("%q never arrived from %v to %v", msg, from.LocalAddr(), to.LocalAddr())
}

func TestRelay(t *testing.T) {
	s, _ := start(t, func(c *Config) { c.AllowPeers = []netip.Addr{netip.MustParseAddr("127.0.0.1")} })
	ua, pa := creds("current", "alice", time.Hour)
	ub, pb := creds("current", "bob", time.Hour)
	a, b := udpClient(t, s, ua, pa), udpClient(t, s, ub, pb)
	relayPair(t, a, b)
	if n := s.Allocations(); n != 2 {
		t.Errorf("Allocations() = %d, want 2", n)
	}
	if s.Dropped() != 0 {
		t.Errorf("Dropped() = %d under the default cap, want 0", s.Dropped())
	}

	ports := s.relay.count()
	if ports != 2 {
		t.Errorf("relay sockets = %d, want 2", ports)
	}
	var relayAddrs []string
	s.relay.mu.Lock()
	for p := range s.relay.byPort {
		relayAddrs = append(relayAddrs, net.JoinHostPort("127.0.0.1", itoa(p)))
	}
	s.relay.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := s.Allocations(); n != 0 {
		t.Errorf("Allocations() after Close = %d, want 0", n)
	}
	// Every relay port is free again.
	for _, addr := range relayAddrs {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			t.Errorf("relay port %s still held after Close: %v", addr, err)
			continue
		}
		pc.Close()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// forbiddenPeers are the addresses issue 6 lists, plus the IPv4-mapped
// form of a private address sent as a real IPv6 attribute.
var forbiddenPeers = []string{
	"127.0.0.1", "0.0.0.0", "::1", "::ffff:127.0.0.1", "10.0.0.1",
	"169.254.169.254", "224.0.0.1", "::ffff:10.0.0.1", "fd00::1",
	"fe80::1", "100.64.0.1", "192.168.1.1", "172.16.0.1", "ff02::1", "::",
}

func TestPeerFilter(t *testing.T) {
	s, _ := start(t, nil)
	user, pass := creds("current", "alice", time.Hour)
	c := udpClient(t, s, user, pass)
	if _, err := c.Allocate(); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	udp, _, _ := s.Addrs()
	for _, peer := range forbiddenPeers {
		t.Run(peer, func(t *testing.T) {
			ip := netip.MustParseAddr(peer)
			// What pion's client sends (IPv4-mapped addresses go out as IPv4).
			err := c.CreatePermission(&net.UDPAddr{IP: ip.AsSlice(), Port: 5000})
			if code := turnCode(err); code != 403 {
				t.Errorf("client CreatePermission: err %v (code %d), want 403", err, code)
			}
			// Hand-made requests that keep the address family as given.
			for _, m := range []stun.Method{stun.MethodCreatePermission, stun.MethodChannelBind} {
				if code := request(t, c, udp, user, pass, m, ip); code != 403 {
					t.Errorf("%v towards %s: code %d, want 403", m, peer, code)
				}
			}
		})
	}
	// One forbidden peer among allowed ones refuses the whole request.
	mixed := []netip.Addr{netip.MustParseAddr("151.101.1.141"), netip.MustParseAddr("10.0.0.1")}
	if code := request(t, c, udp, user, pass, stun.MethodCreatePermission, mixed...); code != 403 {
		t.Errorf("CreatePermission to %v: code %d, want 403", mixed, code)
	}
	// A public peer is allowed (no packet is sent to it).
	public := netip.MustParseAddr("151.101.1.140")
	if err := c.CreatePermission(&net.UDPAddr{IP: public.AsSlice(), Port: 5000}); err != nil {
		t.Errorf("CreatePermission to %s: %v, want allowed", public, err)
	}
	if code := request(t, c, udp, user, pass, stun.MethodChannelBind, public); code != 0 {
		t.Errorf("ChannelBind to %s: code %d, want success", public, code)
	}
}

// setter adapts a function to stun.Setter.
type setter func(m *stun.Message) error

func (f setter) AddTo(m *stun.Message) error { return f(m) }

// xorPeer encodes XOR-PEER-ADDRESS keeping the family of ip (RFC 8489
// section 14.2): an IPv4-mapped address stays a 16-byte IPv6 address.
func xorPeer(ip netip.Addr, port int) setter {
	return func(m *stun.Message) error {
		var cookie [16]byte
		binary.BigEndian.PutUint32(cookie[:4], 0x2112A442)
		copy(cookie[4:], m.TransactionID[:])
		family, raw := byte(2), ip.AsSlice()
		if ip.Is4() {
			family = 1
		}
		v := []byte{0, family, 0, 0}
		binary.BigEndian.PutUint16(v[2:], uint16(port)^0x2112)
		for i, b := range raw {
			v = append(v, b^cookie[i])
		}
		m.Add(stun.AttrXORPeerAddress, v)
		return nil
	}
}

// request sends an authenticated CreatePermission or ChannelBind for peer
// on c's allocation and returns the error code, 0 for success.
func request(t *testing.T, c *pturn.Client, server net.Addr, user, pass string, method stun.Method, peers ...netip.Addr) int {
	t.Helper()
	attrs := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	for _, peer := range peers {
		attrs = append(attrs, xorPeer(peer, 5000))
	}
	if method == stun.MethodChannelBind {
		attrs = append(attrs, stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{0x40, 0x01, 0, 0}})
	}
	// The first, unauthenticated attempt fetches a nonce (401).
	first, err := stun.Build(append(attrs, stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PerformTransaction(first, server, false)
	if err != nil {
		t.Fatalf("%v: %v", method, err)
	}
	var nonce stun.Nonce
	var realm stun.Realm
	if err := nonce.GetFrom(res.Msg); err != nil {
		t.Fatalf("%v: no nonce in %v", method, res.Msg)
	}
	if err := realm.GetFrom(res.Msg); err != nil {
		t.Fatalf("%v: no realm in %v", method, res.Msg)
	}
	attrs[0] = stun.TransactionID
	msg, err := stun.Build(append(attrs, stun.NewUsername(user), realm, nonce,
		stun.NewLongTermIntegrity(user, realm.String(), pass), stun.Fingerprint)...)
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.PerformTransaction(msg, server, false)
	if err != nil {
		t.Fatalf("%v: %v", method, err)
	}
	if res.Msg.Type.Class != stun.ClassErrorResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(res.Msg); err != nil {
		return -1
	}
	// An error to an authenticated request is authenticated too (RFC 8489
	// section 9.2.4), so a client can trust the 403.
	if code.Code == stun.CodeForbidden {
		if err := stun.NewLongTermIntegrity(user, realm.String(), pass).Check(res.Msg); err != nil {
			t.Errorf("403 response integrity: %v", err)
		}
	}
	return int(code.Code)
}

func TestAllowPeers(t *testing.T) {
	sfu := netip.MustParseAddr("10.1.2.3")
	s, _ := start(t, func(c *Config) { c.AllowPeers = []netip.Addr{sfu} })
	user, pass := creds("current", "alice", time.Hour)
	c := udpClient(t, s, user, pass)
	if _, err := c.Allocate(); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	udp, _, _ := s.Addrs()
	if err := c.CreatePermission(&net.UDPAddr{IP: sfu.AsSlice(), Port: 5000}); err != nil {
		t.Errorf("CreatePermission to the SFU %s: %v, want allowed", sfu, err)
	}
	mapped := netip.AddrFrom16(sfu.As16())
	if code := request(t, c, udp, user, pass, stun.MethodChannelBind, mapped); code != 0 {
		t.Errorf("ChannelBind to %s: code %d, want allowed", mapped, code)
	}
	if code := request(t, c, udp, user, pass, stun.MethodChannelBind, netip.MustParseAddr("10.1.2.4")); code != 403 {
		t.Errorf("ChannelBind to the SFU's neighbour: code %d, want 403", code)
	}
}

func TestRotation(t *testing.T) {
	s, box := start(t, func(c *Config) { c.AllowPeers = []netip.Addr{netip.MustParseAddr("127.0.0.1")} })
	oldUser, oldPass := creds("current", "alice", time.Hour)
	box.set([]byte("next"), []byte("current"))
	newUser, newPass := creds("next", "bob", time.Hour)
	// Both the credential made with the previous secret and the one made
	// with the new secret allocate and relay.
	relayPair(t, udpClient(t, s, oldUser, oldPass), udpClient(t, s, newUser, newPass))

	// Once the old secret is no longer returned, its credentials fail.
	box.set([]byte("newest"), []byte("next"))
	c := udpClient(t, s, oldUser, oldPass)
	if _, err := c.Allocate(); err == nil {
		t.Error("Allocate with a retired secret succeeded, want refused")
	}
	u, p := creds("next", "carol", time.Hour)
	if _, err := udpClient(t, s, u, p).Allocate(); err != nil {
		t.Errorf("Allocate with the previous secret: %v", err)
	}
}

func TestQuota(t *testing.T) {
	s, _ := start(t, func(c *Config) { c.MaxAllocationsPerUser = 2 })
	var relays []net.PacketConn
	for i := range 2 {
		// Different expiries, same user: the quota counts the user.
		u, p := creds("current", "alice", time.Hour+time.Duration(i)*time.Second)
		c := udpClient(t, s, u, p)
		r, err := c.Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		relays = append(relays, r)
	}
	u, p := creds("current", "alice", 2*time.Hour)
	_, err := udpClient(t, s, u, p).Allocate()
	if code := turnCode(err); code != 486 {
		t.Fatalf("third allocation: err %v (code %d), want 486", err, code)
	}
	// Another user is not affected.
	u, p = creds("current", "bob", time.Hour)
	if _, err := udpClient(t, s, u, p).Allocate(); err != nil {
		t.Errorf("bob's allocation: %v", err)
	}
	// Closing a relay deallocates (Refresh with lifetime 0) and frees a slot.
	relays[0].Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		u, p := creds("current", "alice", 3*time.Hour)
		_, err := udpClient(t, s, u, p).Allocate()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("allocation after a release: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBandwidthCap(t *testing.T) {
	const rate = 20_000
	s, _ := start(t, func(c *Config) {
		c.AllowPeers = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		c.BandwidthPerUser = rate
	})
	ua, pa := creds("current", "alice", time.Hour)
	ub, pb := creds("current", "bob", time.Hour)
	a, b := udpClient(t, s, ua, pa), udpClient(t, s, ub, pb)
	ra, err := a.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, ra, rb, []byte("warm-up"))

	// 200 kB in well under a second: about a second's worth (the burst)
	// gets through, the rest is dropped.
	payload := make([]byte, 1000)
	got := make(chan int)
	go func() {
		n, buf := 0, make([]byte, 1500)
		for {
			rb.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			k, _, err := rb.ReadFrom(buf)
			if err != nil {
				got <- n
				return
			}
			if k == len(payload) {
				n++
			}
		}
	}()
	t0 := time.Now()
	for range 200 {
		if _, err := ra.WriteTo(payload, rb.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	sending := time.Since(t0)
	n := <-got
	// At most the one-second burst plus what refilled while sending.
	most := int((rate+rate*sending.Seconds())/float64(len(payload))) + 2
	if n == 0 || n > most {
		t.Errorf("received %d of 200 packets over a %d B/s cap in %v, want between 1 and %d", n, rate, sending, most)
	}
	if s.Dropped() == 0 {
		t.Error("Dropped() = 0, want the packets over the cap counted")
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turn test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestStreamListeners(t *testing.T) {
	cert, pool := selfSigned(t)
	s, _ := start(t, func(c *Config) {
		c.TLS = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		c.AllowPeers = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	})
	_, tcpAddr, tlsAddr := s.Addrs()
	dial := map[string]func() (net.Conn, error){
		"tcp": func() (net.Conn, error) { return net.Dial("tcp", tcpAddr.String()) },
		"tls": func() (net.Conn, error) {
			return tls.Dial("tcp", tlsAddr.String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		},
	}
	for name, addr := range map[string]net.Addr{"tcp": tcpAddr, "tls": tlsAddr} {
		t.Run(name, func(t *testing.T) {
			conn, err := dial[name]()
			if err != nil {
				t.Fatal(err)
			}
			user, pass := creds("current", "alice-"+name, time.Hour)
			c := client(t, addr, pturn.NewSTUNConn(conn), user, pass)
			ub, pb := creds("current", "bob-"+name, time.Hour)
			relayPair(t, c, udpClient(t, s, ub, pb))
			// The peer filter applies on streams too.
			if code := request(t, c, addr, user, pass, stun.MethodChannelBind, netip.MustParseAddr("169.254.169.254")); code != 403 {
				t.Errorf("ChannelBind to the metadata service over %s: code %d, want 403", name, code)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	secrets := func() [][]byte { return nil }
	for name, cfg := range map[string]Config{
		"no listener":    {Secrets: secrets, RelayIP: loopback},
		"no secrets":     {UDP: "127.0.0.1:0", RelayIP: loopback},
		"tls, no cert":   {TLS: "127.0.0.1:0", Secrets: secrets, RelayIP: loopback},
		"no relay ip":    {UDP: "127.0.0.1:0", Secrets: secrets},
		"bad port range": {UDP: "127.0.0.1:0", Secrets: secrets, RelayIP: loopback, MinPort: 50000, MaxPort: 40000},
	} {
		if _, err := Start(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
}

func TestInternal(t *testing.T) {
	// 10.9.9.9 comes from the function, as another node's SFU address
	// from the replicated state.
	f := newPeerFilter([]netip.Addr{netip.MustParseAddr("192.168.5.5")},
		func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("10.9.9.9")} })
	for addr, want := range map[string]bool{
		"10.9.9.9": true, "::ffff:10.9.9.9": true, "10.9.9.8": false,
		"8.8.8.8": true, "2001:4860:4860::8888": true, "192.168.5.5": true, "::ffff:192.168.5.5": true,
		"192.168.5.6": false, "64:ff9b::a00:1": false, "64:ff9b::808:808": true,
		"2002:7f00:1::": false, "2002:808:808::": true, "255.255.255.255": false,
		"::ffff:169.254.169.254": false, "100.127.255.255": false, "fe80::1%eth0": false,
	} {
		if got := f.allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("allowed(%s) = %v, want %v", addr, got, want)
		}
	}
}
