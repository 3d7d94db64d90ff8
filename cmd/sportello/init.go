package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/tenant"
)

// cmdInit runs `sportello init`: it asks the questions a first
// installation needs (or takes them as flags), checks every answer with
// the same rules check-config applies, and writes a commented
// configuration file that `sportello serve` accepts as it is. It never
// overwrites a file without --force. The configuration cannot carry
// Comuni (they live in the replicated state), so init prints the
// commands that create the first Comune and the first administrator once
// the node runs.
func cmdInit(args []string, stdout, stderr io.Writer) int {
	return runInit(args, os.Stdin, stdout, stderr)
}

// initAnswers are the answers of init, as flags or typed in.
type initAnswers struct {
	DataDir, NodeID, BaseDomain                                  string
	TLSMode, ACMEEmail, TLSCertFile, TLSKeyFile                  string
	SMTPHost, SMTPPort, SMTPSecurity, SMTPUser, SMTPPasswordFile string
	SMTPFrom                                                     string
	ComuneID, ComuneName, ISTAT                                  string
}

// initQuestion is one question of init: its flag, its prompt, its
// default, when it is asked, and how its answer is checked. check
// returns the reason an answer is refused, "" when it is accepted.
type initQuestion struct {
	flag   string
	prompt string
	// def returns the default shown in brackets ("" for none: the
	// answer may be empty only when check accepts it).
	def   func(a *initAnswers) string
	field func(a *initAnswers) *string
	// when says whether the question applies given the answers so far.
	when  func(a *initAnswers) bool
	check func(a *initAnswers, v string) string
}

