package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// initFile runs init with args (and stdin) and returns its exit code and
// output.
func initRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = runInit(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

// checkConfigOK runs check-config on path as the command line does.
func checkConfigOK(t *testing.T, path string) {
	t.Helper()
	var o, e bytes.Buffer
	if code := cmdCheckConfig([]string{path}, &o, &e); code != exitOK {
		body, _ := os.ReadFile(path)
		t.Fatalf("check-config %s: exit %d\n%s\n--- file:\n%s", path, code, e.String(), body)
	}
}

// TestInitFlags writes a configuration from flags alone: check-config
// accepts it, serve would read the answers back, the file is 0640, and
// a second run neither overwrites it without --force nor refuses with it.
func TestInitFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "etc", "sportello.toml")
	data := filepath.Join(dir, "data")
	pw := filepath.Join(dir, "smtp-password")
	os.WriteFile(pw, []byte("segreto\n"), 0o600)
	args := []string{"--non-interactive", "--out", out, "--data-dir", data,
		"--base-domain", "sportello.provincia.example.it", "--tls", "acme", "--acme-email", "it@provincia.example.it",
		"--smtp-host", "smtp.example.it", "--smtp-port", "465", "--smtp-user", "sportello@example.it",
		"--smtp-password-file", pw, "--smtp-from", "Sportello <noreply@provincia.example.it>",
		"--comune-id", "lecce", "--comune-name", "Comune di Lecce", "--istat", "075035"}
	code, stdout, stderr := initRun(t, "", args...)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	checkConfigOK(t, out)
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("config file: %v, mode %v; want 0640", err, st.Mode().Perm())
	}
	cfg, err := loadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != data || cfg.BaseDomain != "sportello.provincia.example.it" || cfg.TLS.Mode != "acme" ||
		cfg.TLS.Email != "it@provincia.example.it" || cfg.Mail.Delivery != deliverySMTP || cfg.SMTP.Host != "smtp.example.it" ||
		cfg.SMTP.Port != 465 || cfg.SMTP.Security != "tls" || cfg.SMTP.Username != "sportello@example.it" ||
		cfg.SMTP.PasswordFile != pw || cfg.Mail.DefaultFrom != "Sportello <noreply@provincia.example.it>" {
		t.Errorf("config read back: %+v", cfg)
	}
	// The first Comune cannot live in the file: init prints the command.
	for _, want := range []string{
		"sportello tenant create --data " + data + " --id lecce --name 'Comune di Lecce' --istat 075035",
		"https://lecce.sportello.provincia.example.it/",
		"sportello admin create --data " + data,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("init output lacks %q:\n%s", want, stdout)
		}
	}
	body, _ := os.ReadFile(out)
	if !strings.Contains(string(body), "# ") {
		t.Errorf("the file has no comments:\n%s", body)
	}

	// Again: refused without --force, and the file is untouched.
	os.WriteFile(out, []byte("# mine\n"), 0o640)
	code, _, stderr = initRun(t, "", args...)
	if code != exitConflict || !strings.Contains(stderr, "exists (use --force to replace it)") {
		t.Errorf("init over an existing file: exit %d, %q; want %d", code, stderr, exitConflict)
	}
	if b, _ := os.ReadFile(out); string(b) != "# mine\n" {
		t.Errorf("init without --force changed the file: %q", b)
	}
	if code, _, stderr = initRun(t, "", append(args, "--force")...); code != exitOK {
		t.Fatalf("init --force: exit %d, %s", code, stderr)
	}
	checkConfigOK(t, out)
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("init left files beside the configuration: %v", entries)
	}
}

