package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// cmdCheckConfig runs `sportello check-config FILE`: it reads the file as
// `serve` would, validates every section, and checks that the files the
// configuration names can be read, so that an unattended install finds
// every mistake at once, each on its own line, before the service starts.
func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration `file` (or give it as the argument)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sportello check-config FILE

Checks a configuration without starting anything: unknown keys, values out
of range, sections that contradict each other, and files it names that
cannot be read. Exit 0 when it is valid, 2 with one line per problem.

`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if *path == "" && len(pos) == 1 {
		*path = pos[0]
	} else if *path == "" || len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := loadConfig(*path)
	problems := configProblems(err)
	if err == nil {
		problems = append(problems, cfg.unreadableFiles()...)
		problems = append(problems, cfg.Backup.problems()...)
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "  - %s\n", p)
		}
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
	return exitOK
}

// configProblems splits loadConfig's error into its problems, one each.
func configProblems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				if x != errConfig {
					walk(x)
				}
			}
		case interface{ Unwrap() error }:
			// "file: …" around the joined problems: look inside, unless
			// this is a single problem with its own words.
			if inner := u.Unwrap(); inner != nil && inner != errConfig {
				if _, ok := inner.(interface{ Unwrap() []error }); ok {
					walk(inner)
					return
				}
				if _, ok := inner.(interface{ Unwrap() error }); ok {
					walk(inner)
					return
				}
			}
			out = append(out, e.Error())
		default:
			out = append(out, e.Error())
		}
	}
	walk(err)
	if len(out) == 0 {
		out = []string{err.Error()}
	}
	return out
}

// unreadableFiles lists the files the configuration names that this
// process cannot read (the service may run as another user: run the
// check as that user).
func (c Config) unreadableFiles() []string {
	files := []struct{ key, path string }{
		{"smtp.password_file", c.SMTP.PasswordFile},
		{"smtp.ca_file", c.SMTP.CAFile},
		{"push.ca_file", c.Push.CAFile},
		{"tls.cert_file", c.TLS.CertFile},
		{"tls.key_file", c.TLS.KeyFile},
		{"tls.ca_roots_file", c.TLS.CARootsFile},
		{"tls.dns.tsig_key_file", c.TLS.DNS.TSIGKeyFile},
		{"media.turn.tls_cert_file", c.Media.TURN.TLSCertFile},
		{"media.turn.tls_key_file", c.Media.TURN.TLSKeyFile},
	}
	var out []string
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				out = append(out, fmt.Sprintf("%s %s: no such file", f.key, f.path))
			} else {
				out = append(out, fmt.Sprintf("%s %s: %v", f.key, f.path, err))
			}
			continue
		}
		fh.Close()
	}
	return out
}