// initQuestions are asked in this order: later questions depend on
// earlier answers (the SMTP port only when there is a server, the
// certificate files only in mode files).
func initQuestions() []initQuestion {
	always := func(*initAnswers) bool { return true }
	none := func(*initAnswers) string { return "" }
	fixed := func(s string) func(*initAnswers) string { return func(*initAnswers) string { return s } }
	withSMTP := func(a *initAnswers) bool { return a.SMTPHost != "" }
	withComune := func(a *initAnswers) bool { return a.ComuneID != "" }
	return []initQuestion{
		{flag: "data-dir", prompt: "Data folder of the node", def: fixed("/var/lib/sportello"),
			field: func(a *initAnswers) *string { return &a.DataDir }, when: always,
			check: func(a *initAnswers, v string) string {
				if !filepath.IsAbs(v) {
					return "want an absolute path, such as /var/lib/sportello"
				}
				return configCheck(func(c *Config) { c.DataDir = v }, "data_dir")
			}},
		{flag: "node-id", prompt: "Node ID (never changed once the node has started)", def: fixed("node1"),
			field: func(a *initAnswers) *string { return &a.NodeID }, when: always,
			check: func(a *initAnswers, v string) string {
				return configCheck(func(c *Config) { c.NodeID = v }, "node_id")
			}},
		{flag: "base-domain", prompt: "Base domain (each Comune answers on <id>.<base domain>)", def: none,
			field: func(a *initAnswers) *string { return &a.BaseDomain }, when: always,
			check: func(a *initAnswers, v string) string {
				if v == "" {
					return "required: the domain the Comuni live under, such as sportello.provincia.example.it"
				}
				if p := configCheck(func(c *Config) { c.BaseDomain = v }, "base_domain"); p != "" {
					return p
				}
				if !tenant.ValidDomain(v) || !strings.Contains(v, ".") {
					return fmt.Sprintf("base_domain %q: want a host name such as sportello.example.it", v)
				}
				return ""
			}},
		{flag: "tls", prompt: "TLS mode: acme (Let's Encrypt or your ACME CA), files, internal, off (a proxy in front)", def: fixed("acme"),
			field: func(a *initAnswers) *string { return &a.TLSMode }, when: always,
			check: func(a *initAnswers, v string) string {
				switch v {
				case "acme", "files", "internal", "off":
					return ""
				}
				return fmt.Sprintf("tls.mode %q: want acme, files, internal or off", v)
			}},
		{flag: "acme-email", prompt: "Contact email of the ACME account (expiry warnings; empty for none)", def: none,
			field: func(a *initAnswers) *string { return &a.ACMEEmail }, when: func(a *initAnswers) bool { return a.TLSMode == "acme" },
			check: func(a *initAnswers, v string) string {
				if v != "" && !tenant.ValidEmail(v) {
					return fmt.Sprintf("tls.email %q: want an email address such as it@comune.example.it", v)
				}
				return ""
			}},
		{flag: "tls-cert-file", prompt: "Certificate chain file (PEM)", def: none,
			field: func(a *initAnswers) *string { return &a.TLSCertFile }, when: func(a *initAnswers) bool { return a.TLSMode == "files" },
			check: func(a *initAnswers, v string) string { return readableFile("tls.cert_file", v) }},
		{flag: "tls-key-file", prompt: "Private key file (PEM)", def: none,
			field: func(a *initAnswers) *string { return &a.TLSKeyFile }, when: func(a *initAnswers) bool { return a.TLSMode == "files" },
			check: func(a *initAnswers, v string) string { return readableFile("tls.key_file", v) }},
		{flag: "smtp-host", prompt: "SMTP server (empty: keep emails on the node and send nothing)", def: none,
			field: func(a *initAnswers) *string { return &a.SMTPHost }, when: always,
			check: func(a *initAnswers, v string) string {
				if v != "" && v != "localhost" && net.ParseIP(v) == nil && !tenant.ValidDomain(strings.ToLower(v)) {
					return fmt.Sprintf("smtp.host %q: want a host name or an IP address, without the port", v)
				}
				return ""
			}},
		{flag: "smtp-port", prompt: "SMTP port (587 STARTTLS, 465 TLS)", def: fixed("587"),
			field: func(a *initAnswers) *string { return &a.SMTPPort }, when: withSMTP,
			check: func(a *initAnswers, v string) string {
				p, err := strconv.Atoi(v)
				if err != nil || p < 1 || p > 65535 {
					return fmt.Sprintf("smtp.port %q: want a port number, 1 to 65535", v)
				}
				return ""
			}},
		{flag: "smtp-security", prompt: "SMTP security: starttls, tls, none (only a relay on this host)",
			def: func(a *initAnswers) string {
				if a.SMTPPort == "465" {
					return "tls"
				}
				return "starttls"
			},
			field: func(a *initAnswers) *string { return &a.SMTPSecurity }, when: withSMTP,
			check: func(a *initAnswers, v string) string {
				switch v {
				case "starttls", "tls", "none":
					return ""
				}
				return fmt.Sprintf("smtp.security %q: want starttls, tls or none", v)
			}},
		{flag: "smtp-user", prompt: "SMTP user name (empty: no AUTH)", def: none,
			field: func(a *initAnswers) *string { return &a.SMTPUser }, when: withSMTP,
			check: func(a *initAnswers, v string) string {
				if strings.ContainsAny(v, " \t") {
					return fmt.Sprintf("smtp.username %q: no spaces", v)
				}
				return ""
			}},
		{flag: "smtp-password-file", prompt: "File holding the SMTP password (one line, mode 0600)",
			def:   func(a *initAnswers) string { return "/etc/sportello/smtp-password" },
			field: func(a *initAnswers) *string { return &a.SMTPPasswordFile }, when: func(a *initAnswers) bool { return a.SMTPUser != "" },
			check: func(a *initAnswers, v string) string {
				if !filepath.IsAbs(v) {
					return fmt.Sprintf("smtp.password_file %q: want an absolute path", v)
				}
				return ""
			}},
		{flag: "smtp-from", prompt: "Sender of the Comuni without their own",
			def: func(a *initAnswers) string {
				if a.BaseDomain == "" {
					return ""
				}
				return "Sportello <noreply@" + a.BaseDomain + ">"
			},
			field: func(a *initAnswers) *string { return &a.SMTPFrom }, when: always,
			check: func(a *initAnswers, v string) string {
				if v == "" {
					return ""
				}
				return configCheck(func(c *Config) { c.Mail.DefaultFrom = v }, "mail.default_from")
			}},
		{flag: "comune-id", prompt: "First Comune: its ID, used in its address (lecce → lecce.<base domain>; empty to add Comuni later)", def: none,
			field: func(a *initAnswers) *string { return &a.ComuneID }, when: always,
			check: func(a *initAnswers, v string) string {
				if v != "" && !tenant.ValidID(v) {
					return fmt.Sprintf("comune id %q: want 2 to 40 lowercase letters, digits and hyphens, starting with a letter", v)
				}
				return ""
			}},
		{flag: "comune-name", prompt: "First Comune: its official name",
			def: func(a *initAnswers) string {
				if a.ComuneID == "" {
					return ""
				}
				// "san-severo" → "Comune di San Severo": a guess to confirm.
				words := strings.Split(a.ComuneID, "-")
				for i, w := range words {
					if w != "" {
						words[i] = strings.ToUpper(w[:1]) + w[1:]
					}
				}
				return "Comune di " + strings.Join(words, " ")
			},
			field: func(a *initAnswers) *string { return &a.ComuneName }, when: withComune,
			check: func(a *initAnswers, v string) string {
				if n := utf8.RuneCountInString(v); n == 0 || n > 100 {
					return "comune name: want 1 to 100 characters, such as Comune di Lecce"
				}
				return ""
			}},
		{flag: "istat", prompt: "First Comune: its six-digit ISTAT code", def: none,
			field: func(a *initAnswers) *string { return &a.ISTAT }, when: withComune,
			check: func(a *initAnswers, v string) string {
				if !istatCode.MatchString(v) {
					return fmt.Sprintf("istat %q: want the six digits of the Comune's ISTAT code, such as 075035", v)
				}
				return ""
			}},
	}
}