// TestInitFlagModes covers the other TLS modes and no SMTP server.
func TestInitFlagModes(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, []byte("x"), 0o600)
	os.WriteFile(key, []byte("x"), 0o600)
	for _, c := range []struct {
		name string
		args []string
		want string // in the file
	}{
		{"files", []string{"--tls", "files", "--tls-cert-file", cert, "--tls-key-file", key}, `cert_file = "` + cert + `"`},
		{"internal", []string{"--tls", "internal"}, `mode = "internal"`},
		{"off", []string{"--tls", "off"}, `mode = "off"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "sportello.toml")
			args := append([]string{"--non-interactive", "--out", out, "--data-dir", filepath.Join(dir, c.name),
				"--base-domain", "sportello.example.it"}, c.args...)
			code, stdout, stderr := initRun(t, "", args...)
			if code != exitOK {
				t.Fatalf("init: exit %d\n%s", code, stderr)
			}
			checkConfigOK(t, out)
			body, _ := os.ReadFile(out)
			if !strings.Contains(string(body), c.want) || !strings.Contains(string(body), `delivery = "mailbox"`) {
				t.Errorf("file lacks %q or the mailbox delivery:\n%s", c.want, body)
			}
			if !strings.Contains(stdout, "--id ID") {
				t.Errorf("without a first Comune, the output should show how to create one:\n%s", stdout)
			}
		})
	}
}

// TestInitRefusesBadFlags: with --non-interactive every wrong or missing
// answer is refused with its reason, and nothing is written.
func TestInitRefusesBadFlags(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sportello.toml")
	code, _, stderr := initRun(t, "", "--non-interactive", "--out", out,
		"--base-domain", "not a domain", "--tls", "ssl", "--data-dir", "relative/dir", "--node-id", "node 1",
		"--smtp-host", "smtp.example.it", "--smtp-port", "99999", "--smtp-from", "not an address",
		"--comune-id", "Lecce!", "--comune-name", "Comune di Lecce", "--istat", "75035")
	if code != exitUsage {
		t.Fatalf("init with bad flags: exit %d, want %d\n%s", code, exitUsage, stderr)
	}
	for _, want := range []string{
		`--base-domain: base_domain "not a domain": want a host name such as sportello.example.it`,
		`--tls: tls.mode "ssl": want acme, files, internal or off`,
		`--data-dir: want an absolute path`,
		`--node-id: node_id "node 1": want 1-64 letters, digits, '.', '_' or '-'`,
		`--smtp-port: smtp.port "99999": want a port number, 1 to 65535`,
		`--smtp-from: mail.default_from "not an address"`,
		`--comune-id: comune id "Lecce!": want 2 to 40 lowercase letters`,
		`--istat: istat "75035": want the six digits`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused init wrote %s: %v", out, err)
	}
	// A missing base domain is refused too: it has no default.
	code, _, stderr = initRun(t, "", "--non-interactive", "--out", out)
	if code != exitUsage || !strings.Contains(stderr, "--base-domain: required") {
		t.Errorf("init without --base-domain: exit %d, %q", code, stderr)
	}
	// A certificate file that does not exist, as check-config says.
	code, _, stderr = initRun(t, "", "--non-interactive", "--out", out, "--base-domain", "sportello.example.it",
		"--tls", "files", "--tls-cert-file", "/nonexistent/c.pem", "--tls-key-file", "/nonexistent/k.pem")
	if code != exitUsage || !strings.Contains(stderr, "tls.cert_file /nonexistent/c.pem: no such file") {
		t.Errorf("init with a missing certificate: exit %d, %q", code, stderr)
	}
}

// TestInitInteractive answers through a pipe: wrong answers are
// refused with their reason and asked again, Enter takes the default,
// and a flag answers its question without asking.
func TestInitInteractive(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "sportello.toml")
	data := filepath.Join(dir, "data")
	answers := strings.Join([]string{
		"relative",            // data dir: refused
		data,                  // data dir
		"",                    // node id: node1
		"",                    // base domain: required, refused
		"http://bari.example", // refused
		"sportello.example.it",
		"ssl", // tls: refused
		"",    // acme
		"it@", // acme email: refused
		"it@example.it",
		"smtp.example.it", // smtp host
		"25x",             // port: refused
		"",                // 587
		"",                // starttls
		"",                // no user
		"",                // sender: default from the base domain
		"bari",            // comune id
		"",                // name: Comune di Bari
		"72006",           // istat: refused
		"072006",
	}, "\n") + "\n"
	code, stdout, stderr := initRun(t, answers, "--out", out, "--node-id", "n1")
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"Data folder of the node [/var/lib/sportello]: ",
		"not accepted: want an absolute path",
		"not accepted: required: the domain the Comuni live under",
		`not accepted: base_domain "http://bari.example": want a host name`,
		`not accepted: tls.mode "ssl": want acme, files, internal or off`,
		`not accepted: tls.email "it@": want an email address`,
		`not accepted: smtp.port "25x"`,
		"Sender of the Comuni without their own [Sportello <noreply@sportello.example.it>]: ",
		"First Comune: its official name [Comune di Bari]: ",
		`not accepted: istat "72006"`,
		"--id bari --name 'Comune di Bari' --istat 072006",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "Node ID") {
		t.Errorf("init asked the node ID given as a flag:\n%s", stdout)
	}
	checkConfigOK(t, out)
	cfg, err := loadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != "n1" || cfg.SMTP.Port != 587 || cfg.SMTP.Security != "starttls" || cfg.TLS.Email != "it@example.it" ||
		cfg.Mail.DefaultFrom != "Sportello <noreply@sportello.example.it>" {
		t.Errorf("config read back: node %q port %d security %q email %q from %q", cfg.NodeID, cfg.SMTP.Port,
			cfg.SMTP.Security, cfg.TLS.Email, cfg.Mail.DefaultFrom)
	}

	// Input that ends early writes nothing.
	out2 := filepath.Join(dir, "other.toml")
	code, _, stderr = initRun(t, data+"\n", "--out", out2)
	if code != exitUsage || !strings.Contains(stderr, "input ended") {
		t.Errorf("init with short input: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("init with short input wrote %s", out2)
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:            `"plain"`,
		`Comune "di" Bari`: `"Comune \"di\" Bari"`,
		`C:\dir`:           `"C:\\dir"`,
		"a\nb":             `"a\u000Ab"`,
		"Città":            `"Città"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestE2EInit runs the real binary: init with flags, then check-config
// and serve --check on the file it wrote.
func TestE2EInit(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "sportello.toml")
	stdout, stderr, code := runCLI(t, "init", "--non-interactive", "--out", out, "--data-dir", filepath.Join(dir, "data"),
		"--base-domain", "sportello.example.it", "--tls", "internal", "--comune-id", "lecce", "--comune-name", "Comune di Lecce", "--istat", "075035")
	if code != exitOK {
		if strings.Contains(stderr, `unknown command "init"`) {
			// main.go dispatches init once the lead adds its case.
			t.Skip("init is not dispatched by main.go yet")
		}
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "sportello tenant create --data "+filepath.Join(dir, "data")+" --id lecce") {
		t.Errorf("init output:\n%s", stdout)
	}
	if _, stderr, code := runCLI(t, "check-config", out); code != exitOK {
		t.Errorf("check-config on init's file: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "serve", "--config", out, "--check"); code != exitOK {
		t.Errorf("serve --check on init's file: exit %d\n%s", code, stderr)
	}
	_, stderr, code = runCLI(t, "init", "--non-interactive", "--out", out, "--base-domain", "x")
	if code != exitConflict {
		t.Errorf("init over the file: exit %d (%s), want %d", code, stderr, exitConflict)
	}
}
