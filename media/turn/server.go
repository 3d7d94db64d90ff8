package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/logging"
	pturn "github.com/pion/turn/v4"
)

// Config configures Start. Zero values take the defaults documented on each
// field; listen addresses are the caller's (Sportello passes ":3478" for UDP
// and TCP and ":5349" for TLS).
type Config struct {
	// Realm is the STUN realm; default "sportello".
	Realm string

	// UDP, TCP and TLS are the listen addresses; "" leaves that listener
	// off. At least one must be set.
	UDP, TCP, TLS string
	// TLSConfig carries the certificate for the TLS listener.
	TLSConfig *tls.Config

	// RelayIP is the IPv4 address announced to clients in
	// XOR-RELAYED-ADDRESS (pion relays over IPv4 only); default RelayBind
	// when that is a specific address.
	RelayIP net.IP
	// RelayBind is the local address the relay sockets bind to; default
	// "0.0.0.0".
	RelayBind string
	// MinPort and MaxPort bound the relay ports (inclusive); both zero
	// means any ephemeral port.
	MinPort, MaxPort uint16

	// Secrets returns the REST secrets, the current one first, then the
	// previous ones still accepted during a rotation. It is called for every
	// authenticated request, so it must be cheap (a cached copy).
	// Credentials are checked against each one; an expired username is
	// refused whatever its secret.
	Secrets func() [][]byte

	// AllowPeers are peer addresses allowed although they are internal:
	// the node's own SFU addresses. Tests and the benchmark put 127.0.0.1
	// here to relay on loopback; production must not.
	AllowPeers []netip.Addr
	// AllowPeersFunc, when set, gives more such addresses, asked for at
	// each permission a client wants towards an internal address: the
	// other cluster nodes' SFU addresses, which the replicated state
	// holds (media.Rooms.PeersFunc), so that this node's TURN can relay
	// to a room held by another node. It must be cheap and safe for
	// concurrent use.
	AllowPeersFunc func() []netip.Addr

	// MaxAllocationsPerUser caps the live allocations of one REST user
	// (the part after the colon); default 10.
	MaxAllocationsPerUser int
	// BandwidthPerUser caps the relayed bytes per second of one REST user,
	// both directions together, all their allocations together; default
	// 4 MB/s (a call needs well under 1). Packets over the cap are dropped
	// and counted (Dropped). A negative value removes the cap.
	BandwidthPerUser int

	// Logger receives one line per allocation created and deleted and one
	// per refusal (credential, quota, peer, bandwidth); nil discards.
	Logger *slog.Logger
}

// Defaults for the zero values of Config.
const (
	DefaultRealm                 = "sportello"
	DefaultMaxAllocationsPerUser = 10
	DefaultBandwidthPerUser      = 4 << 20 // bytes per second
)