// istatCode is the form tenant create accepts.
var istatCode = regexp.MustCompile(`^[0-9]{6}$`)

// configCheck applies set to the default configuration and returns the
// problems Config.Validate reports about key, joined: the same words
// check-config would print for that key.
func configCheck(set func(*Config), key string) string {
	c := defaultConfig()
	set(&c)
	var out []string
	for _, p := range configProblems(c.Validate()) {
		if strings.HasPrefix(p, key) || strings.HasPrefix(p, strings.SplitN(key, ".", 2)[0]+":") {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// readableFile refuses a path this process cannot read, as check-config
// does for the files a configuration names.
func readableFile(key, path string) string {
	if path == "" {
		return key + ": required"
	}
	if !filepath.IsAbs(path) {
		return fmt.Sprintf("%s %s: want an absolute path", key, path)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("%s %s: no such file", key, path)
		}
		return fmt.Sprintf("%s %s: %v", key, path, err)
	}
	f.Close()
	return ""
}

// runInit is cmdInit with its input given, for the tests.
func runInit(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "/etc/sportello/sportello.toml", "configuration `file` to write")
	force := fs.Bool("force", false, "replace the file if it exists")
	nonInteractive := fs.Bool("non-interactive", false, "ask nothing: take every answer from the flags and the defaults")
	qs := initQuestions()
	var a initAnswers
	for _, q := range qs {
		fs.StringVar(q.field(&a), q.flag, "", q.prompt)
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sportello init [flags]

Writes the configuration of a new node. It asks each question on the
terminal, with the default in brackets (Enter takes it), unless the answer
is given as a flag; with --non-interactive it asks nothing and refuses
answers that are missing or wrong, saying why. Every answer is checked as
"sportello check-config" checks the file. The file is written with mode
0640 and never replaces an existing one without --force.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sportello init: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if _, err := os.Lstat(*out); err == nil && !*force {
		fmt.Fprintf(stderr, "sportello init: %s exists (use --force to replace it)\n", *out)
		return exitConflict
	}

	if *nonInteractive {
		var problems []string
		for _, q := range qs {
			if !q.when(&a) {
				*q.field(&a) = ""
				continue
			}
			p := q.field(&a)
			if !given[q.flag] {
				*p = q.def(&a)
			}
			*p = strings.TrimSpace(*p)
			if why := q.check(&a, *p); why != "" {
				problems = append(problems, fmt.Sprintf("--%s: %s", q.flag, why))
			}
		}
		if len(problems) > 0 {
			fmt.Fprintf(stderr, "sportello init: %d problem(s):\n", len(problems))
			for _, p := range problems {
				fmt.Fprintf(stderr, "  - %s\n", p)
			}
			return exitUsage
		}
	} else {
		in := bufio.NewReader(stdin)
		fmt.Fprintln(stdout, "Sportello: the configuration of a new node. Enter takes the answer in brackets.")
		for _, q := range qs {
			if !q.when(&a) {
				*q.field(&a) = ""
				continue
			}
			p := q.field(&a)
			if given[q.flag] {
				*p = strings.TrimSpace(*p)
				if why := q.check(&a, *p); why == "" {
					continue
				} else {
					fmt.Fprintf(stdout, "--%s: %s\n", q.flag, why)
				}
			}
			for {
				def := q.def(&a)
				fmt.Fprintf(stdout, "%s [%s]: ", q.prompt, def)
				line, err := in.ReadString('\n')
				if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
					fmt.Fprintln(stdout)
					fmt.Fprintf(stderr, "sportello init: input ended before every question was answered; nothing written\n")
					return exitUsage
				}
				v := strings.TrimSpace(line)
				if v == "" {
					v = def
				}
				if why := q.check(&a, v); why != "" {
					fmt.Fprintf(stdout, "  not accepted: %s\n", why)
					continue
				}
				*p = v
				break
			}
		}
	}

	cfg, body := a.config(time.Now(), *out)
	// The whole file is checked once more, as serve will read it.
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "sportello init: the answers do not make a valid configuration:\n")
		for _, p := range configProblems(err) {
			fmt.Fprintf(stderr, "  - %s\n", p)
		}
		return exitUsage
	}
	if err := writeConfigFile(*out, body, *force); err != nil {
		fmt.Fprintf(stderr, "sportello init: %v\n", err)
		if errors.Is(err, os.ErrExist) {
			return exitConflict
		}
		return exitFailure
	}
	a.printNextSteps(stdout, *out)
	return exitOK
}

