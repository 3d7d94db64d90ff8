package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestCallConfigMedia checks the [media] section: the defaults (calls on,
// TURN off), the errors of bad settings, each naming its key, and the
// TURN URLs browsers get.
func TestCallConfigMedia(t *testing.T) {
	t.Parallel()
	def := defaultConfig().Media
	if !def.Enabled || def.TURN.turnOn() || def.SFUUDPPort != 0 {
		t.Errorf("default [media] %+v: want calls on, TURN off, ephemeral SFU port", def)
	}
	cfg, err := loadConfig(writeConfig(t, `
[media]
sfu_udp_port = 3479
public_ips = ["203.0.113.10"]
[media.turn]
udp = ":3478"
tcp = ":3478"
tls = ":5349"
tls_cert_file = "turn.crt"
tls_key_file = "/etc/sportello/turn.key"
[media.documents]
max_bytes = 10485760
types = ["application/pdf"]
retention = "240h"
clamd = "unix:/run/clamav/clamd.ctl"
`))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Media
	if ip := m.relayIP(); ip == nil || ip.String() != "203.0.113.10" {
		t.Errorf("relay IP %v, want the public IP", ip)
	}
	if !strings.HasSuffix(m.TURN.TLSCertFile, "/turn.crt") || !strings.HasPrefix(m.TURN.TLSCertFile, "/") {
		t.Errorf("tls_cert_file %q: want it relative to the file's folder", m.TURN.TLSCertFile)
	}
	want := []string{"turn:bari.example.it:3478?transport=udp", "turn:bari.example.it:3478?transport=tcp", "turns:bari.example.it:5349?transport=tcp"}
	if got := m.turnURLs("bari.example.it:8443"); !slices.Equal(got, want) {
		t.Errorf("TURN URLs %q, want %q", got, want)
	}
	if p := m.Documents.policy(); p.MaxBytes != 10<<20 || len(p.Types) != 1 {
		t.Errorf("documents policy %+v", p)
	}
	if m.Documents.clamd() == nil {
		t.Error("clamd set but no scanner")
	}

	for _, c := range []struct{ body, want string }{
		{"[media]\nsfu_udp_port = 70000", "media.sfu_udp_port"},
		{"[media]\npublic_ips = [\"example.it\"]", "media.public_ips"},
		{"[media.turn]\nudp = \":3478\"", "set relay_ip"},
		{"[media.turn]\ntls = \":5349\"\nrelay_ip = \"203.0.113.10\"", "media.turn.tls_cert_file"},
		{"[media.turn]\nrelay_ip = \"2001:db8::1\"", "media.turn.relay_ip"},
		{"[media.turn]\nudp = \"3478\"\nrelay_ip = \"203.0.113.10\"", "media.turn.udp"},
		{"[media.turn]\nmin_port = 50000", "media.turn.min_port"},
		{"[media.turn]\nurls = [\"http://example.it\"]", "media.turn.urls"},
		{"[media.documents]\nmax_bytes = 100000000", "media.documents.max_bytes"},
		{"[media.documents]\ntypes = [\"text/html\"]", "media.documents.types"},
		{"[media.documents]\nretention = \"1m\"", "media.documents.retention"},
		{"[media.documents]\nclamd = \"/run/clamav/clamd.ctl\"", "media.documents.clamd"},
		{"[media.documents]\nclamd = \"tcp:localhost\"", "media.documents.clamd"},
	} {
		_, err := loadConfig(writeConfig(t, c.body))
		if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: error %v, want one naming %s", c.body, err, c.want)
		}
	}
}
