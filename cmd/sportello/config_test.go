package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sportello.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSampleConfigParsesAndValidates(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(filepath.Join("..", "..", "packaging", "sportello.toml"))
	if err != nil {
		t.Fatalf("packaging/sportello.toml: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "/var/lib/sportello"},
		{"node_id", cfg.NodeID, "node1"},
		{"raft_addr", cfg.RaftAddr, "127.0.0.1:7000"},
		{"base_domain", cfg.BaseDomain, "sportello.example.it"},
		{"log.format", cfg.Log.Format, "json"},
		{"http.idle_timeout", cfg.HTTP.IdleTimeout, 2 * time.Minute},
		{"mail.delivery", cfg.Mail.Delivery, "smtp"},
		{"smtp.security", cfg.SMTP.Security, "starttls"},
		{"smtp.password_file", cfg.SMTP.PasswordFile, "/etc/sportello/smtp-password"},
		{"smtp.timeout", cfg.SMTP.Timeout, time.Minute},
		{"outbox.max_backoff", cfg.Outbox.MaxBackoff, time.Hour},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The sample documents every key: a sample that sets them all equals
	// the defaults but for the deployment-specific values.
	def := defaultConfig()
	if cfg.HTTP.ReadHeaderTimeout != def.HTTP.ReadHeaderTimeout || cfg.RateLimit != def.RateLimit || cfg.Outbox != def.Outbox {
		t.Errorf("sample's tuning differs from the defaults: http %v/%v, rate %+v/%+v, outbox %+v/%+v",
			cfg.HTTP.ReadHeaderTimeout, def.HTTP.ReadHeaderTimeout, cfg.RateLimit, def.RateLimit, cfg.Outbox, def.Outbox)
	}
}

func TestConfigDefaultsAndRelativePaths(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `data_dir = "data"
[mail]
delivery = "smtp"
[smtp]
host = "127.0.0.1"
port = 2525
security = "none"
password_file = "secret"
`)
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if cfg.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir = %q, want it relative to the file: %q", cfg.DataDir, filepath.Join(dir, "data"))
	}
	if cfg.SMTP.PasswordFile != filepath.Join(dir, "secret") {
		t.Errorf("password_file = %q, want %q", cfg.SMTP.PasswordFile, filepath.Join(dir, "secret"))
	}
	def := defaultConfig()
	if cfg.Listen != def.Listen || cfg.HTTP != def.HTTP || cfg.Outbox != def.Outbox || cfg.SMTP.DialTimeout != def.SMTP.DialTimeout {
		t.Errorf("unset keys did not keep their defaults: %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"unknown top-level key", `listn = "127.0.0.1:1"`, "unknown keys: listn"},
		{"unknown nested key", "[smtp]\nhots = \"x\"", "unknown keys: smtp.hots"},
		{"unknown section", "[smpt]\nhost = \"x\"", "smpt"},
		{"not toml", "data_dir = ", "sportello.toml"},
		{"wrong type", `listen = 8080`, "listen"},
		{"bad duration", "[http]\nread_timeout = \"soon\"", "read_timeout"},
		{"bad listen", `listen = "8080"`, "listen"},
		{"bad node id", `node_id = "node 1"`, "node_id"},
		{"bad base domain", `base_domain = "http://x.it"`, "base_domain"},
		{"bad log level", "[log]\nlevel = \"loud\"", "log.level"},
		{"bad log format", "[log]\nformat = \"xml\"", "log.format"},
		{"zero timeout", "[http]\nwrite_timeout = \"0s\"", "http.write_timeout"},
		{"small body cap", "[http]\nmax_body_bytes = 10", "max_body_bytes"},
		{"zero rate", "[rate_limit]\nbookings_per_minute = 0", "bookings_per_minute"},
		{"bad delivery", "[mail]\ndelivery = \"pigeon\"", "mail.delivery"},
		{"no parallel delivery", "[outbox]\nparallel = 0", "outbox.parallel"},
		{"bad default from", "[mail]\ndefault_from = \"not an address\"", "default_from"},
		{"smtp without host", "[mail]\ndelivery = \"smtp\"", "host is empty"},
		{"smtp bad security", "[mail]\ndelivery = \"smtp\"\n[smtp]\nhost = \"h\"\nsecurity = \"ssl\"", "security"},
		{"two passwords", "[mail]\ndelivery = \"smtp\"\n[smtp]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\npassword_file = \"f\"", "password_file"},
		{"outbox backoff", "[outbox]\nbackoff = \"2h\"", "max_backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(writeConfig(t, tt.body))
			if err == nil {
				t.Fatalf("loadConfig succeeded, want an error mentioning %q", tt.want)
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("error %v does not match errConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(writeConfig(t, "node_id = \"\"\n[log]\nlevel = \"loud\"\nformat = \"xml\""))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"node_id", "log.level", "log.format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	t.Parallel()
	if err := defaultConfig().Validate(); err != nil {
		t.Errorf("defaultConfig().Validate() = %v, want nil", err)
	}
}