// config returns the configuration of the answers and its file: the
// values init chose, with a comment for each.
func (a initAnswers) config(now time.Time, path string) (Config, string) {
	cfg := defaultConfig()
	cfg.DataDir, cfg.NodeID, cfg.BaseDomain = a.DataDir, a.NodeID, a.BaseDomain
	cfg.RaftAddr = "127.0.0.1:7000"
	cfg.Log.Format = "json"
	cfg.TLS.Mode, cfg.TLS.Email, cfg.TLS.CertFile, cfg.TLS.KeyFile = a.TLSMode, a.ACMEEmail, a.TLSCertFile, a.TLSKeyFile
	cfg.Metrics.Listen = "127.0.0.1:9100"
	cfg.Mail.DefaultFrom = a.SMTPFrom
	if a.SMTPHost != "" {
		cfg.Mail.Delivery = deliverySMTP
		cfg.SMTP.Host = a.SMTPHost
		cfg.SMTP.Port, _ = strconv.Atoi(a.SMTPPort)
		cfg.SMTP.Security = a.SMTPSecurity
		cfg.SMTP.Username = a.SMTPUser
		cfg.SMTP.PasswordFile = a.SMTPPasswordFile
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Sportello node configuration, written by `sportello init` on %s.\n", now.Format(time.DateOnly))
	w("#\n# Every option, with its default, is described in the package's sample (the\n")
	w("# /etc/sportello/sportello.toml the package installs; packaging/sportello.toml\n")
	w("# in the sources). A key Sportello does not know is an error. Check this with\n")
	w("#   sportello check-config %s\n\n", path)
	w("# The node's state: raft log, SQLite database, the cluster's keys.\n")
	w("data_dir = %s\n", tomlString(cfg.DataDir))
	w("# The node's raft ID: never change it once the node has started.\n")
	w("node_id = %s\n", tomlString(cfg.NodeID))
	if cfg.TLS.on() {
		w("# Plain HTTP for local checks; the Comuni are served on [tls] https_addr.\n")
	} else {
		w("# Plain HTTP: put a TLS-terminating proxy in front and set\n# http.trust_proxy_headers = true.\n")
	}
	w("listen = %s\n", tomlString(cfg.Listen))
	w("# Raft between the nodes: a one-node cluster needs the loopback only; for\n")
	w("# three nodes, an address the others reach (see docs/install.md).\n")
	w("raft_addr = %s\n", tomlString(cfg.RaftAddr))
	w("# Each Comune answers on <id>.%s; DNS: a wildcard record *.%s.\n", cfg.BaseDomain, cfg.BaseDomain)
	w("base_domain = %s\n\n", tomlString(cfg.BaseDomain))

	w("[log]\nlevel = \"info\"\n# json for journald and log shippers.\nformat = \"json\"\n\n")

	w("[tls]\n")
	switch cfg.TLS.Mode {
	case "acme":
		w("# Certificates from Let's Encrypt (set directory_url for another ACME CA);\n")
		w("# setting acme accepts the CA's terms of service. Ports 443 and 80 must be\n# reachable from the Internet.\n")
	case "files":
		w("# One certificate for every name (re-read when the files change).\n")
	case "internal":
		w("# The cluster's own CA, for closed networks: `sportello tls export-root`\n# prints the root the browsers must trust.\n")
	case "off":
		w("# No TLS here: a proxy in front terminates it.\n")
	}
	w("mode = %s\n", tomlString(cfg.TLS.Mode))
	if cfg.TLS.Mode == "acme" {
		w("email = %s\n", tomlString(cfg.TLS.Email))
	}
	if cfg.TLS.Mode == "files" {
		w("cert_file = %s\nkey_file = %s\n", tomlString(cfg.TLS.CertFile), tomlString(cfg.TLS.KeyFile))
	}
	w("\n[mail]\n")
	if cfg.Mail.Delivery == deliverySMTP {
		w("delivery = \"smtp\"\n")
	} else {
		w("# No SMTP server given: emails are kept in <data_dir>/mailbox and NOT sent.\n")
		w("# Set delivery = \"smtp\" and fill [smtp] before citizens book.\n")
		w("delivery = \"mailbox\"\n")
	}
	if cfg.Mail.DefaultFrom != "" {
		w("# Sender of the Comuni that have none of their own.\n")
		w("default_from = %s\n", tomlString(cfg.Mail.DefaultFrom))
	}
	if cfg.Mail.Delivery == deliverySMTP {
		w("\n[smtp]\nhost = %s\nport = %d\n", tomlString(cfg.SMTP.Host), cfg.SMTP.Port)
		w("# starttls (587), tls (465), or none (a relay on this host only).\n")
		w("security = %s\n", tomlString(cfg.SMTP.Security))
		if cfg.SMTP.Username != "" {
			w("username = %s\n", tomlString(cfg.SMTP.Username))
			w("# The password, one line, readable by the sportello user only.\n")
			w("password_file = %s\n", tomlString(cfg.SMTP.PasswordFile))
		}
	}
	w("\n# Prometheus metrics and /readyz for the monitoring, no TLS and no login:\n")
	w("# keep it on the loopback or a management network.\n")
	w("[metrics]\nlisten = %s\n", tomlString(cfg.Metrics.Listen))
	if configHasSection("backup") {
		bdir := filepath.Join(cfg.DataDir, "backups")
		w("\n# Backups the node writes by itself, every 24 hours, keeping the newest 7.\n")
		w("# Copy the folder to another machine: a backup on the disk it protects\n")
		w("# does not survive that disk. Restore: see docs/operations.md.\n")
		w("[backup]\ndir = %s\ninterval = \"24h\"\nkeep = %d\n", tomlString(bdir), defaultBackupKeep)
		setBackupDefaults(&cfg, bdir)
	}
	return cfg, b.String()
}

// configHasSection reports whether Config has a table with this TOML
// name. init writes the [backup] section only once Config reads it, so
// that the file it writes is always one serve accepts.
func configHasSection(name string) bool {
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") == name {
			return true
		}
	}
	return false
}

