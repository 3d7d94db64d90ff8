package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/media/docs"
)

// MediaConfig is the [media] section: the video appointments (issue 6),
// with the node's SFU, its TURN server and the documents exchanged in a
// call. See media/DESIGN.md.
type MediaConfig struct {
	// Enabled serves the call pages and starts the SFU. Off, the links
	// to the calls are hidden and /chiamata/{code}/video answers 404.
	Enabled bool `toml:"enabled"`
	// SFUUDPPort is the one UDP port every call's media use on this node
	// (open it in the firewall); 0 takes an ephemeral port per
	// connection, for tests and a demo on one machine.
	SFUUDPPort int `toml:"sfu_udp_port"`
	// PublicIPs are the addresses the SFU announces instead of its own
	// when the node sits behind 1:1 NAT.
	PublicIPs []string `toml:"public_ips"`
	// Loopback makes the SFU offer its loopback address too: only for a
	// node whose browsers run on the same machine (the end-to-end tests,
	// a demo on a laptop). It also lets TURN relay to 127.0.0.1.
	Loopback bool `toml:"loopback"`

	TURN      TURNConfig      `toml:"turn"`
	Documents DocumentsConfig `toml:"documents"`
}

// TURNConfig is [media.turn]: the node's own TURN server, for browsers
// behind networks that block direct UDP to the SFU.
type TURNConfig struct {
	// UDP, TCP and TLS are the listen addresses; "" leaves that
	// listener off, and all three off leaves TURN off.
	UDP string `toml:"udp"`
	TCP string `toml:"tcp"`
	TLS string `toml:"tls"`
	// TLSCertFile and TLSKeyFile are the PEM certificate and key of the
	// TLS listener.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// RelayIP is the IPv4 address browsers reach the relay at; default
	// the first IPv4 address of media.public_ips.
	RelayIP string `toml:"relay_ip"`
	// MinPort and MaxPort bound the relay ports (both 0: any).
	MinPort int `toml:"min_port"`
	MaxPort int `toml:"max_port"`
	// URLs are the TURN URLs browsers are given. Empty: made from the
	// request's host and the listeners' ports.
	URLs []string `toml:"urls"`
	// MaxAllocationsPerUser and BandwidthPerUser (bytes per second) are
	// the per-participant quotas; 0 takes media/turn's defaults.
	MaxAllocationsPerUser int `toml:"max_allocations_per_user"`
	BandwidthPerUser      int `toml:"bandwidth_per_user"`
}

// DocumentsConfig is [media.documents]: what may be exchanged in a call.
type DocumentsConfig struct {
	// MaxBytes caps one document (default 20 MiB, at most 64 MiB).
	MaxBytes int64 `toml:"max_bytes"`
	// Types are the accepted types, sniffed from the bytes.
	Types []string `toml:"types"`
	// Retention is how long documents are kept after the upload.
	Retention time.Duration `toml:"retention"`
	// Clamd is the ClamAV daemon that scans every document:
	// "unix:/run/clamav/clamd.ctl" or "tcp:host:port"; "" scans nothing.
	// When set and unreachable, uploads are refused (fail closed).
	Clamd string `toml:"clamd"`
}

// defaultMediaConfig is [media] when the file says nothing: calls on,
// ephemeral SFU ports, TURN off (so that processes side by side never
// collide on 3478), the documents' defaults.
func defaultMediaConfig() MediaConfig {
	return MediaConfig{
		Enabled: true,
		Documents: DocumentsConfig{
			MaxBytes:  docs.DefaultMaxBytes,
			Types:     []string{docs.TypePDF, docs.TypeJPEG, docs.TypePNG},
			Retention: docs.DefaultRetention,
		},
	}
}

// maxDocumentBytes is the most a document may be (media/docs refuses a
// commit above it whatever the configuration).
const maxDocumentBytes = 64 << 20

// turnOn reports whether any TURN listener is configured.
func (t TURNConfig) turnOn() bool { return t.UDP != "" || t.TCP != "" || t.TLS != "" }

// relayIP is the relay address: relay_ip, else the first IPv4 public IP.
func (m MediaConfig) relayIP() net.IP {
	if m.TURN.RelayIP != "" {
		return net.ParseIP(m.TURN.RelayIP)
	}
	for _, s := range m.PublicIPs {
		if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
			return ip
		}
	}
	return nil
}

// policy is the documents' policy.
func (d DocumentsConfig) policy() docs.Policy {
	return docs.Policy{MaxBytes: d.MaxBytes, Types: d.Types, Retention: d.Retention}
}

