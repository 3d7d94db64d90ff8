package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
)

// cmdDemo starts a one-node cluster with the demo Comune di Bari. Email
// goes to the node's mailbox, shown at /_demo/posta, unless --smtp names a
// server. Restarting on the same --data keeps everything.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	cfg := defaultConfig()
	// One address may book a lot in the demo: a newcomer's load test or
	// the 300-client race of the end-to-end tests come from 127.0.0.1.
	cfg.RateLimit = RateLimitConfig{BookingsPerMinute: 6000, Burst: 1000, MaxClients: 10000, TicketsPerMinute: 6000, TicketsBurst: 1000}
	// A failed send is retried soon: the demo's SMTP server is usually a
	// local tool started a moment later.
	cfg.Outbox.Backoff = 2 * cfg.Outbox.Backoff / 10

	args, cfg.FaultInjection = takeFaultInjectionFlag(args)
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data `dir`; created on first run, kept across restarts")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "HTTP `address`")
	fs.StringVar(&cfg.RaftAddr, "raft", cfg.RaftAddr, "raft transport `address` (port 0: any free port)")
	fs.StringVar(&cfg.BaseDomain, "base-domain", cfg.BaseDomain, "base `domain`; each Comune answers on <id>.<domain>")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "raft node `id`; keep it across restarts")
	smtpAddr := fs.String("smtp", "", "send email through this SMTP server (`host:port`) instead of keeping it in the demo mailbox")
	fs.StringVar(&cfg.SMTP.Security, "smtp-security", "none", "with --smtp: starttls, tls or none")
	fs.StringVar(&cfg.Log.Level, "log-level", cfg.Log.Level, "debug, info, warn or error")
	fs.StringVar(&cfg.Log.Format, "log-format", cfg.Log.Format, "text or json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello demo [flags]\n\nStarts a one-node Sportello with the demo Comune di Bari.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sportello demo: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *smtpAddr != "" {
		host, port, err := net.SplitHostPort(*smtpAddr)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			fmt.Fprintf(stderr, "sportello demo: --smtp %q: want host:port\n", *smtpAddr)
			return exitUsage
		}
		cfg.Mail.Delivery = deliverySMTP
		cfg.SMTP.Host, cfg.SMTP.Port = host, p
	}
	return runNode(cfg, runOptions{demo: true, stdout: stdout}, stderr)
}