// setBackupDefaults fills cfg's [backup] as init writes it, when Config
// has that section, so that the final Validate sees it.
func setBackupDefaults(cfg *Config, dir string) {
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		if v.Type().Field(i).Tag.Get("toml") == "backup" {
			if b, ok := v.Field(i).Addr().Interface().(*BackupConfig); ok {
				*b = BackupConfig{Dir: dir, Interval: defaultBackupInterval, Keep: defaultBackupKeep}
			}
		}
	}
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeConfigFile writes body to path with mode 0640, through a temporary
// file in the same folder that is fsynced and renamed, so that the file
// is never half written. Without force an existing file is left alone
// (os.ErrExist). When the group sportello exists, the file is given to
// it, as the package's own configuration is, so that the service reads it.
func writeConfigFile(path, body string, force bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%s: %w (use --force to replace it)", path, os.ErrExist)
	}
	f, err := os.CreateTemp(dir, ".sportello-init-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		return err
	}
	if g, err := user.LookupGroup("sportello"); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			// Only root may give a file away; otherwise the file keeps
			// the caller's group and the message below says so.
			_ = f.Chown(-1, gid)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !force {
		// Link fails if the name was taken meanwhile: no overwrite race.
		if err := os.Link(tmp, path); err != nil {
			return err
		}
	} else if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// printNextSteps tells what to do after init: the password file, the