// clamd returns the scanner of Clamd, nil when it is "".
func (d DocumentsConfig) clamd() docs.Scanner {
	network, addr, ok := strings.Cut(d.Clamd, ":")
	if d.Clamd == "" || !ok {
		return nil
	}
	return docs.Clamd{Network: network, Addr: addr}
}

func (m MediaConfig) validate(bad func(string, ...any)) {
	if m.SFUUDPPort < 0 || m.SFUUDPPort > 65535 {
		bad("media.sfu_udp_port %d: want 0 (ephemeral) to 65535", m.SFUUDPPort)
	}
	for _, s := range m.PublicIPs {
		if net.ParseIP(s) == nil {
			bad("media.public_ips %q: want an IP address", s)
		}
	}
	t := m.TURN
	for name, addr := range map[string]string{"media.turn.udp": t.UDP, "media.turn.tcp": t.TCP, "media.turn.tls": t.TLS} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q: want host:port or :port (%v)", name, addr, err)
		}
	}
	if t.TLS != "" && (t.TLSCertFile == "" || t.TLSKeyFile == "") {
		bad("media.turn.tls is set: give media.turn.tls_cert_file and media.turn.tls_key_file")
	}
	if t.RelayIP != "" {
		if ip := net.ParseIP(t.RelayIP); ip == nil || ip.To4() == nil {
			bad("media.turn.relay_ip %q: want an IPv4 address", t.RelayIP)
		}
	} else if t.turnOn() && m.relayIP() == nil {
		bad("media.turn: set relay_ip (or an IPv4 address in media.public_ips): the address browsers reach the relay at")
	}
	if t.MinPort < 0 || t.MaxPort > 65535 || (t.MinPort == 0) != (t.MaxPort == 0) || t.MinPort > t.MaxPort {
		bad("media.turn.min_port %d and max_port %d: want both 0, or 1 ≤ min_port ≤ max_port ≤ 65535", t.MinPort, t.MaxPort)
	}
	for _, u := range t.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			bad("media.turn.urls %q: want turn:host:port, turns:host:port or stun:host:port", u)
		} else if _, err := url.Parse(u); err != nil {
			bad("media.turn.urls %q: %v", u, err)
		}
	}
	if t.MaxAllocationsPerUser < 0 {
		bad("media.turn.max_allocations_per_user must not be negative")
	}
	if t.BandwidthPerUser < 0 {
		bad("media.turn.bandwidth_per_user must not be negative")
	}
	d := m.Documents
	if d.MaxBytes < 1024 || d.MaxBytes > maxDocumentBytes {
		bad("media.documents.max_bytes %d: want 1024 to %d (64 MiB)", d.MaxBytes, maxDocumentBytes)
	}
	known := []string{docs.TypePDF, docs.TypeJPEG, docs.TypePNG}
	if len(d.Types) == 0 {
		bad("media.documents.types is empty: want some of %s", strings.Join(known, ", "))
	}
	for _, typ := range d.Types {
		if !slices.Contains(known, typ) {
			bad("media.documents.types %q: want some of %s", typ, strings.Join(known, ", "))
		}
	}
	if d.Retention < time.Hour {
		bad("media.documents.retention %s: want at least 1h", d.Retention)
	}
	if d.Clamd != "" {
		network, addr, _ := strings.Cut(d.Clamd, ":")
		switch {
		case network == "unix" && strings.HasPrefix(addr, "/"):
		case network == "tcp":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				bad("media.documents.clamd %q: want tcp:host:port (%v)", d.Clamd, err)
			}
		default:
			bad(`media.documents.clamd %q: want "unix:/path/to/clamd.ctl" or "tcp:host:port"`, d.Clamd)
		}
	}
}

// turnURLs are the TURN URLs for a request to host: the configured ones,
// else one per listener on host's name.
func (m MediaConfig) turnURLs(host string) []string {
	if len(m.TURN.URLs) > 0 {
		return m.TURN.URLs
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	port := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	var out []string
	if m.TURN.UDP != "" {
		out = append(out, fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(host, port(m.TURN.UDP))))
	}
	if m.TURN.TCP != "" {
		out = append(out, fmt.Sprintf("turn:%s?transport=tcp", net.JoinHostPort(host, port(m.TURN.TCP))))
	}
	if m.TURN.TLS != "" {
		out = append(out, fmt.Sprintf("turns:%s?transport=tcp", net.JoinHostPort(host, port(m.TURN.TLS))))
	}
	return out
}