// Server is a running TURN server. Close releases every socket it holds.
type Server struct {
	cfg   Config
	log   *slog.Logger
	auth  *authenticator
	peers *peerFilter
	users *users
	relay *relays
	turn  *pturn.Server

	udp       *packetConn
	tcp, tls  *listener
	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Start validates cfg, opens the listeners and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.UDP == "" && cfg.TCP == "" && cfg.TLS == "" {
		return nil, fmt.Errorf("%w: no listen address", ErrConfig)
	}
	if cfg.TLS != "" && cfg.TLSConfig == nil {
		return nil, fmt.Errorf("%w: TLS listener without TLSConfig", ErrConfig)
	}
	if cfg.Secrets == nil {
		return nil, fmt.Errorf("%w: no Secrets", ErrConfig)
	}
	if (cfg.MinPort == 0) != (cfg.MaxPort == 0) || cfg.MinPort > cfg.MaxPort {
		return nil, fmt.Errorf("%w: relay port range %d-%d", ErrConfig, cfg.MinPort, cfg.MaxPort)
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.RelayBind == "" {
		cfg.RelayBind = "0.0.0.0"
	}
	if cfg.RelayIP == nil {
		ip := net.ParseIP(cfg.RelayBind)
		if ip == nil || ip.IsUnspecified() {
			return nil, fmt.Errorf("%w: RelayIP is required when RelayBind is %q", ErrConfig, cfg.RelayBind)
		}
		cfg.RelayIP = ip
	}
	if cfg.RelayIP.To4() == nil {
		// pion allocates IPv4 relays only ("udp4").
		return nil, fmt.Errorf("%w: RelayIP %s is not IPv4", ErrConfig, cfg.RelayIP)
	}
	if cfg.MaxAllocationsPerUser <= 0 {
		cfg.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if cfg.BandwidthPerUser == 0 {
		cfg.BandwidthPerUser = DefaultBandwidthPerUser
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		auth:   newAuthenticator(cfg.Realm, cfg.Secrets, time.Now),
		peers:  newPeerFilter(cfg.AllowPeers, cfg.AllowPeersFunc),
		users:  newUsers(cfg.MaxAllocationsPerUser, cfg.BandwidthPerUser, time.Now),
		closed: make(chan struct{}),
	}
	s.relay = &relays{
		bind: cfg.RelayBind, announce: cfg.RelayIP,
		min: int(cfg.MinPort), max: int(cfg.MaxPort),
		now: time.Now, log: s.log, dropped: &s.users.dropped,
		byPort: make(map[int]*relayConn),
	}

	var pcs []pturn.PacketConnConfig
	var lcs []pturn.ListenerConfig
	fail := func(err error) (*Server, error) {
		for _, pc := range pcs {
			pc.PacketConn.Close()
		}
		for _, lc := range lcs {
			lc.Listener.Close()
		}
		return nil, err
	}
	if cfg.UDP != "" {
		pc, err := net.ListenPacket("udp", cfg.UDP)
		if err != nil {
			return fail(fmt.Errorf("turn: listen udp %s: %w", cfg.UDP, err))
		}
		setBuffers(pc, listenerBuffer)
		s.udp = &packetConn{PacketConn: pc, s: s}
		pcs = append(pcs, pturn.PacketConnConfig{
			PacketConn: s.udp, RelayAddressGenerator: s.relay, PermissionHandler: s.permit,
		})
	}
	if cfg.TCP != "" {
		l, err := net.Listen("tcp", cfg.TCP)
		if err != nil {
			return fail(fmt.Errorf("turn: listen tcp %s: %w", cfg.TCP, err))
		}
		s.tcp = newListener(l, s)
		lcs = append(lcs, pturn.ListenerConfig{
			Listener: s.tcp, RelayAddressGenerator: s.relay, PermissionHandler: s.permit,
		})
	}
	if cfg.TLS != "" {
		l, err := net.Listen("tcp", cfg.TLS)
		if err != nil {
			return fail(fmt.Errorf("turn: listen tls %s: %w", cfg.TLS, err))
		}
		s.tls = newListener(tls.NewListener(l, cfg.TLSConfig), s)
		lcs = append(lcs, pturn.ListenerConfig{
			Listener: s.tls, RelayAddressGenerator: s.relay, PermissionHandler: s.permit,
		})
	}

	srv, err := pturn.NewServer(pturn.ServerConfig{
		PacketConnConfigs: pcs,
		ListenerConfigs:   lcs,
		LoggerFactory:     pionLogs{s.log},
		Realm:             cfg.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.quota,
		EventHandler: pturn.EventHandler{
			OnAllocationCreated: s.allocated,
			OnAllocationDeleted: s.deallocated,
		},
	})
	if err != nil {
		return fail(fmt.Errorf("turn: start: %w", err))
	}
	s.turn = srv
	udp, tcp, tlsAddr := s.Addrs()
	s.log.Info("turn: listening", "udp", addrString(udp), "tcp", addrString(tcp), "tls", addrString(tlsAddr),
		"relay_ip", cfg.RelayIP.String(), "realm", cfg.Realm)
	return s, nil
}

// Socket buffers. Every relayed packet crosses the listener socket once,
// and pion reads it from a single goroutine, so a burst from many clients
// (a key frame from each) queues there; the kernel's default 208 KiB
// dropped packets in the benchmark where coturn, which asks for 2 MiB on
// its sockets, dropped none. The kernel caps these at net.core.rmem_max
// and wmem_max.
const (
	listenerBuffer = 4 << 20
	relayBuffer    = 1 << 20
)

// setBuffers enlarges a UDP socket's buffers; failure only costs bursts.
func setBuffers(pc net.PacketConn, size int) {
	if u, ok := pc.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(size)
		_ = u.SetWriteBuffer(size)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// authenticate is pion's AuthHandler.
func (s *Server) authenticate(username, realm string, src net.Addr) ([]byte, bool) {
	key, err := s.auth.key(username, realm, src)
	if err != nil {
		s.log.Warn("turn: credential refused", "user", userPart(username), "client", src.String(), "reason", err.Error())
		return nil, false
	}
	return key, true
}

// quota is pion's QuotaHandler: false makes pion answer 486 Allocation
// Quota Reached.
func (s *Server) quota(username, _ string, src net.Addr) bool {
	if s.users.reserve(userPart(username)) {
		return true
	}
	s.log.Warn("turn: allocation quota reached", "user", userPart(username), "client", src.String(),
		"max", s.cfg.MaxAllocationsPerUser)
	return false
}

// permit is pion's PermissionHandler, the second line behind inspect.
func (s *Server) permit(_ net.Addr, peer net.IP) bool {
	return s.peers.allowedIP(peer)
}

func allocKey(protocol string, src, dst net.Addr) string {
	return protocol + " " + src.String() + " " + dst.String()
}

func (s *Server) allocated(src, dst net.Addr, protocol, username, _ string, relay net.Addr, _ int) {
	u := s.users.created(userPart(username), allocKey(protocol, src, dst))
	if ua, ok := relay.(*net.UDPAddr); ok {
		s.relay.attach(ua.Port, u)
	}
	s.log.Info("turn: allocation created", "user", u.name, "client", src.String(), "relay", relay.String())
}

func (s *Server) deallocated(src, dst net.Addr, protocol, username, _ string) {
	s.users.deleted(userPart(username), allocKey(protocol, src, dst))
	s.log.Info("turn: allocation deleted", "user", userPart(username), "client", src.String())
}

// Close stops the listeners, ends every allocation and releases every
// relay port. It is safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		var errs []error
		if err := s.turn.Close(); err != nil {
			errs = append(errs, err)
		}
		// pion ends allocations in goroutines after its read loops stop and
		// leaves accepted TCP connections open; close both here so every
		// port is free when Close returns.
		for _, l := range []*listener{s.tcp, s.tls} {
			if l != nil {
				l.closeConns()
			}
		}
		s.relay.closeAll()
		s.closeErr = errors.Join(errs...)
		s.log.Info("turn: closed")
	})
	return s.closeErr
}

// Allocations returns the number of live allocations (for metrics).
func (s *Server) Allocations() int {
	select {
	case <-s.closed:
		return 0
	default:
	}
	return s.turn.AllocationCount()
}

// Dropped returns how many relayed packets were dropped because their user
// was over BandwidthPerUser (for metrics).
func (s *Server) Dropped() uint64 { return s.users.dropped.Load() }

// Addrs returns the bound listener addresses (nil for a listener that is
// off), useful when the caller asked for port 0.
func (s *Server) Addrs() (udp, tcp, tls net.Addr) {
	if s.udp != nil {
		udp = s.udp.LocalAddr()
	}
	if s.tcp != nil {
		tcp = s.tcp.Addr()
	}
	if s.tls != nil {
		tls = s.tls.Addr()
	}
	return udp, tcp, tls
}

// pionLogs sends pion's logs to slog. pion logs routine events (every
// refused permission, every closed connection) at Info, so everything below
// Warn becomes Debug.
type pionLogs struct{ log *slog.Logger }

func (p pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{p.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l pionLogger) Trace(msg string)                  { l.logf(slog.LevelDebug-4, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(slog.LevelDebug-4, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