// check, the start, and the first Comune and administrator, which the
// configuration cannot carry.
func (a initAnswers) printNextSteps(w io.Writer, path string) {
	fmt.Fprintf(w, "\nWrote %s (mode 0640).\n\nNext steps:\n", path)
	step := 1
	next := func(format string, args ...any) {
		fmt.Fprintf(w, "%2d. "+format+"\n", append([]any{step}, args...)...)
		step++
	}
	if a.SMTPUser != "" {
		next("Put the SMTP password in its file, readable by the service only:\n      install -m 0600 -o sportello -g sportello /dev/null %s && editor %s", a.SMTPPasswordFile, a.SMTPPasswordFile)
	}
	if a.SMTPHost == "" {
		next("No SMTP server: emails stay in %s/mailbox until you fill [smtp].", a.DataDir)
	}
	next("Check the file (as the service's user, so that it reads what the service reads):\n      sudo -u sportello sportello check-config %s", path)
	next("Start the node:  systemctl enable --now sportello")
	if a.ComuneID != "" {
		next("Create the first Comune (Comuni live in the replicated state, not in this file):\n      sportello tenant create --data %s --id %s --name %s --istat %s",
			a.DataDir, a.ComuneID, shellQuote(a.ComuneName), a.ISTAT)
		next("Its address: https://%s.%s/ (DNS: *.%s must point to this node).", a.ComuneID, a.BaseDomain, a.BaseDomain)
	} else {
		next("Create each Comune once the node runs:\n      sportello tenant create --data %s --id ID --name \"Comune di …\" --istat CODE", a.DataDir)
	}
	next("Create the first administrator (password and authenticator app):\n      sportello admin create --data %s --username it-admin", a.DataDir)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
